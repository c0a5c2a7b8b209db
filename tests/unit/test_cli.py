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
