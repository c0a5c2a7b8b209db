"""One proxied call, from the decoded request to the last byte of the answer.

`Exchange` is the ASGI response `ProxyApp.handle` returns once a request is decoded and
routed. It waits for a slot (bounded), calls the backend, and writes the answer in the
frontend's format, while a second task watches the client: a client that disconnects at
any moment (queued, waiting for the backend's first event, or mid-stream) cancels the
work, which closes the backend request at once.

A stream's status, headers and opening event go out when the backend's first events
arrive or `stream_start_wait` seconds after the request was sent, whichever is first: a
local server reading a long prompt sends nothing, not even headers, until it is done, and
a client that sees nothing times out and retries. A backend failure within that wait
keeps its HTTP status (SDKs retry on 429 and 503); a later one is the frontend's in-stream
error event. Whenever the stream was idle for `keepalive_interval` seconds the encoder's
keep-alive goes out (Anthropic `ping`, an SSE comment for OpenAI, a blank line for Gemini).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from langchain_bhumi.core.errors import (
    BhumiConnectionError,
    BhumiError,
    BhumiTimeoutError,
    ConfigurationError,
    ProviderHTTPError,
)
from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.transport import HTTPRequest
from langchain_bhumi.protocols.base import ResponseEncoder, ServerCodec
from langchain_bhumi.proxy.gate import AccessRecord

if TYPE_CHECKING:
    from langchain_bhumi.proxy.service import Backend, ProxyApp

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}
"""Generic error kinds by status; each codec words them its own way."""

CLIENT_GONE = 499
"""The status the access line shows for a client that disconnected first."""


class Failure(Exception):
    """A response to send in the frontend's error format."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_status(exc: BaseException) -> int:
    """The status a proxy client should see for a backend failure."""
    if isinstance(exc, ProviderHTTPError):
        if exc.status_code in (400, 404, 413, 422, 429):
            return exc.status_code
        if exc.status_code in (503, 529):
            return 503
        return 502  # the backend's own auth or server failure is not the client's fault
    if isinstance(exc, BhumiTimeoutError):
        return 504
    if isinstance(exc, ConfigurationError):
        return 400  # the request asks for what the backend's format cannot say
    if isinstance(exc, BhumiConnectionError | BhumiError):
        return 502
    return 500


def error_response(
    codec: ServerCodec, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A non-streamed error in the frontend's own format."""
    body = codec.error_body(status, ERROR_TYPES.get(status, "api_error"), message)
    return Response(_dumps(body), status, headers, media_type="application/json")


class Slots:
    """The proxy's concurrency limit: a request waits up to `wait` seconds for a slot."""

    def __init__(self, limit: int, wait: float) -> None:
        self.limit = limit
        self.wait = wait
        self._free = asyncio.Semaphore(limit)

    async def acquire(self) -> bool:
        """Take a slot; `False` when none freed within the wait."""
        if not self._free.locked():
            await self._free.acquire()  # does not suspend
            return True
        if self.wait <= 0:
            return False
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait)
        except asyncio.TimeoutError:
            return False
        return True

    def release(self) -> None:
        self._free.release()


async def _next(batches: AsyncIterator[list[StreamEvent]]) -> list[StreamEvent] | None:
    return await anext(batches, None)


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (or the response is complete: the server says so
    with the same message)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _content_type(media_type: str) -> bytes:
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    return media_type.encode()


