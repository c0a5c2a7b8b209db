"""The command line as a user and a script see it: output, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from langchain_bhumi.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from tests.support.server import Scripted, ScriptedServer


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@pytest.mark.parametrize("command", [[], ["demo"], ["chat"], ["serve"]])
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: langchain-bhumi" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    assert "demo" in capsys.readouterr().out


def test_the_offline_demo_streams_the_recorded_agent_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No key in the environment: it says it replays, then shows calls, results, answer."""
    assert main(["demo", "--pace", "0"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert "offline: replaying streams recorded from a real llama.cpp server" in err
    assert len(err.strip().splitlines()) == 1
    assert '→ get_weather({"city": "Tokyo"})' in out
    assert "← get_weather: Tokyo: 24 °C" in out
    assert "75.2" in out.splitlines()[-2]
    assert "3 rounds · 2 tool calls" in out.splitlines()[-1]


def test_demo_usage_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--question", "something else"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_chat_one_shot_streams_the_answer(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.enqueue(
        Scripted.sse(chunk({"content": "Bon"}), chunk({"content": "jour"}), chunk({}, "stop"))
    )
    code = main(["chat", "-m", "acme/m", "--base-url", server.url, "-s", "be brief", "hello"])
    assert code == EXIT_OK
    assert capsys.readouterr().out == "Bonjour\n"
    sent = server.received[-1].json()
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_chat_json_prints_structured_output(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"answer": 4}'},
                "finish_reason": "stop",
            }
        ]
    }
    server.enqueue(Scripted.json(body))
    schema = json.dumps(
        {"title": "sum", "type": "object", "properties": {"answer": {"type": "integer"}}}
    )
    assert (
        main(["chat", "-m", "acme/m", "--base-url", server.url, "--json", schema, "2+2?"])
        == EXIT_OK
    )
    assert json.loads(capsys.readouterr().out) == {"answer": 4}
    assert server.received[-1].json()["response_format"]["type"] == "json_schema"


def test_a_failing_provider_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chat", "-m", "acme/m", "--base-url", "http://127.0.0.1:9", "hi"])
    assert code == EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: could not reach acme") and len(err.splitlines()) == 1


def test_a_missing_key_is_a_usage_error_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["chat", "-m", "groq/llama-3.3-70b-versatile", "hi"]) == EXIT_USAGE
    assert "GROQ_API_KEY" in capsys.readouterr().err


def test_ctrl_c_exits_at_once_with_130() -> None:
    """Even while LangGraph's worker thread is mid-stream (a paced replay here)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    process = subprocess.Popen(
        [sys.executable, "-m", "langchain_bhumi", "demo", "--pace", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while "model round 1" not in process.stdout.readline():
        assert time.monotonic() < deadline, "the demo did not start"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)  # a hang guard, not a timing target
    assert process.returncode == EXIT_INTERRUPTED
    assert err.strip().splitlines()[-1] == "interrupted"


# --- serve ------------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `serve` hands to uvicorn (nothing is started)."""
    pytest.importorskip("uvicorn")
    import uvicorn

    from langchain_bhumi.proxy.config import CONFIG_ENV

    monkeypatch.setenv(CONFIG_ENV, "")  # restored after the test
    calls: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        calls.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", run)
    return calls


def test_serve_refuses_a_public_address_without_proxy_keys(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "-m", "llamacpp/m", "--base-url", "http://127.0.0.1:9", "--host", "0.0.0.0"]
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing to serve on 0.0.0.0 without proxy keys")
    assert "--allow-open-proxy" in err and len(err.splitlines()) == 1
    assert served == {}
    assert main([*args, "--allow-open-proxy"]) == EXIT_OK
    assert served["host"] == "0.0.0.0"


def test_serve_on_a_public_address_with_proxy_keys(
    served: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PROXY_KEY", "k" * 20)
    config = tmp_path / "proxy.toml"
    config.write_text(
        '[server]\nhost = "::"\nproxy_keys = ["${TEST_PROXY_KEY}"]\n'
        '[backends.local]\nprovider = "llamacpp"\nbase_url = "http://127.0.0.1:9"\n'
    )
    assert main(["serve", "--config", str(config)]) == EXIT_OK
    assert served["host"] == "::"


def test_serve_runs_uvicorn_workers_with_one_access_line_per_request(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Several workers: uvicorn imports the app factory in each worker process, which
    builds its app from the configuration `serve` left in the environment. Logging:
    uvicorn's access log and httpx's request line are off, ours is on."""
    from langchain_bhumi.proxy.app import create_app_from_environment

    args = ["serve", "-m", "llamacpp/qwen", "--base-url", "http://127.0.0.1:9", "--port", "9123"]
    assert main([*args, "--workers", "3", "--log-level", "debug"]) == EXIT_OK
    assert served["app"] == "langchain_bhumi.proxy.app:create_app_from_environment"
    assert served["factory"] is True and served["workers"] == 3
    assert served["port"] == 9123 and served["access_log"] is False
    loggers = served["log_config"]["loggers"]
    assert loggers["langchain_bhumi"]["level"] == "DEBUG"
    assert loggers["httpx"]["level"] == "WARNING" and loggers["uvicorn.access"]["handlers"] == []
    app = create_app_from_environment()  # what each worker does
    proxy = app.state.proxy
    assert proxy.config.workers == 3 and proxy.config.default_model == "qwen"
    assert "in 3 workers" in capsys.readouterr().err


def test_serve_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["serve", "-m", "llamacpp/m", "--base-url", "http://127.0.0.1:9"]
    assert main([*args, "--workers", "0"]) == EXIT_USAGE
    assert "workers must be a number >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--log-level", "loud"])
