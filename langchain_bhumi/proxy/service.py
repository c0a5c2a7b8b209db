"""The proxy's request handling: frontends' codecs in, backends' clients out.

Each request: the frontend's codec decodes it into a neutral `ChatRequest`; the model
map picks a backend; the backend's `ProviderClient` sends it in the backend's format and
decodes the answer into normalized events (tool calls assembled by the same rules as
ChatBhumi); the frontend's encoder writes those events back in the client's format
(`exchange.Exchange`: slots, early stream headers, keep-alives, cancellation). Errors
from a backend come back in the client's format with a fitting status, without any
credential in them. `gate.py` checks proxy keys and writes the access line; `routes.py`
maps URLs to these handlers; `app.py` assembles the ASGI app.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from langchain_bhumi.client import ProviderClient
from langchain_bhumi.core.config import RetryPolicy, Timeouts
from langchain_bhumi.core.decoding import UNREADABLE
from langchain_bhumi.core.errors import BhumiError, ConfigurationError, MissingAPIKeyError
from langchain_bhumi.core.redaction import Redactor
from langchain_bhumi.protocols.base import (
    ChatRequest,
    IncomingRequest,
    RequestDecodeError,
    ResponseEncoder,
    ServerCodec,
)
from langchain_bhumi.protocols.tokens import estimate_tokens
from langchain_bhumi.providers import resolve_provider, wire_format
from langchain_bhumi.proxy.call_extras import CallExtrasCache
from langchain_bhumi.proxy.config import BackendConfig, ProxyConfig, UnknownModelError
from langchain_bhumi.proxy.exchange import (
    Exchange,
    Failure,
    Slots,
    error_response,
    error_status,
)
from langchain_bhumi.proxy.gate import AccessRecord, access_record
from langchain_bhumi.proxy.keys import KeyRing


def input_estimate(codec: ServerCodec, body: dict[str, Any]) -> int:
    """The input tokens of a request body as the frontend's count endpoint counts them
    (also what Anthropic's `message_start` announces)."""
    return estimate_tokens(codec.count_tokens_request(body) or body)


class Backend:
    """A configured upstream: its client (pooled transport) and request defaults.

    An OpenAI-compatible backend may answer some requests in the Responses API
    (`BackendConfig.use_responses_api`, Responses-only models): `for_call` gives the
    backend speaking the format a request needs, on the same connection pool.
    """

    def __init__(self, config: BackendConfig, client: ProviderClient | None = None) -> None:
        self.config = config
        if client is None:
            client = ProviderClient.connect(
                resolve_provider(config.provider, base_url=config.base_url),
                api_key=config.api_key,
                require_key=not config.passthrough_key,
                timeouts=Timeouts(
                    idle=config.timeout,
                    headers=config.header_timeout,
                    first_token=config.first_token_timeout,
                ),
                retry=RetryPolicy(max_retries=config.max_retries),
                async_backend=config.async_backend,
                max_frame_size=config.max_frame_size,
            )
            own = wire_format(client.spec, "", use_responses_api=config.use_responses_api)
            if own != client.protocol.name:
                client = client.speaking(own)
        self.client = client
        self._speaking: dict[str, Backend] = {self.format: self}

    def for_call(self, model: str, tools: list[dict[str, Any]] | None = None) -> Backend:
        """This backend in the wire format a request for `model` with `tools` uses (the
        rule of `providers.wire_format`, as for ChatBhumi)."""
        name = wire_format(
            self.client.spec, model, use_responses_api=self.config.use_responses_api, tools=tools
        )
        backend = self._speaking.get(name)
        if backend is None:
            backend = self._speaking[name] = Backend(self.config, self.client.speaking(name))
        return backend

    @property
    def format(self) -> str:
        return self.client.protocol.name

    def encoder(self, codec: ServerCodec, incoming: IncomingRequest, rid: str) -> ResponseEncoder:
        """The frontend's encoder for an answer from this backend."""
        encoder = codec.response_encoder(incoming, response_id=rid)
        encoder.set_backend(provider=self.client.spec.name, wire_format=self.format)
        return encoder

    async def aclose(self) -> None:
        await self.client.transport.aclose()


def _connect(config: BackendConfig) -> Backend:
    """The backend; a missing key is said in the proxy configuration's terms."""
    try:
        return Backend(config)
    except MissingAPIKeyError as exc:
        table = f"[backends.{config.name}]"
        variable = exc.env_vars[0] if exc.env_vars else None
        fix = (
            f'set api_key = "${{{variable}}}" or api_key_env = "{variable}" in {table}, '
            f"or export {variable}"
            if variable
            else f"set api_key or api_key_env in {table}"
        )
        raise ConfigurationError(
            f"backend {config.name!r} (provider {exc.provider!r}) has no API key: {fix} "
            "(with `serve --model`: pass --api-key)"
        ) from None


class ProxyApp:
    """The proxy's state and handlers (see `create_app`)."""

    def __init__(self, config: ProxyConfig, codecs: dict[str, ServerCodec]) -> None:
        self.config = config
        self.codecs = codecs
        self.backends = {name: _connect(b) for name, b in config.backends.items()}
        self.keys = KeyRing(config.proxy_keys)
        self.slots = Slots(config.max_concurrent, config.queue_timeout)
        self.call_extras = CallExtrasCache(
            path=config.signature_store, file_capacity=config.signature_store_size
        )
        self.secrets = config.secrets() + tuple(
            b.client.api_key for b in self.backends.values() if b.client.api_key
        )
        self._redactor = Redactor(self.secrets)

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
        """Decode, route and answer one model request in `codec`'s API shape."""
        record = access_record(request.scope)
        record.fields.update(frontend=codec.name, model=model)
        try:
            self._count_request(record)
            body = await self._read_json(request)
            incoming = codec.decode_request(body, model=model, stream=stream)
            incoming.sse = sse
            backend, chat = self._route(incoming, record.client_key, codec)
            record.fields.update(
                model=incoming.chat.model, backend=backend.config.name, stream=chat.stream
            )
            if self.config.log_prompts:
                record.fields["prompt"] = _last_text(incoming)
            passthrough = record.client_key if backend.config.passthrough_key else None
            http_request = backend.client.http_request(chat, api_key=passthrough)
            encoder = backend.encoder(codec, incoming, record.rid)
            if chat.stream and encoder.announces_input_tokens:
                encoder.input_tokens = input_estimate(codec, body)
        except Failure as failure:
            return self._error(codec, failure.status, failure.message, record, failure.headers)
        except RequestDecodeError as exc:
            return self._error(codec, 400, str(exc), record)
        except UnknownModelError as exc:
            return self._error(codec, 404, str(exc), record)
        except ConfigurationError as exc:  # what the backend's format cannot say (audio, ...)
            return self._error(codec, 400, str(exc), record)
        except BhumiError as exc:
            return self._error(codec, error_status(exc), str(exc), record)
        except UNREADABLE as exc:  # a shape the backend's format cannot take (see _unsendable)
            return self._error(codec, 400, _unsendable(exc), record)
        return Exchange(self, codec, encoder, backend, http_request, record)

    def _route(
        self, incoming: IncomingRequest, client_key: str | None, codec: ServerCodec
    ) -> tuple[Backend, ChatRequest]:
        backend_config, backend_model = self.config.route(incoming.chat.model)
        backend = self.backends[backend_config.name].for_call(backend_model, incoming.chat.tools)
        if backend_config.passthrough_key and not client_key:
            raise Failure(401, f"backend {backend_config.name!r} needs the client's own API key")
        chat = codec.backend_request(incoming, backend.client.protocol, backend_model)
        defaults = {
            k: v for k, v in backend_config.params.items() if getattr(chat, k, None) is None
        }
        chat = self.call_extras.restore(chat)
        dropped = dict.fromkeys(backend_config.drop)
        return backend, dataclasses.replace(chat, model=backend_model, **{**defaults, **dropped})

    async def count_tokens(self, request: Request, codec: ServerCodec) -> Response:
        """A token-count endpoint (`/v1/messages/count_tokens`, `:countTokens`): the same
        body reading, size limit and error format as `handle` (the gate checked the key)."""
        record = access_record(request.scope)
        record.fields.update(frontend=codec.name)
        try:
            body = await self._read_json(request)
            tokens = input_estimate(codec, body)
        except Failure as failure:
            return self._error(codec, failure.status, failure.message, record, failure.headers)
        except UNREADABLE as exc:
            return self._error(codec, 400, _unsendable(exc), record)
        return JSONResponse(codec.count_tokens_response(tokens))

    # --- helpers -----------------------------------------------------------------------

    def redact(self, text: str, client_key: str | None = None) -> str:
        """`text` without any configured credential, nor the client's own key."""
        text = self._redactor.text(text)
        if client_key and client_key in text:
            text = text.replace(client_key, "***")
        return text

    @staticmethod
    def _count_request(record: AccessRecord) -> None:
        """Count the request against its proxy key's per-minute limit."""
        if record.key is None:
            return
        wait = record.key.admit()
        if wait is not None:
            limit = record.key.key.requests_per_minute
            raise Failure(
                429,
                f"proxy key {record.key.name!r} is over its limit of {limit} requests per "
                f"minute; retry in {wait:.0f} s",
                {"retry-after": f"{wait:.0f}"},
            )

    async def _read_json(self, request: Request) -> dict[str, Any]:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Failure(413, f"request body larger than {limit} bytes")
        data = bytearray()
        try:
            async for piece in request.stream():
                data += piece
                if len(data) > limit:
                    raise Failure(413, f"request body larger than {limit} bytes")
        except ClientDisconnect:
            raise Failure(400, "the client disconnected while sending the request") from None
        try:
            body = json.loads(data) if data else {}
        except ValueError as exc:
            raise Failure(400, f"the request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise Failure(400, "the request body is JSON nested too deeply to read") from None
        if not isinstance(body, dict):
            raise Failure(400, "the request body must be a JSON object")
        return body

    def _error(
        self,
        codec: ServerCodec,
        status: int,
        message: str,
        record: AccessRecord,
        headers: dict[str, str] | None = None,
    ) -> Response:
        message = self.redact(message, record.client_key)
        record.fields["error"] = message
        return error_response(codec, status, message, headers)

    async def aclose(self) -> None:
        for backend in self.backends.values():
            await backend.aclose()
        self.call_extras.close()


def _unsendable(exc: BaseException) -> str:
    """The 400 message for a request that decoded but could not be turned into the
    backend's request (a value of a type the translation does not expect, nesting deeper
    than Python recurses): the request's fault, not a proxy failure."""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"the request has a value of a shape the proxy cannot translate ({reason:.300})"


def _last_text(incoming: IncomingRequest) -> str:
    for message in reversed(incoming.chat.messages):
        text = message.text
        if text:
            return text[:200]
    return ""


__all__ = [
    "Backend",
    "CallExtrasCache",
    "ProxyApp",
    "error_status",
    "estimate_tokens",
    "input_estimate",
]