class Exchange(Response):
    """The answer to one decoded request (see the module doc)."""

    def __init__(
        self,
        proxy: ProxyApp,
        codec: ServerCodec,
        encoder: ResponseEncoder,
        backend: Backend,
        http_request: HTTPRequest,
        record: AccessRecord,
    ) -> None:
        # No `Response.__init__`: this response writes its own messages.
        self.proxy = proxy
        self.codec = codec
        self.encoder = encoder
        self.backend = backend
        self.http_request = http_request
        self.record = record
        self.background = None
        self._send: Send | None = None
        self._ended = False
        self._last_write = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        work = asyncio.ensure_future(self._run())
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not work.done() and not self._ended:
                work.cancel()  # the client went away (or the server stops): so does the backend
                self.record.status = CLIENT_GONE
            await asyncio.wait((work,))
        if not work.cancelled():
            work.result()  # a failure of the proxy itself: Starlette answers 500

    # --- the work ---------------------------------------------------------------------

    async def _run(self) -> None:
        key = self.record.key
        if key is not None and not key.enter():
            limit = key.key.max_concurrent
            message = f"proxy key {key.name!r} already has {limit} requests in flight, its limit"
            await self._fail(429, message, {"retry-after": "1"})
            return
        try:
            slots = self.proxy.slots
            if not await slots.acquire():
                message = (
                    f"the proxy is at its concurrency limit ({slots.limit}) and no request "
                    f"finished within {slots.wait:g} s; retry shortly"
                )
                await self._fail(503, message, {"retry-after": "5"})
                return
            try:
                if self.http_request.stream:
                    await self._stream()
                else:
                    await self._whole()
            finally:
                slots.release()
        finally:
            if key is not None:
                key.leave()

    async def _whole(self) -> None:
        try:
            events = await self.backend.client.acomplete(self.http_request)
        except BhumiError as exc:
            await self._fail(error_status(exc), str(exc))
            return
        self.record.fields["ttft"] = time.monotonic() - self.record.started
        self.proxy.call_extras.remember(events)
        await self._answer(200, self.encoder.complete(events))

    async def _stream(self) -> None:
        encoder = self.encoder
        batches = self.backend.client.astream(self.http_request).__aiter__()
        reading = asyncio.ensure_future(_next(batches))
        ticker: asyncio.Future[None] | None = None
        try:
            await asyncio.wait((reading,), timeout=self.proxy.config.stream_start_wait)
            early = reading.exception() if reading.done() else None
            if isinstance(early, BhumiError):
                await self._fail(error_status(early), str(early))
                return
            await self._start(encoder)
            ticker = asyncio.ensure_future(self._keep_alive(encoder.keepalive()))
            try:
                batch = await reading
                if batch is not None:
                    self.record.fields["ttft"] = time.monotonic() - self.record.started
                while batch is not None:
                    self.proxy.call_extras.remember(batch)
                    data = encoder.encode(batch)
                    if data:
                        await self._write(data)
                    batch = await anext(batches, None)
                tail = encoder.finish()
            except BhumiError as exc:
                status = error_status(exc)
                message = self._note_error(status, str(exc))
                tail = encoder.error(status, ERROR_TYPES.get(status, "api_error"), message)
            ticker.cancel()
            await self._end(tail)
        finally:
            if ticker is not None:
                ticker.cancel()
            if not reading.done():
                reading.cancel()
                await asyncio.wait((reading,))
            await batches.aclose()  # type: ignore[attr-defined]

    async def _keep_alive(self, beat: bytes) -> None:
        interval = self.proxy.config.keepalive_interval
        if interval <= 0 or not beat:
            return
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_write
            if idle < interval:
                await asyncio.sleep(interval - idle)
            else:
                await self._write(beat)

    # --- writing ----------------------------------------------------------------------

    async def _start(self, encoder: ResponseEncoder) -> None:
        assert self._send is not None
        headers = [
            (b"content-type", _content_type(encoder.media_type)),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
        ]
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})
        # A format without an opening event (Gemini) opens with a keep-alive: some clients
        # time the body from its first byte, not from the headers.
        await self._write(encoder.start() or encoder.keepalive() or b"")

    async def _write(self, data: bytes) -> None:
        assert self._send is not None
        if data:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        self._last_write = asyncio.get_running_loop().time()

    async def _end(self, data: bytes) -> None:
        assert self._send is not None
        self._ended = True
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        assert self._send is not None
        content = _dumps(body)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
        ]
        message: Message = {"type": "http.response.start", "status": status, "headers": raw_headers}
        await self._send(message)
        await self._end(content)

    async def _fail(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        message = self._note_error(status, message)
        body = self.codec.error_body(status, ERROR_TYPES.get(status, "api_error"), message)
        await self._answer(status, body, headers)

    def _note_error(self, status: int, message: str) -> str:
        """`message` without credentials, noted for the access line."""
        message = self.proxy.redact(message, self.record.client_key)
        self.record.status = status
        self.record.fields["error"] = message
        return message


__all__ = ["ERROR_TYPES", "Exchange", "Failure", "Slots", "error_response", "error_status"]
