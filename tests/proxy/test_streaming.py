"""Streams as an agent client sees them while the backend is slow: headers and the opening
event at once, keep-alives until the answer, errors in the stream, and cancellation at any
moment (the backend request closes when the client goes away)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest.mock import ANY

import httpx
import pytest

from langchain_bhumi.proxy.config import ProxyConfig
from tests.proxy.conftest import (
    RunningProxy,
    backend_closed_within,
    backend_reached,
    wait_until,
)
from tests.proxy.test_operations import (
    ANTHROPIC_BODY,
    COMPLETION,
    GEMINI_BODY,
    OPENAI_BODY,
    chunk,
    config_for,
    text_stream,
)
from tests.support.server import Scripted, ScriptedServer

FAST = {"stream_start_wait": 0.05, "keepalive_interval": 0.1}
"""Commit to a stream after 50 ms of backend silence, a keep-alive every 100 ms."""


@dataclass(frozen=True)
class Frontend:
    path: str
    body: dict[str, Any]
    opening: bytes
    """Bytes the stream starts with, before any backend event."""
    keepalive: bytes
    error_marker: bytes
    end_marker: bytes


GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
FRONTENDS = {
    "openai": Frontend(
        "/v1/chat/completions",
        {**OPENAI_BODY, "stream": True},
        b'data: {"id": "req_',
        b": keep-alive\n\n",
        b'data: {"error"',
        b"data: [DONE]",
    ),
    "anthropic": Frontend(
        "/v1/messages",
        {**ANTHROPIC_BODY, "stream": True},
        b"event: message_start\n",
        b'event: ping\ndata: {"type":"ping"}\n\n',
        b"event: error\n",
        b"event: message_stop\n",
    ),
    "gemini": Frontend(
        GEMINI_STREAM + "?alt=sse",
        GEMINI_BODY,
        b"\r\n",  # no opening event in Gemini's API: a first keep-alive
        b"\r\n",  # a blank line (google-genai fails on SSE comments)
        b'{"error"',
        b"STOP",
    ),
    "gemini-array": Frontend(GEMINI_STREAM, GEMINI_BODY, b"[", b"\r\n", b'{"error"', b"]"),
    "responses": Frontend(
        "/v1/responses",
        {"model": "gpt-5-codex", "input": "Say hello.", "stream": True},
        b"event: response.created\n",
        b"event: response.in_progress\n",  # codex's idle timer ignores SSE comments
        b"event: response.failed\n",
        b"event: response.completed\n",
    ),
}


def streamed_text(name: str, raw: bytes) -> str:
    """The answer text of a whole stream, read the way each API's clients read it."""
    if name == "gemini-array":
        chunks = json.loads(raw)
    else:
        chunks = [
            json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: {")
        ]
    text = []
    for data in chunks:
        if name == "openai":
            text += [c["delta"].get("content") or "" for c in data["choices"]]
        elif name == "anthropic":
            if data["type"] == "content_block_delta":
                text.append(data["delta"].get("text", ""))
        elif name == "responses":
            if data["type"] == "response.output_text.delta":
                text.append(data["delta"])
        else:
            for candidate in data["candidates"]:
                text += [p.get("text", "") for p in candidate.get("content", {}).get("parts", [])]
    return "".join(text)


def read_until(parts: Iterator[bytes], received: bytes, done: Callable[[bytes], bool]) -> bytes:
    """Read from a response until `done(all bytes so far)`; the client's read timeout
    turns a proxy that sends nothing into a failure instead of a hang."""
    while not done(received):
        received += next(parts)
    return received


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_a_stream_opens_at_once_and_stays_alive_while_the_backend_is_silent(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy], name: str
) -> None:
    """A local server reading a long prompt sends nothing, not even headers: the client
    gets its status, headers, opening event and keep-alives anyway, then the answer."""
    frontend = FRONTENDS[name]
    proxy = start_proxy(config_for(backend, server=FAST))
    release = threading.Event()
    backend.enqueue(text_stream("hello there", release=release))
    try:
        with httpx.stream(
            "POST", proxy.url + frontend.path, json=frontend.body, timeout=5
        ) as reply:
            assert reply.status_code == 200  # while the backend has sent nothing
            parts = reply.iter_raw()
            early = read_until(parts, b"", lambda got: got.count(frontend.keepalive) >= 3)
            assert early.startswith(frontend.opening)
            assert b"hello" not in early
            release.set()
            whole = read_until(parts, early, lambda got: frontend.end_marker in got)
            whole += b"".join(parts)
    finally:
        release.set()
    assert streamed_text(name, whole) == "hello there"


