"""The codex CLI (a Responses API client nobody here wrote) through the proxy's
`/v1/responses`, against a scripted chat-completions backend, set up and run exactly as
the README says (its `config.toml` block and its `codex exec` command line are read from
README.md, so the recipe cannot drift from what is tested).

Opt-in: runs when a `codex` binary is on PATH or named by `$CODEX_BIN`
(`npm install @openai/codex@0.169.0`); skipped otherwise. Command-line overrides keep it
on 127.0.0.1 and quick to fail: plugins, analytics, feedback, update checks and retries
are off, and its provider's URL is the proxy's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from langchain_bhumi.proxy.config import single_backend
from tests.proxy.conftest import RunningProxy
from tests.support.server import ScriptedServer
from tests.support.wire import openai_answer

CODEX = os.environ.get("CODEX_BIN") or shutil.which("codex")

pytestmark = pytest.mark.skipif(CODEX is None, reason="codex is not on PATH (set CODEX_BIN)")

README = Path(__file__).parents[2] / "README.md"
README_URL = "http://127.0.0.1:8080/v1"
"""The proxy's URL in the README's recipe, replaced by the test proxy's."""

HERMETIC = {
    "check_for_update_on_startup": "false",
    "analytics.enabled": "false",
    "feedback.enabled": "false",
    "features.plugins": "false",
    "model_providers.bhumi.request_max_retries": "0",
    "model_providers.bhumi.stream_max_retries": "0",
    "model_providers.bhumi.stream_idle_timeout_ms": "60000",
}


def readme_recipe() -> tuple[str, list[str]]:
    """The README's codex `config.toml` and its `codex exec` command line (split)."""
    text = README.read_text()
    config = re.search(r"`~/\.codex/config\.toml`:\s*```toml\n(.*?)```", text, re.S)
    command = re.search(r"^(\S+=\S+ codex exec .*)$", text, re.M)
    assert config and command, "README.md no longer has the codex recipe"
    assert README_URL in config.group(1)
    return config.group(1), shlex.split(command.group(1))


def run_codex(proxy_url: str, workdir: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Run the README's command in `workdir` with the README's config; the prompt and
    what codex did."""
    config, command = readme_recipe()
    home = workdir.parent / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(config.replace(README_URL, f"{proxy_url}/v1"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CODEX_HOME": str(codex_home)}
    while "=" in command[0]:
        name, _, value = command.pop(0).partition("=")
        env[name] = value
    assert command[:2] == ["codex", "exec"], command
    overrides = [arg for key, value in HERMETIC.items() for arg in ("-c", f"{key}={value}")]
    assert CODEX is not None
    argv = [CODEX, "exec", "--json", *overrides, *command[2:]]
    result = subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return command[-1], result


def test_codex_writes_a_file_through_the_proxy(
    tmp_path: Path, backend: ScriptedServer, start_proxy: Callable[..., RunningProxy]
) -> None:
    backend.enqueue(
        openai_answer(calls=(("call_1", "exec_command", {"cmd": "printf hi > hello.txt"}),)),
        openai_answer("Created hello.txt."),
    )
    proxy = start_proxy(single_backend("llamacpp/qwen", base_url=backend.url))
    workdir = tmp_path / "work"
    workdir.mkdir()

    prompt, result = run_codex(proxy.url, workdir)

    assert prompt == "create a file hello.txt containing hi"
    assert result.returncode == 0, result.stderr[-2000:]
    assert (workdir / "hello.txt").read_text() == "hi"
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    messages = [e["item"].get("text") for e in events if e.get("type") == "item.completed"]
    assert "Created hello.txt." in messages
    # The backend got codex's tools as functions, and the command's output paired with its call.
    first, second = (r.json() for r in backend.received)
    assert "exec_command" in {t["function"]["name"] for t in first["tools"]}
    tool_results = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_results] == ["call_1"]
