"""One body piece per network read on httpx's own HTTP/1.1 transports.

httpcore hands a response body over one h11 event at a time, and h11 makes one event per
HTTP chunk: a server that writes each SSE event as its own chunk (they all do) gives one
piece per event, however many events a single network read brought. Everything after
the transport then pays per event what it could pay per read; LangChain pays about 30 us
of CPU per message chunk, and its running `+` re-parses every tool argument so far.

`read_per_network_read(response)` makes the connection streaming `response` hand over,
as one piece, every byte of body that h11 can give without reading the network again:
it drains h11's events until h11 asks for data, yields what it has, and only then reads.
So a piece is never held back waiting for bytes that have not arrived (no added
latency), and a read that brought 300 events yields one piece instead of 300.

It replaces, on that connection object only, the generator httpcore uses for response
bodies (`_receive_response_body`), keeping httpcore's own reading (`_receive_event`),
timeouts, error mapping, keep-alive and close handling. The body generator is private to
httpcore (stable through 1.0.x); when a response does not come from an httpcore HTTP/1.1
connection of the expected shape (another transport, HTTP/2, a mock) nothing changes.
A test checks that the default install batches, so a change in httpcore is caught. On
a client you pass in (`http_client=`), the connections it lends to ChatBhumi keep the
override: their bodies still carry the same bytes, in fewer pieces.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpcore
import httpx

try:  # httpcore's HTTP/1.1 parser; without it, bodies are read as httpcore hands them over
    import h11
except ImportError:  # pragma: no cover - every httpcore 1.x depends on h11
    _HAVE_H11 = False
else:
    _HAVE_H11 = True

__all__ = ["read_per_network_read"]

_BODY = "_receive_response_body"


def read_per_network_read(response: httpx.Response) -> bool:
    """Make the HTTP/1.1 connection streaming `response` yield one piece per network read.

    Call before reading the body. Returns whether it could (the response came from one of
    httpx's own transports over HTTP/1.1).
    """
    connection = _connection_of(response)
    if not _HAVE_H11:  # pragma: no cover
        return False
    if isinstance(connection, httpcore.HTTP11Connection):
        body: Any = _body_by_read
    elif isinstance(connection, httpcore.AsyncHTTP11Connection):
        body = _abody_by_read
    else:
        return False
    if _BODY not in vars(connection):
        setattr(connection, _BODY, types.MethodType(body, connection))
    return True


def _connection_of(response: httpx.Response) -> object:
    """The client's BoundSyncStream -> the transport's ResponseStream -> httpcore's
    PoolByteStream -> HTTP11ConnectionByteStream -> its connection; `None` wherever the
    chain differs."""
    transport_stream = getattr(response.stream, "_stream", None)
    pool_stream = getattr(transport_stream, "_httpcore_stream", None)
    connection_stream = getattr(pool_stream, "_stream", None)
    return getattr(connection_stream, "_connection", None)


def _next_buffered(state: h11.Connection) -> Any:
    """h11's next event from what it already holds (`NEED_DATA` when it has none), with
    protocol errors mapped as httpcore maps them."""
    try:
        return state.next_event()
    except h11.RemoteProtocolError as exc:
        raise httpcore.RemoteProtocolError(exc) from exc


def _body_by_read(self: Any, request: httpcore.Request) -> Iterator[bytes]:
    timeout = request.extensions.get("timeout", {}).get("read", None)
    state = self._h11_state
    pieces: list[bytes] = []
    while True:
        event = _next_buffered(state)
        if event is h11.NEED_DATA:
            if pieces:  # everything this read brought: hand it over before reading more
                yield b"".join(pieces)
                pieces = []
            event = self._receive_event(timeout=timeout)
        if type(event) is h11.Data:
            pieces.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
            break
    if pieces:
        yield b"".join(pieces)


async def _abody_by_read(self: Any, request: httpcore.Request) -> AsyncIterator[bytes]:
    timeout = request.extensions.get("timeout", {}).get("read", None)
    state = self._h11_state
    pieces: list[bytes] = []
    while True:
        event = _next_buffered(state)
        if event is h11.NEED_DATA:
            if pieces:
                yield b"".join(pieces)
                pieces = []
            event = await self._receive_event(timeout=timeout)
        if type(event) is h11.Data:
            pieces.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
            break
    if pieces:
        yield b"".join(pieces)