def test_the_opening_event_announces_the_estimated_input_tokens(
    backend: ScriptedServer, proxy: RunningProxy
) -> None:
    """Anthropic clients read `message_start` for context accounting: it carries the
    same estimate the count_tokens endpoint gives for the request."""
    body = {
        **ANTHROPIC_BODY,
        "stream": True,
        "system": "You are a coding agent. " * 200,
        "messages": [{"role": "user", "content": "Refactor this module. " * 50}],
    }
    counted = httpx.post(proxy.url + "/v1/messages/count_tokens", json=body, timeout=10)
    backend.enqueue(text_stream("ok"))
    reply = httpx.post(proxy.url + "/v1/messages", json=body, timeout=10)
    first = next(line for line in reply.text.splitlines() if line.startswith("data: "))
    start = json.loads(first[6:])
    assert start["type"] == "message_start"
    assert start["message"]["usage"]["input_tokens"] == counted.json()["input_tokens"] > 1000


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "gemini-array", "responses"])
def test_a_backend_failure_before_the_first_token_is_an_in_stream_error(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy], name: str
) -> None:
    frontend = FRONTENDS[name]
    proxy = start_proxy(config_for(backend, backend={"max_retries": 0}, server=FAST))
    release = threading.Event()
    error = {"error": {"message": "the model crashed", "type": "server_error"}}
    backend.enqueue(Scripted.json(error, status=500, release=release))
    try:
        with httpx.stream(
            "POST", proxy.url + frontend.path, json=frontend.body, timeout=5
        ) as reply:
            assert reply.status_code == 200
            parts = reply.iter_raw()
            early = read_until(parts, b"", lambda got: frontend.keepalive in got)
            release.set()
            body = early + b"".join(parts)
    finally:
        release.set()
    assert body.startswith(frontend.opening)
    assert frontend.error_marker in body and b"the model crashed" in body
    if name == "gemini-array":
        assert json.loads(body) == [{"error": {"code": 502, "message": ANY, "status": ANY}}]
    else:
        assert frontend.end_marker not in body


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "responses"])
def test_a_backend_that_fails_at_once_keeps_its_http_status(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy], name: str
) -> None:
    """Within `stream_start_wait` (default 1 s) a failure is still a plain HTTP error, so
    SDKs that retry on 429 see a 429."""
    frontend = FRONTENDS[name]
    proxy = start_proxy(config_for(backend, backend={"max_retries": 0}))
    error = {"error": {"message": "slow down", "type": "rate_limit_error"}}
    backend.enqueue(Scripted.json(error, status=429))
    reply = httpx.post(proxy.url + frontend.path, json=frontend.body, timeout=10)
    assert reply.status_code == 429
    assert "slow down" in json.dumps(reply.json())


