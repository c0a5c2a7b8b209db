"""The proxy's request handling: frontends' codecs in, backends' clients out.

Each request: the frontend's codec decodes it into a neutral `ChatRequest`; the model
map picks a backend; the backend's `ProviderClient` sends it in the backend's format and
decodes the answer into normalized events (tool calls assembled by the same rules as
ChatBhumi); the frontend's encoder writes those events back in the client's format.
Errors from a backend come back in the client's format with a fitting status. A client
that disconnects cancels the backend request. `routes.py` maps URLs to these handlers;
`app.py` assembles the ASGI app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import AIMessage
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from langchain_bhumi.client import ProviderClient
from langchain_bhumi.core.config import RetryPolicy, Timeouts
from langchain_bhumi.core.errors import (
    BhumiConnectionError,
    BhumiError,
    BhumiTimeoutError,
    ConfigurationError,
    ProviderHTTPError,
)
from langchain_bhumi.core.events import StreamEvent, ToolCallDone
from langchain_bhumi.protocols.base import (
    TOOL_CALL_EXTRAS,
    ChatRequest,
    IncomingRequest,
    RequestDecodeError,
    ServerCodec,
)
from langchain_bhumi.providers import resolve_provider
from langchain_bhumi.proxy.config import BackendConfig, ProxyConfig, UnknownModelError

logger = logging.getLogger("langchain_bhumi.proxy")

# Generic error kinds; each codec words them its own way.
_ERROR_TYPES = {
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


class Backend:
    """A configured upstream: its client (pooled transport) and request defaults."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.client = ProviderClient.connect(
            resolve_provider(config.provider, base_url=config.base_url),
            api_key=config.api_key,
            require_key=not config.passthrough_key,
            timeouts=Timeouts(idle=config.timeout, headers=config.header_timeout),
            retry=RetryPolicy(max_retries=config.max_retries),
            max_frame_size=config.max_frame_size,
        )

    @property
    def format(self) -> str:
        return self.client.protocol.name

    async def aclose(self) -> None:
        await self.client.transport.aclose()


