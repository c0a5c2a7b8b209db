"""HTTP transport: pooled clients, timeouts, retries, streaming, logging, redaction.

One `Transport` per model instance owns a pooled `httpx.Client` and, per event loop, an
`httpx.AsyncClient` (or uses clients you pass in, e.g. one built on another httpx
transport). The sync and async twins have the same shape, as in httpx. What the limits
are lives in `config.py` (`Timeouts`, `RetryPolicy`); what the bytes mean, in the wire
format's decoder (`decoding.StreamDecoder`).

Retries:
    408/409/429/5xx answers and connection failures are retried with exponential backoff
    and full jitter, honouring `Retry-After`/`retry-after-ms`, only while opening the
    response: once a stream has started, nothing is retried, so no output is duplicated.
    A server that accepts the request and then sends nothing is *not* retried: it fails
    with `BhumiTimeoutError(phase="waiting for headers")` after the idle timeout.

Logging (`logging.getLogger("langchain_bhumi")`, DEBUG): method and redacted URL,
provider, stream/tools flags, status, request id, retries, frame and byte counts, and
whether the stream ended with its terminator or was cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import logging
import ssl
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from langchain_bhumi.core.config import DEFAULT_MAX_FRAME_SIZE, RetryPolicy, Timeouts
from langchain_bhumi.core.decoding import UNREADABLE, StreamDecoder, describe_error, unreadable
from langchain_bhumi.core.errors import (
    BhumiConnectionError,
    BhumiTimeoutError,
    BrokenStreamError,
    ConfigurationError,
    InvalidStreamDataError,
    ProviderHTTPError,
    StreamCutError,
    TimeoutPhase,
)
from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.framing import Framer, WholeBodyFramer
from langchain_bhumi.core.reads import read_per_network_read
from langchain_bhumi.core.redaction import Redactor

logger = logging.getLogger("langchain_bhumi")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-goog-request-id")
ERROR_BODY_LIMIT = 64 * 1024


@dataclass(slots=True)
class HTTPRequest:
    """One provider call, ready to send."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    stream: bool = False
    has_tools: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def content(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True)
class _StreamStats:
    frames: int = 0
    bytes: int = 0
    delivered: int = 0


# More kept-alive connections make httpcore's async pool slower (it scans them all per
# request): 300 cost 2.9 s CPU against 1.4 s for 100 in the 256-stream benchmark.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

