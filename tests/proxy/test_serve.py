"""`langchain-bhumi serve` as an operator runs it: real worker processes on loopback,
their standard error as the log."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.proxy.test_operations import COMPLETION, OPENAI_BODY
from tests.support.server import Scripted, ScriptedServer

pytest.importorskip("uvicorn")

STARTED = re.compile(r"Started server process \[(\d+)\]")


class Served:
    """A `serve` process and the lines of its standard error, read as they come."""

    def __init__(self, *options: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "langchain_bhumi", "serve", "--port", str(port), *options]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, workers: int) -> None:
        deadline = time.monotonic() + 90  # a hang guard: each worker imports for seconds
        while len(self.workers()) < workers:
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, "\n".join(self.lines)
            time.sleep(0.1)

    def workers(self) -> set[str]:
        return {m.group(1) for line in self.lines if (m := STARTED.search(line))}

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self._reader.join(10)
        return "\n".join(self.lines)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    running: list[Served] = []
    yield running
    for process in running:
        process.stop()


def test_workers_serve_one_port_and_log_one_line_per_request(
    backend: ScriptedServer, served: list[Served]
) -> None:
    """`--workers 2`: two worker processes (not the supervising parent) serve the port,
    each with the app its factory built. Each request is one access line; httpx's own
    line per backend request and uvicorn's access log are silenced, and a key a client
    put in the query is not logged."""
    proxy = Served("--model", "llamacpp/qwen", "--base-url", backend.url, "--workers", "2")
    served.append(proxy)
    proxy.wait_for(workers=2)
    backend.responder = lambda request: Scripted.json(COMPLETION)
    with httpx.Client(timeout=20) as client:
        for _ in range(4):
            reply = client.post(proxy.url + "/v1/chat/completions", json=OPENAI_BODY)
            assert reply.status_code == 200
            assert reply.json()["choices"][0]["message"]["content"] == "ok"
        assert client.get(proxy.url + "/v1/models?key=client-query-key-123").status_code == 200
    err = proxy.stop()
    assert len(proxy.workers()) == 2 and str(proxy.process.pid) not in proxy.workers()
    access = [line for line in err.splitlines() if "langchain_bhumi.proxy: rid=" in line]
    calls = [line for line in access if "path=/v1/chat/completions" in line]
    assert len(calls) == 4, err
    assert all("backend=llamacpp" in line and "status=200 " in line for line in calls)
    assert sum("path=/v1/models" in line for line in access) == 1
    assert "HTTP Request:" not in err  # httpx
    assert '"POST /v1/chat/completions' not in err  # uvicorn's access log
    assert "client-query-key-123" not in err
