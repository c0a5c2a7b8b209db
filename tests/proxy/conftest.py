"""Proxy fixtures: the proxy on loopback (uvicorn in a thread), a scripted backend, and
recorded real backend streams to replay through it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langchain_bhumi.proxy.config import ProxyConfig, single_backend
from langchain_bhumi.replay import load_cassette
from tests.support.cassettes import CASSETTES, LOCAL_MODEL
from tests.support.server import Scripted, ScriptedServer

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

DEMO = CASSETTES / "llamacpp" / "demo"


def recorded_rounds(cassette: Path) -> list[Scripted]:
    """The recorded responses of a cassette, as the backend sent them (SSE split per event)."""
    rounds = []
    for interaction in load_cassette(cassette):
        response = interaction["response"]
        body = response["body"]["string"]
        body = body.encode() if isinstance(body, str) else body
        headers = {k.lower(): v for k, v in response["headers"].items()}
        content_type = headers.get("content-type", ["application/json"])[0]
        if "event-stream" in content_type:
            parts = [p + b"\n\n" for p in body.split(b"\n\n") if p.strip()]
        else:
            parts = [body]
        rounds.append(
            Scripted(status=response["status"]["code"], parts=parts, content_type=content_type)
        )
    return rounds


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Poll `condition` until it holds; a hang guard, not a timing target."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def backend_reached(backend: ScriptedServer, count: int = 1) -> None:
    """Returns once the backend has received `count` requests."""
    await asyncio.to_thread(
        wait_until, lambda: len(backend.received) >= count, "the backend to get the request"
    )


def backend_closed_within(backend: ScriptedServer, left: float, guard: float = 10) -> float:
    """Seconds from `left` (the `time.monotonic()` at which the client went away) until
    the backend saw its one request's connection closed; fails after `guard` seconds (the
    backend would have held its answer much longer)."""
    deadline = left + guard
    while not backend.aborted:
        if time.monotonic() > deadline:
            raise AssertionError("the backend request was not closed")
        time.sleep(0.005)
    closed = time.monotonic() - left
    assert backend.aborted == 1, f"{backend.aborted} backend requests were closed, not 1"
    return closed


class RunningProxy:
    def __init__(self, url: str, server: object, thread: threading.Thread) -> None:
        self.url = url
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        self._server.should_exit = True  # type: ignore[attr-defined]
        self._thread.join(timeout=10)


def run_proxy(config: ProxyConfig) -> RunningProxy:
    """The proxy for `config` on a free loopback port (uvicorn in a thread); call `stop()`."""
    from langchain_bhumi.proxy.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the proxy did not start")
        time.sleep(0.02)
    return RunningProxy(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def start_proxy() -> Iterator[Callable[[ProxyConfig], RunningProxy]]:
    """Start proxies on free loopback ports; all are stopped after the test."""
    running: list[RunningProxy] = []

    def start(config: ProxyConfig) -> RunningProxy:
        proxy = run_proxy(config)
        running.append(proxy)
        return proxy

    yield start
    for proxy in running:
        proxy.stop()


@pytest.fixture
def backend() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def proxy(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> RunningProxy:
    """A proxy whose every model name goes to the scripted backend (an OpenAI-compatible
    llama.cpp server)."""
    return start_proxy(single_backend(f"llamacpp/{LOCAL_MODEL}", base_url=backend.url))