class CallExtrasCache:
    """Provider data that must travel with a tool call, kept for the next turn.

    Gemini 3 wants each function call's thought signature back; an OpenAI or Anthropic
    client has nowhere to keep it and sends back only the call's id, name and arguments.
    The proxy remembers `id -> extras` from responses (bounded, oldest dropped first) and
    puts them back on the assistant messages of later requests.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._extras: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def remember(self, events: list[StreamEvent]) -> None:
        for event in events:
            if isinstance(event, ToolCallDone) and event.extras:
                self._extras[event.id] = event.extras
                self._extras.move_to_end(event.id)
                if len(self._extras) > self.capacity:
                    self._extras.popitem(last=False)

    def restore(self, chat: ChatRequest) -> ChatRequest:
        if not self._extras:
            return chat
        messages = list(chat.messages)
        changed = False
        for number, message in enumerate(messages):
            if not isinstance(message, AIMessage) or not message.tool_calls:
                continue
            known = dict(message.additional_kwargs.get(TOOL_CALL_EXTRAS) or {})
            restored = {
                call_id: {**self._extras[call_id], **known.get(call_id, {})}
                for call_id in (call["id"] for call in message.tool_calls)
                if call_id is not None and call_id in self._extras
            }
            if restored:
                kwargs = {**message.additional_kwargs, TOOL_CALL_EXTRAS: {**known, **restored}}
                messages[number] = message.model_copy(update={"additional_kwargs": kwargs})
                changed = True
        return dataclasses.replace(chat, messages=messages) if changed else chat


class _Failure(Exception):
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
    if isinstance(exc, BhumiConnectionError | BhumiError):
        return 502
    return 500


class ProxyApp:
    """The proxy's state and handlers (see `create_app`)."""

    def __init__(self, config: ProxyConfig, codecs: dict[str, ServerCodec]) -> None:
        self.config = config
        self.codecs = codecs
        self.backends = {name: Backend(b) for name, b in config.backends.items()}
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self.call_extras = CallExtrasCache()

    # --- the shared path ---------------------------------------------------------------

    async def handle(
        self,
        request: Request,
        codec: ServerCodec,
        *,
        model: str | None = None,
        stream: bool | None = None,
        sse: bool = True,
    ) -> Response:
        started = time.monotonic()
        rid = "req_" + secrets.token_hex(8)
        log: dict[str, Any] = {"rid": rid, "frontend": codec.name, "model": model}
        try:
            client_key = self._authorize(request)
            body = await self._read_json(request)
            incoming = codec.decode_request(body, model=model, stream=stream)
            incoming.sse = sse
            backend, chat = self._route(incoming, client_key, codec)
            log.update(model=incoming.chat.model, backend=backend.config.name, stream=chat.stream)
            if self.config.log_prompts:
                log["prompt"] = _last_text(incoming)
            if self._slots.locked():
                raise _Failure(
                    503,
                    "the proxy is at its concurrency limit; retry shortly",
                    {"retry-after": "1"},
                )
            await self._slots.acquire()
        except _Failure as failure:
            return self._error(
                codec, failure.status, failure.message, log, started, failure.headers
            )
        except RequestDecodeError as exc:
            return self._error(codec, 400, str(exc), log, started)
        except UnknownModelError as exc:
            return self._error(codec, 404, str(exc), log, started)
        except ConfigurationError as exc:
            return self._error(codec, 500, str(exc), log, started)
        try:
            passthrough = client_key if backend.config.passthrough_key else None
            http_request = backend.client.http_request(chat, api_key=passthrough)
            if chat.stream:
                return await self._stream(codec, incoming, backend, http_request, log, started, rid)
            events = await backend.client.acomplete(http_request)
            self.call_extras.remember(events)
            encoder = codec.response_encoder(incoming, response_id=rid)
            self._log(log, 200, started, ttft=time.monotonic() - started)
            return JSONResponse(encoder.complete(events))
        except BhumiError as exc:
            return self._error(codec, error_status(exc), str(exc), log, started)
        finally:
            if not chat.stream:
                self._slots.release()

    async def _stream(
        self,
        codec: ServerCodec,
        incoming: IncomingRequest,
        backend: Backend,
        http_request: Any,
        log: dict[str, Any],
        started: float,
        rid: str,
    ) -> Response:
        encoder = codec.response_encoder(incoming, response_id=rid)
        batches = backend.client.astream(http_request).__aiter__()
        try:  # open the backend stream first: a failure now is a proper HTTP error
            first = await anext(batches, None)
        except BhumiError as exc:
            self._slots.release()
            return self._error(codec, error_status(exc), str(exc), log, started)
        except BaseException:
            self._slots.release()
            raise
        ttft = time.monotonic() - started

        async def body() -> AsyncIterator[bytes]:
            status = 200
            try:
                yield encoder.start()
                if first is not None:
                    self.call_extras.remember(first)
                    yield encoder.encode(first)
                    async for events in batches:
                        self.call_extras.remember(events)
                        data = encoder.encode(events)
                        if data:
                            yield data
                yield encoder.finish()
            except BhumiError as exc:
                status = error_status(exc)
                yield encoder.error(status, _ERROR_TYPES.get(status, "api_error"), str(exc))
            except (asyncio.CancelledError, GeneratorExit):
                status = 499  # the client went away: the backend request is cancelled below
                raise
            finally:
                await batches.aclose()  # type: ignore[attr-defined]
                self._slots.release()
                self._log(log, status, started, ttft=ttft)

        return StreamingResponse(body(), media_type=encoder.media_type)

    def _route(
        self, incoming: IncomingRequest, client_key: str | None, codec: ServerCodec
    ) -> tuple[Backend, ChatRequest]:
        backend_config, backend_model = self.config.route(incoming.chat.model)
        backend = self.backends[backend_config.name]
        if backend_config.passthrough_key and not client_key:
            raise _Failure(401, f"backend {backend_config.name!r} needs the client's own API key")
        chat = incoming.chat
        defaults = {
            k: v for k, v in backend_config.params.items() if getattr(chat, k, None) is None
        }
        chat = self.call_extras.restore(chat)
        dropped = dict.fromkeys(backend_config.drop)
        return backend, dataclasses.replace(
            chat,
            model=backend_model,
            # Fields the frontend did not understand mean something only in its own format.
            extra_body=chat.extra_body if backend.format == codec.name else {},
            **{**defaults, **dropped},
        )

    # --- helpers -----------------------------------------------------------------------

    def _authorize(self, request: Request) -> str | None:
        """The client's credential (any header or `key` parameter); checked against the
        proxy keys when the config sets some. Never forwarded unless passthrough."""
        headers = request.headers
        auth = headers.get("authorization", "")
        key = (
            (auth[7:] if auth.lower().startswith("bearer ") else None)
            or headers.get("x-api-key")
            or headers.get("x-goog-api-key")
            or headers.get("api-key")
            or request.query_params.get("key")
        )
        if self.config.proxy_keys and key not in self.config.proxy_keys:
            raise _Failure(401, "missing or unknown proxy key")
        return key

    async def _read_json(self, request: Request) -> dict[str, Any]:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Failure(413, f"request body larger than {limit} bytes")
        data = bytearray()
        try:
            async for piece in request.stream():
                data += piece
                if len(data) > limit:
                    raise _Failure(413, f"request body larger than {limit} bytes")
        except ClientDisconnect:
            raise _Failure(400, "the client disconnected while sending the request") from None
        try:
            body = json.loads(data) if data else {}
        except ValueError as exc:
            raise _Failure(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _Failure(400, "the request body must be a JSON object")
        return body

    def _error(
        self,
        codec: ServerCodec,
        status: int,
        message: str,
        log: dict[str, Any],
        started: float,
        headers: dict[str, str] | None = None,
    ) -> Response:
        self._log(log, status, started, error=message)
        body = codec.error_body(status, _ERROR_TYPES.get(status, "api_error"), message)
        return JSONResponse(body, status_code=status, headers=headers)

    def _log(self, log: dict[str, Any], status: int, started: float, **extra: Any) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        fields = {**log, "status": status, **extra, "total": time.monotonic() - started}
        text = " ".join(
            f"{k}={v:.3f}s" if k in ("ttft", "total") and isinstance(v, float) else f"{k}={v}"
            for k, v in fields.items()
            if v is not None
        )
        logger.info("%s", text)

    async def aclose(self) -> None:
        for backend in self.backends.values():
            await backend.aclose()


def _last_text(incoming: IncomingRequest) -> str:
    for message in reversed(incoming.chat.messages):
        text = message.text
        if text:
            return text[:200]
    return ""


__all__ = ["Backend", "CallExtrasCache", "ProxyApp", "error_status"]