def test_keep_alives_also_cover_a_silent_middle(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    """A backend that pauses mid-answer (a reasoning model whose thinking the client does
    not see) still keeps the connection busy."""
    proxy = start_proxy(config_for(backend, server=FAST))
    backend.enqueue(
        Scripted.sse(
            chunk({"content": "one "}), chunk({"content": "two"}), stall_after=1, stall_seconds=0.5
        )
    )
    reply = httpx.post(proxy.url + "/v1/chat/completions", json=FRONTENDS["openai"].body)
    middle = reply.content.split(b"one ", 1)[1].split(b"two", 1)[0]
    assert middle.count(b": keep-alive\n\n") >= 2
    assert streamed_text("openai", reply.content) == "one two"


# --- cancellation -----------------------------------------------------------------------------

MOMENTS = ["before any byte", "after the opening event", "after the first token", "whole"]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_client_that_disconnects_at_any_moment_closes_the_backend_request(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    caplog: pytest.LogCaptureFixture,
    moment: str,
) -> None:
    """The backend holds its answer for a minute; the client gives up. The backend sees
    its connection closed within a second of the client leaving, whenever it left:
    before the proxy answered anything, after the opening event, mid-answer, or while
    waiting for a non-streamed answer."""
    wait = 30.0 if moment in ("before any byte", "whole") else 0.05
    proxy = start_proxy(config_for(backend, server={"stream_start_wait": wait}))
    if moment == "after the first token":
        backend.enqueue(text_stream("first", stall_after=1, stall_seconds=60))
    else:
        backend.enqueue(Scripted(stall_before_headers=60))
    body = {**OPENAI_BODY, "stream": moment != "whole"}

    async def give_up() -> float:
        """Returns when the client left (its connection closed)."""
        async with httpx.AsyncClient(timeout=10) as client:

            async def request() -> None:
                async with client.stream(
                    "POST", proxy.url + "/v1/chat/completions", json=body
                ) as reply:
                    async for piece in reply.aiter_raw():
                        if moment == "after the opening event" or b"first" in piece:
                            return  # leaving the block closes the connection

            task = asyncio.create_task(request())
            await backend_reached(backend)
            if moment in ("before any byte", "whole"):
                await asyncio.sleep(0.1)
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return time.monotonic()

    with caplog.at_level(logging.INFO, logger="langchain_bhumi.proxy"):
        left = asyncio.run(give_up())
        closed_within = backend_closed_within(backend, left)
        assert closed_within <= 1.0, f"the backend request closed {closed_within:.2f} s late"
        deadline = time.monotonic() + 10  # the access line: a hang guard only
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "status=499" in caplog.records[-1].getMessage()


def test_a_cancelled_request_frees_its_slot(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    proxy = start_proxy(config_for(backend, server={"max_concurrent": 1, "queue_timeout": 0}))
    backend.enqueue(Scripted(stall_before_headers=60), Scripted.json(COMPLETION))

    async def abandon() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            task = asyncio.create_task(
                client.post(proxy.url + "/v1/chat/completions", json=OPENAI_BODY)
            )
            await backend_reached(backend)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(abandon())
    deadline = time.monotonic() + 10
    while not backend.aborted and time.monotonic() < deadline:
        time.sleep(0.02)
    reply = httpx.post(proxy.url + "/v1/chat/completions", json=OPENAI_BODY, timeout=10)
    assert reply.status_code == 200, reply.text


def test_the_default_client_to_backends_is_aiohttp_when_installed(
    backend: ScriptedServer,
) -> None:
    pytest.importorskip("httpx_aiohttp")
    assert [b.async_backend for b in config_for(backend).backends.values()] == ["aiohttp"]


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_a_proxy_on_either_client_streams_and_cancels_the_same_way(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy], client: str
) -> None:
    """`async_backend` is aiohttp by default when installed, httpx otherwise."""
    if client == "aiohttp":
        pytest.importorskip("httpx_aiohttp")
    proxy = start_proxy(config_for(backend, backend={"async_backend": client}, server=FAST))
    backend.enqueue(text_stream("hello there"), Scripted(stall_before_headers=60))
    url = proxy.url + "/v1/chat/completions"
    reply = httpx.post(url, json=FRONTENDS["openai"].body, timeout=10)
    assert streamed_text("openai", reply.content) == "hello there"
    with httpx.stream("POST", url, json=FRONTENDS["openai"].body, timeout=10) as reply:
        next(reply.iter_raw())  # the opening event, then the client leaves
    wait_until(lambda: backend.aborted == 1, "the backend request to close")


@pytest.mark.parametrize("sdk", ["openai", "anthropic", "gemini"])
def test_the_official_sdks_read_through_keep_alives(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy], sdk: str
) -> None:
    """Keep-alives before the first token and between tokens are invisible to each API's
    own SDK (an SSE comment would break google-genai, which parses it as JSON)."""
    server = {"stream_start_wait": 0.05, "keepalive_interval": 0.05}
    proxy = start_proxy(config_for(backend, server=server))
    backend.enqueue(
        Scripted.sse(
            chunk({"content": "hello "}),
            chunk({"content": "there"}),
            chunk({}, "stop"),
            stall_before_headers=0.4,
            stall_after=1,
            stall_seconds=0.3,
        )
    )
    question = "hi"
    if sdk == "openai":
        openai = pytest.importorskip("openai")
        client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
        parts = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], stream=True
        )
        text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    elif sdk == "anthropic":
        anthropic = pytest.importorskip("anthropic")
        client = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
        with client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": question}],
        ) as stream:
            text = "".join(stream.text_stream)
    else:
        genai = pytest.importorskip("google.genai")
        from google.genai import types

        client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=proxy.url))
        parts = client.models.generate_content_stream(model="gemini-2.5-flash", contents=question)
        text = "".join(p.text or "" for p in parts)
    assert text == "hello there"


LONE_SURROGATE = b'"a\\ud800b"'  # JSON for a string holding half of a UTF-16 pair


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {**OPENAI_BODY, "stream": True}),
        ("/v1/messages", {**ANTHROPIC_BODY, "stream": True}),
        ("/v1beta/models/m:streamGenerateContent?alt=sse", GEMINI_BODY),
        ("/v1/responses", {"model": "m", "input": "hi", "stream": True}),
        ("/v1/chat/completions", OPENAI_BODY),
    ],
)
def test_a_lone_surrogate_from_the_backend_is_an_error_not_a_cut_body(
    backend: ScriptedServer, proxy: RunningProxy, path: str, body: dict[str, Any]
) -> None:
    """`"\\ud800"` decodes to a string no UTF-8 writer can encode (the proxy's encoders
    failed mid-stream and cut the client's body): it is refused where it is read, and the
    client gets its API's own error, whole."""
    if body.get("stream") or "stream" in path:
        delta = b'{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":%s}}]}'
        backend.enqueue(Scripted(parts=[b"data: " + delta % LONE_SURROGATE + b"\n\n"]))
    else:
        message = b'{"role":"assistant","content":%s}' % LONE_SURROGATE
        choice = b'{"index":0,"message":%s,"finish_reason":"stop"}' % message
        answer = b'{"id":"c1","model":"m","choices":[%s]}' % choice
        backend.enqueue(Scripted(parts=[answer], content_type="application/json"))
    response = httpx.post(proxy.url + path, json=body, timeout=10)
    answered = response.content.decode("utf-8")  # whole, and UTF-8
    assert "lone UTF-16 surrogate" in answered
    assert response.status_code == 502
