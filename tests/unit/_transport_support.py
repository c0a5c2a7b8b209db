"""Helpers shared by the transport, error and redaction tests.

- `make_llm` builds a `ChatBhumi` pointed at the scripted loopback server.
- `call` runs one call in one of four modes (invoke, stream, ainvoke, astream) in a worker
  thread bounded by a generous hang guard, so a regression that hangs fails the test
  instead of freezing the suite. Async modes run on their own event loop via
  `asyncio.run` and close that loop's pool before returning.
- `SleepRecorder` replaces the sleeps the transport uses between retries, so tests check
  the chosen delay without waiting for it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable

from langchain_bhumi import ChatBhumi
from tests.support.server import Scripted, ScriptedServer

T = TypeVar("T")

KEY = "sk-test-abcdefghijklmnop"
MODEL = "openai/gpt-4o-mini"
PROMPT = "hi"
HANG_GUARD = 20.0
"""Seconds after which a call is declared hung (a guard, not a timing target)."""

MODES = ("invoke", "stream", "ainvoke", "astream")
STREAM_MODES = ("stream", "astream")
WHOLE_MODES = ("invoke", "ainvoke")


def make_llm(server: ScriptedServer | str, **kwargs: Any) -> ChatBhumi:
    """A ChatBhumi on the loopback server with the test key (kwargs override defaults)."""
    base_url = server if isinstance(server, str) else server.url
    options: dict[str, Any] = {
        "model": MODEL,
        "base_url": base_url,
        "api_key": KEY,
        "timeout": 5.0,
        # Non-streamed calls wait up to max(timeout, response_timeout) for their answer.
        "response_timeout": 5.0,
    }
    options.update(kwargs)
    return ChatBhumi(**options)


def endpoint(server: ScriptedServer) -> str:
    """The URL ChatBhumi posts to for the OpenAI protocol."""
    return f"{server.url}/v1/chat/completions"


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"sunny in {city}"


# --- bodies --------------------------------------------------------------------------


def text_chunk(text: str) -> dict[str, Any]:
    """One OpenAI streaming chunk carrying `text`."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def finish_chunk(reason: str = "stop") -> dict[str, Any]:
    """The chunk that carries the finish reason."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
    }


def completion(text: str) -> dict[str, Any]:
    """A whole (non-streamed) chat completion answering `text`."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def answer(mode: str, *texts: str, **kwargs: Any) -> Scripted:
    """A successful answer for `mode`: an SSE stream of `texts` or one JSON completion."""
    if mode in STREAM_MODES:
        chunks = [text_chunk(t) for t in texts]
        return Scripted.sse(*chunks, finish_chunk(), **kwargs)
    return Scripted.json(completion("".join(texts)), **kwargs)


def error_response(status: int, body: Any = None, **kwargs: Any) -> Scripted:
    """A non-2xx JSON answer (OpenAI-shaped body unless one is given)."""
    if body is None:
        body = {"error": {"message": f"status {status}", "type": "test_error"}}
    return Scripted.json(body, status=status, **kwargs)


# --- running calls -------------------------------------------------------------------


def run_bounded(fn: Callable[[], T], seconds: float = HANG_GUARD) -> T:
    """Run `fn` in a daemon thread; fail the test if it is still running after `seconds`."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"the call was still running after {seconds} s: it hangs")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def call(
    llm: ChatBhumi,
    mode: str,
    *,
    runnable: Runnable[Any, Any] | None = None,
    chunks: list[AIMessageChunk] | None = None,
) -> BaseMessage:
    """One call in `mode`, bounded by the hang guard; streamed chunks go to `chunks` as
    they arrive (so a test can see what was delivered before an error)."""
    target: Runnable[Any, Any] = runnable if runnable is not None else llm
    seen: list[AIMessageChunk] = chunks if chunks is not None else []

    def merged() -> BaseMessage:
        total = seen[0]
        for piece in seen[1:]:
            total = total + piece
        return total

    async def run_async() -> BaseMessage:
        try:
            if mode == "ainvoke":
                return await target.ainvoke(PROMPT)  # type: ignore[no-any-return]
            async for piece in target.astream(PROMPT):
                seen.append(piece)
            return merged()
        finally:
            await llm.aclose()

    def run() -> BaseMessage:
        if mode == "invoke":
            return target.invoke(PROMPT)  # type: ignore[no-any-return]
        if mode == "stream":
            for piece in target.stream(PROMPT):
                seen.append(piece)
            return merged()
        if mode in ("ainvoke", "astream"):
            return asyncio.run(run_async())
        raise ValueError(f"unknown mode {mode!r}")

    return run_bounded(run)


_HELD_PORTS: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port with nothing listening on it: bound but never listening, and kept
    bound for the session, so no other process can take it and connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _HELD_PORTS.append(sock)
    return int(sock.getsockname()[1])


# --- recording the retry sleeps ----------------------------------------------------------


class _TimeProxy:
    """Stands in for the `time` module inside the transport: `sleep` only records."""

    def __init__(self, real: ModuleType, delays: list[float]) -> None:
        self._real = real
        self._delays = delays

    def sleep(self, seconds: float) -> None:
        self._delays.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _AsyncioProxy:
    """Stands in for the `asyncio` module inside the transport: `sleep` only records."""

    def __init__(self, real: ModuleType, delays: list[float]) -> None:
        self._real = real
        self._delays = delays

    async def sleep(self, seconds: float) -> None:
        self._delays.append(seconds)
        await self._real.sleep(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class SleepRecorder:
    """The delays the transport chose between attempts (sync and async), not waited for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from langchain_bhumi.core import transport

        self.delays: list[float] = []
        monkeypatch.setattr(transport, "time", _TimeProxy(time, self.delays))
        monkeypatch.setattr(transport, "asyncio", _AsyncioProxy(asyncio, self.delays))
