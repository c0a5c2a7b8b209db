"""The codex CLI (a Responses API client nobody here wrote) through the proxy's
`/v1/responses`, against a scripted chat-completions backend.

Opt-in: runs when a `codex` binary is on PATH or named by `$CODEX_BIN`
(`npm install @openai/codex@0.169.0`); skipped otherwise. Its configuration keeps it on
127.0.0.1: plugins, analytics, feedback and update checks are off, and its provider is
the proxy.
"""

from __future__ import annotations

import json
import os
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

CONFIG = """\
model = "local-coder"
model_provider = "bhumi"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false

[model_providers.bhumi]
name = "langchain-bhumi proxy"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "BHUMI_PROXY_KEY"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 60000
"""


def run_codex(proxy_url: str, workdir: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    home = workdir.parent / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(CONFIG.format(url=proxy_url))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "BHUMI_PROXY_KEY": "proxy-key-for-codex",
    }
    assert CODEX is not None
    return subprocess.run(
        [CODEX, "exec", "--skip-git-repo-check", "--json", prompt],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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

    result = run_codex(proxy.url, workdir, "create a file hello.txt containing hi")

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