AsyncBackend = Literal["httpx", "aiohttp"]


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One certificate-verifying SSL context per process (building one takes ~20 ms)."""
    return httpx.create_ssl_context()


# The attribute under which an event loop keeps its pools (see `_pools_kept_by`).
_POOLS_ATTRIBUTE = "_langchain_bhumi_pools"


class _LoopPool:
    """An async client that lives as long as its event loop.

    A pool's connections belong to one loop, and asyncio says nothing when a loop closes.
    But `asyncio.run` (and `asyncio.Runner`, pytest-asyncio, ...) closes every suspended
    async generator of its loop before closing the loop (`loop.shutdown_asyncgens`): each
    pool is held open by one such generator, so it closes cleanly, inside its own loop,
    when the loop ends. A loop closed without that step leaves its pool to be dropped
    (`discard`) on the next async call. The loop itself keeps the pool (`_pools_kept_by`),
    so a loop that is dropped without being closed is collected with its pool.
    """

    __slots__ = ("_watch", "client", "closed", "loop")

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.closed = False
        self._watch = self._until_loop_shutdown()
        step = self._watch.asend(None)  # the loop's asyncgen hooks register it here
        with contextlib.suppress(StopIteration):
            step.send(None)  # runs it to its `yield`: it now waits for the loop to end

    async def _until_loop_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self.closed = True
            if not self.loop.is_closed():
                await self.client.aclose()

    async def aclose(self) -> None:
        await self._watch.aclose()

    def discard(self) -> None:
        """Let go of the pool of a loop that is already closed (nothing left to await)."""
        with contextlib.suppress(StopIteration, RuntimeError):
            self._watch.aclose().send(None)


def _pools_kept_by(
    loop: asyncio.AbstractEventLoop, *, create: bool = False
) -> weakref.WeakKeyDictionary[Transport, _LoopPool] | None:
    """The pools `loop` keeps alive, one per live `Transport`.

    A pool refers to its loop (its connections do), so whatever keeps pools by loop keeps
    the loop alive too. Kept by the loop, a pool goes when the loop is collected, and when
    its transport is (the entry is weak on the transport's side). `None` for a loop that
    takes no attributes (`uvloop.Loop` takes them; its C base `uvloop.loop.Loop` does not),
    and, unless `create`, for one that keeps none yet.
    """
    try:
        attributes = vars(loop)
    except TypeError:
        return None
    pools: weakref.WeakKeyDictionary[Transport, _LoopPool] | None = attributes.get(_POOLS_ATTRIBUTE)
    if pools is None and create:
        pools = attributes[_POOLS_ATTRIBUTE] = weakref.WeakKeyDictionary()
    return pools


class Transport:
    """Sends provider requests for one model instance.

    Args:
        provider: Provider name, used in errors and logs.
        timeouts: Connect / idle / total limits.
        retry: Retry policy.
        secrets: Credential values to mask in anything shown (error bodies, logs).
        http_client: Use this `httpx.Client` instead of a private pool (not closed by us).
        http_async_client: Use this `httpx.AsyncClient` instead of a private pool per
            event loop (not closed by us).
        limits: Connection pool limits for the private pools.
        async_backend: `"httpx"` (default), or `"aiohttp"` for the private async pools:
            httpx's API over aiohttp's connection handling (`langchain-bhumi[aiohttp]`),
            cheaper per read with many concurrent streams. Both hand over what one
            network read brought as one piece (on httpx, see `reads.py`), so a stream
            yields one list of events per read.
        max_frame_size: The longest line, event or JSON element a stream may send, and
            the largest non-streamed body, in bytes; past it the call fails at once with
            `InvalidStreamDataError` instead of buffering without bound.
    """

    def __init__(
        self,
        *,
        provider: str,
        timeouts: Timeouts,
        retry: RetryPolicy,
        secrets: tuple[str | None, ...] = (),
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        async_backend: AsyncBackend = "httpx",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.provider = provider
        self.max_frame_size = max_frame_size
        self.timeouts = timeouts
        self.retry = retry
        self.redactor = Redactor(secrets)
        self._limits = limits
        self._external_client = http_client
        self._external_async_client = http_async_client
        self._client: httpx.Client | None = None
        # The loops that keep a pool of ours (to let go of those closed by hand), and the
        # pools of loops that cannot keep them (held here until their loop closes).
        self._pool_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._pools_held_here: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._async_backend = async_backend
        self._urls: dict[str, httpx.URL] = {}
        self._fixed_timeouts: dict[bool, httpx.Timeout] = {}

    def __repr__(self) -> str:
        return f"Transport(provider={self.provider!r}, timeouts={self.timeouts!r})"

    # --- clients ---------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._external_client is not None:
            return self._external_client
        if self._client is None:
            # Timeouts are set per request (see Timeouts.for_request).
            self._client = httpx.Client(
                limits=self._limits,
                timeout=None,  # noqa: S113 - set per request (Timeouts.for_request)
                verify=shared_ssl_context(),
            )
        return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        """The async client for the running event loop (pools cannot cross loops); it is
        closed when the loop shuts down (see `_LoopPool`)."""
        if self._external_async_client is not None:
            return self._external_async_client
        loop = asyncio.get_running_loop()
        pool = self._pool_of(loop)
        if pool is None or pool.closed:
            pool = self._new_pool(loop)
        return pool.client

    def _pool_of(self, loop: asyncio.AbstractEventLoop) -> _LoopPool | None:
        kept: weakref.WeakKeyDictionary[Transport, _LoopPool] | None = getattr(
            loop, _POOLS_ATTRIBUTE, None
        )
        if kept is None:
            return self._pools_held_here.get(loop)
        return kept.get(self)

    def _new_pool(self, loop: asyncio.AbstractEventLoop) -> _LoopPool:
        self._let_go_of_closed_loops()
        pool = _LoopPool(self._new_async_client(), loop)
        kept = _pools_kept_by(loop, create=True)
        if kept is None:
            self._pools_held_here[loop] = pool
        else:
            kept[self] = pool
            self._pool_loops.add(loop)
        return pool

    def _let_go_of_closed_loops(self) -> None:
        for loop in [loop for loop in self._pool_loops if loop.is_closed()]:
            self._pool_loops.discard(loop)
            kept = _pools_kept_by(loop)
            pool = kept.pop(self, None) if kept is not None else None
            if pool is not None:
                pool.discard()
        for loop in [loop for loop in self._pools_held_here if loop.is_closed()]:
            self._pools_held_here.pop(loop).discard()

    def _new_async_client(self) -> httpx.AsyncClient:
        if self._async_backend == "aiohttp":
            try:
                from httpx_aiohttp import AiohttpTransport
            except ImportError:
                raise ConfigurationError(
                    "async_backend='aiohttp' needs httpx-aiohttp: "
                    "pip install 'langchain-bhumi[aiohttp]'"
                ) from None
            return httpx.AsyncClient(
                transport=AiohttpTransport(limits=self._limits, verify=shared_ssl_context()),
                timeout=None,  # noqa: S113 - set per request (Timeouts.for_request)
            )
        return httpx.AsyncClient(
            limits=self._limits,
            timeout=None,  # noqa: S113 - set per request (Timeouts.for_request)
            verify=shared_ssl_context(),
        )

    def close(self) -> None:
        """Close the private sync pool (async pools close with `aclose`)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the private pools: the sync one and the one of the running loop."""
        self.close()
        pool = self._pool_of(asyncio.get_running_loop())
        if pool is not None:
            await pool.aclose()

    # --- non-streaming -----------------------------------------------------------------

    def post(self, request: HTTPRequest) -> Any:
        """POST and return the decoded JSON body of a 2xx answer."""
        started = time.monotonic()
        response = self._open(request, started)
        deadline = self._deadline(started)
        body = self._whole_body()
        try:
            for data in response.iter_bytes():
                body.feed(data)
                self._check_deadline(request, deadline)
        except httpx.TimeoutException as exc:
            raise self._timeout("between chunks", request, started) from exc
        except httpx.TransportError as exc:
            raise self._cut(request, exc) from exc
        except BrokenStreamError as exc:
            self._locate(exc, request, _StreamStats(bytes=body.size))
            raise
        finally:
            response.close()
        return self._read_json(request, response, body)

    async def apost(self, request: HTTPRequest) -> Any:
        """Async twin of `post`."""
        started = time.monotonic()
        response = await self._aopen(request, started)
        deadline = self._deadline(started)
        body = self._whole_body()
        try:
            async for data in response.aiter_bytes():
                body.feed(data)
                self._check_deadline(request, deadline)
        except httpx.TimeoutException as exc:
            raise self._timeout("between chunks", request, started) from exc
        except httpx.TransportError as exc:
            raise self._cut(request, exc) from exc
        except BrokenStreamError as exc:
            self._locate(exc, request, _StreamStats(bytes=body.size))
            raise
        finally:
            await response.aclose()
        return self._read_json(request, response, body)

    # --- streaming ---------------------------------------------------------------------

    def stream(self, request: HTTPRequest, decoder: StreamDecoder) -> Iterator[list[StreamEvent]]:
        """POST and yield the events of each network read, as one list per read."""
        started = time.monotonic()
        response = self._open(request, started)
        stats = _StreamStats()
        framer = self._framer(decoder, response)
        deadline = self._deadline(started)
        outcome = "abandoned by the caller"
        try:
            for data in response.iter_bytes():
                events = self._on_read(request, data, framer, decoder, stats, deadline)
                if events:
                    stats.delivered += 1
                    yield events
            events = self._on_end(request, framer, decoder, stats)
            outcome = f"ended with {decoder.ending}"
            if events:
                yield events
        except httpx.TimeoutException as exc:
            outcome = "stalled"
            raise self._timeout("between chunks", request, started) from exc
        except httpx.TransportError as exc:
            outcome = "cut"
            raise self._cut(request, exc, stats) from exc
        except BrokenStreamError as exc:
            outcome = f"broken: {type(exc).__name__}"
            self._locate(exc, request, stats)
            if exc.pending:
                pending, exc.pending = exc.pending, []
                yield pending
            raise
        except BhumiTimeoutError:
            outcome = "past its deadline"
            raise
        finally:
            response.close()
            self._log_end(request, stats, outcome, started)

    async def astream(
        self, request: HTTPRequest, decoder: StreamDecoder
    ) -> AsyncIterator[list[StreamEvent]]:
        """Async twin of `stream`."""
        started = time.monotonic()
        response = await self._aopen(request, started)
        stats = _StreamStats()
        framer = self._framer(decoder, response)
        deadline = self._deadline(started)
        outcome = "abandoned by the caller"
        try:
            async for data in response.aiter_bytes():
                events = self._on_read(request, data, framer, decoder, stats, deadline)
                if events:
                    stats.delivered += 1
                    yield events
            events = self._on_end(request, framer, decoder, stats)
            outcome = f"ended with {decoder.ending}"
            if events:
                yield events
        except httpx.TimeoutException as exc:
            outcome = "stalled"
            raise self._timeout("between chunks", request, started) from exc
        except httpx.TransportError as exc:
            outcome = "cut"
            raise self._cut(request, exc, stats) from exc
        except BrokenStreamError as exc:
            outcome = f"broken: {type(exc).__name__}"
            self._locate(exc, request, stats)
            if exc.pending:
                pending, exc.pending = exc.pending, []
                yield pending
            raise
        except BhumiTimeoutError:
            outcome = "past its deadline"
            raise
        finally:
            await response.aclose()
            self._log_end(request, stats, outcome, started)

    # --- opening, with retries ---------------------------------------------------------

    def _open(self, request: HTTPRequest, started: float | None = None) -> httpx.Response:
        started = time.monotonic() if started is None else started
        client = self.client
        self._log_start(request)
        attempt = 0
        while True:
            try:
                response = client.send(self._build(client, request, started), stream=True)
            except httpx.TransportError as exc:
                failure = self._transport_failure(request, exc, started)
                delay = self._retry_delay(request, attempt, None, failure, started)
                if delay is None:
                    raise failure from exc
            else:
                if response.is_success:
                    self._log_status(request, response, attempt)
                    self._reading_body(response, request, started)
                    return response
                try:
                    body = _read_capped(response.iter_bytes())
                except httpx.HTTPError:
                    body = b""
                finally:
                    response.close()
                status_error = self._status_error(request, response, body)
                delay = self._retry_delay(
                    request, attempt, status_error.retry_after, status_error, started
                )
                if delay is None:
                    raise status_error
            time.sleep(delay)
            attempt += 1

    async def _aopen(self, request: HTTPRequest, started: float | None = None) -> httpx.Response:
        started = time.monotonic() if started is None else started
        client = self.async_client
        self._log_start(request)
        attempt = 0
        while True:
            try:
                response = await client.send(self._build(client, request, started), stream=True)
            except httpx.TransportError as exc:
                failure = self._transport_failure(request, exc, started)
                delay = self._retry_delay(request, attempt, None, failure, started)
                if delay is None:
                    raise failure from exc
            else:
                if response.is_success:
                    self._log_status(request, response, attempt)
                    self._reading_body(response, request, started)
                    return response
                try:
                    body = await _aread_capped(response.aiter_bytes())
                except httpx.HTTPError:
                    body = b""
                finally:
                    await response.aclose()
                status_error = self._status_error(request, response, body)
                delay = self._retry_delay(
                    request, attempt, status_error.retry_after, status_error, started
                )
                if delay is None:
                    raise status_error
            await asyncio.sleep(delay)
            attempt += 1

    def _reading_body(self, response: httpx.Response, request: HTTPRequest, started: float) -> None:
        """Headers are in: from now on a stream may pause only `idle` between reads.

        httpcore reads the read timeout from the request's `timeout` extension when the
        body starts, so lowering it here (after a longer header wait) takes effect for the
        body. Transports that fix it at send time (aiohttp) keep the header wait.
        """
        if not request.stream or self.timeouts.headers is None:
            return
        limits = response.request.extensions.get("timeout")
        if isinstance(limits, dict):
            idle = self.timeouts.idle
            total = self.timeouts.total
            if total is not None:
                left = max(0.001, total - (time.monotonic() - started))
                idle = left if idle is None else min(idle, left)
            limits["read"] = idle

    def _build(
        self, client: httpx.Client | httpx.AsyncClient, request: HTTPRequest, started: float
    ) -> httpx.Request:
        headers = {"content-type": "application/json", **request.headers}
        if request.stream:
            headers.setdefault("accept", "text/event-stream")
        url = self._urls.get(request.url)
        if url is None:
            url = self._urls[request.url] = httpx.URL(request.url)
        return client.build_request(
            "POST",
            url,
            content=request.content(),
            headers=headers,
            timeout=self._timeout_for(request, started),
        )

    def _timeout_for(self, request: HTTPRequest, started: float) -> httpx.Timeout:
        if self.timeouts.total is not None:  # depends on the time left
            return self.timeouts.for_request(started, stream=request.stream)
        timeout = self._fixed_timeouts.get(request.stream)
        if timeout is None:
            timeout = self._fixed_timeouts[request.stream] = self.timeouts.for_request(
                started, stream=request.stream
            )
        return timeout

    def _retry_delay(
        self,
        request: HTTPRequest,
        attempt: int,
        retry_after: float | None,
        failure: Exception,
        started: float,
    ) -> float | None:
        if isinstance(failure, BhumiTimeoutError) and failure.phase != "connect":
            return None  # the server took the request: retrying could double the work
        if isinstance(failure, ProviderHTTPError) and failure.status_code not in RETRYABLE_STATUS:
            return None
        delay = self.retry.delay(attempt, retry_after)
        total = self.timeouts.total
        if delay is not None and total is not None and time.monotonic() - started + delay >= total:
            return None  # waiting would outlast the deadline: report the failure now
        if delay is not None:
            logger.debug(
                "retrying %s %s in %.2f s (attempt %d of %d): %s",
                self.provider,
                self.redactor.url(request.url),
                delay,
                attempt + 1,
                self.retry.max_retries,
                failure,
            )
        return delay

    # --- per read --------------------------------------------------------------------

    def _framer(self, decoder: StreamDecoder, response: httpx.Response) -> Framer:
        read_per_network_read(response)
        framer = decoder.new_framer(response.headers.get("content-type", ""))
        framer.max_frame_size = self.max_frame_size
        return framer

    def _whole_body(self) -> WholeBodyFramer:
        return WholeBodyFramer(self.max_frame_size)

    def _deadline(self, started: float) -> float | None:
        total = self.timeouts.total
        return None if total is None else started + total

    def _on_read(
        self,
        request: HTTPRequest,
        data: bytes,
        framer: Framer,
        decoder: StreamDecoder,
        stats: _StreamStats,
        deadline: float | None,
    ) -> list[StreamEvent]:
        stats.bytes += len(data)
        frames = framer.feed(data)
        stats.frames += len(frames)
        events = decoder.feed(frames) if frames else []
        self._check_deadline(request, deadline)
        return events

    def _check_deadline(self, request: HTTPRequest, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise self._timeout("total", request, None)

    def _on_end(
        self, request: HTTPRequest, framer: Framer, decoder: StreamDecoder, stats: _StreamStats
    ) -> list[StreamEvent]:
        frames, unterminated = framer.flush()
        stats.frames += len(frames)
        events: list[StreamEvent] = []
        if frames:
            try:
                events = decoder.feed(frames)
            except InvalidStreamDataError as exc:
                if not unterminated:
                    raise
                raise StreamCutError(
                    f"the body ended in the middle of a frame ({exc.data!r})"
                ) from exc
        try:
            events.extend(decoder.close())
        except UNREADABLE as exc:
            raise unreadable(exc, "(the end of the stream)") from exc
        return events

    # --- errors ------------------------------------------------------------------------

    def _read_json(
        self, request: HTTPRequest, response: httpx.Response, body: WholeBodyFramer
    ) -> Any:
        stats = _StreamStats(frames=1, bytes=body.size)
        try:
            text = body.text()
            return json.loads(text)
        except InvalidStreamDataError as error:  # not UTF-8
            self._locate(error, request, stats)
            raise
        except (ValueError, RecursionError) as exc:
            kind = response.headers.get("content-type") or "no Content-Type"
            not_json = InvalidStreamDataError(
                f"the response body ({kind}) is not valid JSON ({exc})", data=text
            )
            self._locate(not_json, request, stats)
            raise not_json from exc

    def _status_error(
        self, request: HTTPRequest, response: httpx.Response, body: bytes
    ) -> ProviderHTTPError:
        text = self.redactor.text(body.decode("utf-8", "replace"))
        try:
            payload: Any = json.loads(text) if text.strip() else None
        except ValueError:
            payload = None
        error_type, message, body_retry = describe_error(payload)
        cls = ProviderHTTPError.class_for_status(response.status_code)
        return cls(
            status_code=response.status_code,
            provider=self.provider,
            url=self.redactor.url(request.url),
            body=text,
            request_id=_request_id(response.headers),
            error_type=error_type,
            error_message=message,
            retry_after=_first_known(_retry_after(response.headers), body_retry),
        )

    def _transport_failure(
        self, request: HTTPRequest, exc: httpx.TransportError, started: float
    ) -> BhumiTimeoutError | BhumiConnectionError:
        refused = isinstance(exc, httpx.ConnectTimeout) and _refused_under_aiohttp(exc)
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) and not refused:
            return self._timeout("connect", request, started)
        if isinstance(exc, httpx.WriteTimeout):
            return self._timeout("sending request", request, started)
        if isinstance(exc, httpx.TimeoutException) and not refused:
            return self._timeout("waiting for headers", request, started)
        reason = self.redactor.text(str(exc) or type(exc).__name__)
        return BhumiConnectionError(
            provider=self.provider, url=self.redactor.url(request.url), reason=reason
        )

    def _timeout(
        self, phase: TimeoutPhase, request: HTTPRequest, started: float | None = None
    ) -> BhumiTimeoutError:
        total = self.timeouts.total
        if started is not None and total is not None and time.monotonic() - started >= total:
            phase = "total"  # the read timeout was clamped to the deadline, and it passed
        limit = {
            "connect": self.timeouts.connect,
            "sending request": self.timeouts.idle,
            "waiting for headers": self.timeouts.read_limit(stream=request.stream),
            "between chunks": self.timeouts.idle
            if request.stream
            else self.timeouts.read_limit(stream=False),
            "total": self.timeouts.total,
        }[phase]
        return BhumiTimeoutError(
            provider=self.provider, url=self.redactor.url(request.url), phase=phase, timeout=limit
        )

    def _cut(
        self, request: HTTPRequest, exc: Exception, stats: _StreamStats | None = None
    ) -> StreamCutError:
        reason = self.redactor.text(str(exc) or type(exc).__name__)
        error = StreamCutError(f"the connection broke mid-response: {reason}")
        self._locate(error, request, stats or _StreamStats())
        return error

    def _locate(self, error: BrokenStreamError, request: HTTPRequest, stats: _StreamStats) -> None:
        if not error.provider:
            redact = self.redactor.text
            error.detail = redact(error.detail)
            error.args = tuple(redact(a) if isinstance(a, str) else a for a in error.args)
            for name in ("data", "error_message"):
                value = getattr(error, name, None)
                if isinstance(value, str):
                    setattr(error, name, redact(value))
            error.locate(
                provider=self.provider,
                url=self.redactor.url(request.url),
                frames=stats.frames,
                bytes_received=stats.bytes,
            )

    # --- logging -----------------------------------------------------------------------

    def _log_start(self, request: HTTPRequest) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "POST %s provider=%s stream=%s tools=%s",
                self.redactor.url(request.url),
                self.provider,
                request.stream,
                request.has_tools,
            )

    def _log_status(self, request: HTTPRequest, response: httpx.Response, attempt: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s answered %d request_id=%s retries=%d",
                self.provider,
                response.status_code,
                _request_id(response.headers),
                attempt,
            )

    def _log_end(
        self, request: HTTPRequest, stats: _StreamStats, outcome: str, started: float
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s stream %s: frames=%d bytes=%d reads_delivered=%d elapsed=%.3fs",
                self.provider,
                outcome,
                stats.frames,
                stats.bytes,
                stats.delivered,
                time.monotonic() - started,
            )


def _refused_under_aiohttp(exc: httpx.TransportError) -> bool:
    """httpx-aiohttp maps every aiohttp connection error, a refused connection included,
    to `ConnectTimeout`; the aiohttp error it chains says whether time ran out."""
    cause = exc.__cause__
    return cause is not None and not isinstance(cause, TimeoutError | asyncio.TimeoutError)


def _request_id(headers: httpx.Headers) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def _retry_after(headers: httpx.Headers) -> float | None:
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _first_known(*values: float | None) -> float | None:
    """The first value that is not `None` (0 is a real answer: retry at once)."""
    return next((v for v in values if v is not None), None)


def _read_capped(chunks: Iterator[bytes]) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    return bytes(body)


async def _aread_capped(chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    return bytes(body)


__all__ = ["DEFAULT_LIMITS", "HTTPRequest", "Transport"]
