"""`ProviderClient`: one provider's requests in, normalized events out, no LangChain chunks.

The layer under `ChatBhumi` and the proxy's backends: it turns a neutral `ChatRequest`
into the provider's HTTP request (wire format, endpoint, auth headers, the provider's
quirks) and sends it through a pooled `Transport`, yielding the decoded events of each
network read (streaming) or of the whole body. `ProviderClient.connect` is the one place
a client is built from settings (key lookup, timeouts, retries, pools), for `ChatBhumi`
and the proxy alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx

from langchain_bhumi._version import __version__
from langchain_bhumi.core.config import DEFAULT_MAX_FRAME_SIZE, RetryPolicy, Timeouts
from langchain_bhumi.core.errors import BhumiTimeoutError
from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.first_token import FirstTokenWatch
from langchain_bhumi.core.transport import AsyncBackend, HTTPRequest, Transport
from langchain_bhumi.protocols import ChatProtocol, ChatRequest, get_protocol
from langchain_bhumi.providers import ResolvedProvider, endpoint_url

USER_AGENT = f"langchain-bhumi/{__version__}"


class ProviderClient:
    """Sends `ChatRequest`s to one provider.

    Args:
        resolved: The provider and base URL (see `providers.resolve_provider`).
        transport: The pooled transport to send through.
        api_key: The key, or `None` for servers that need none.
        headers: Extra headers (applied last, so they can override protocol headers).
        wire_format: The wire format to speak, when not the provider's own (an
            OpenAI-compatible provider switched to the Responses API).
    """

    @classmethod
    def connect(
        cls,
        resolved: ResolvedProvider,
        *,
        api_key: str | None = None,
        require_key: bool = True,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        async_backend: AsyncBackend = "httpx",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> ProviderClient:
        """A client for `resolved` with its own pooled transport.

        The key is `api_key`, else the provider's environment variable; a provider's own
        endpoint without one raises `MissingAPIKeyError` unless `require_key` is false (a
        proxy backend that forwards each client's key). The wait for a stream to start
        defaults to the provider's (long for local servers, which read the whole prompt
        first).
        """
        key = (
            resolved.require_api_key(api_key)
            if require_key
            else (api_key or resolved.spec.find_api_key())
        )
        timeouts = timeouts or Timeouts()
        if timeouts.headers is None and resolved.spec.header_timeout is not None:
            timeouts = dataclasses.replace(timeouts, headers=resolved.spec.header_timeout)
        transport = Transport(
            provider=resolved.spec.name,
            timeouts=timeouts,
            retry=retry or RetryPolicy(),
            secrets=(key,),
            http_client=http_client,
            http_async_client=http_async_client,
            async_backend=async_backend,
            max_frame_size=max_frame_size,
        )
        return cls(resolved, transport, api_key=key, headers=headers)

    def __init__(
        self,
        resolved: ResolvedProvider,
        transport: Transport,
        *,
        api_key: str | None,
        headers: dict[str, str] | None = None,
        wire_format: str | None = None,
    ) -> None:
        self.resolved = resolved
        self.spec = resolved.spec
        self.protocol: ChatProtocol = get_protocol(wire_format or resolved.spec.protocol)
        self.transport = transport
        self.api_key = api_key
        self.headers = headers or {}
        self._endpoints: dict[tuple[str, bool], str] = {}

    def speaking(self, wire_format: str) -> ProviderClient:
        """This client in another wire format, on the same connection pool and key."""
        return ProviderClient(
            self.resolved,
            self.transport,
            api_key=self.api_key,
            headers=self.headers,
            wire_format=wire_format,
        )

    def endpoint(self, model: str, *, stream: bool) -> str:
        """The URL a request for `model` goes to."""
        url = self._endpoints.get((model, stream))
        if url is None:
            root = self.spec.root if self.spec.root is not None else self.protocol.default_root
            path = self.protocol.path(model, stream=stream)
            url = self._endpoints[(model, stream)] = endpoint_url(
                self.resolved.base_url, root, path
            )
        return url

    def http_request(self, chat: ChatRequest, *, api_key: str | None = None) -> HTTPRequest:
        """The HTTP request for `chat`, with this provider's field names and quirks."""
        chat = dataclasses.replace(
            chat,
            include_usage=chat.include_usage and self.spec.stream_options,
            provider=self.spec.name,
            max_tokens_field=self.resolved.max_tokens_field,
            reasoning_replay=self.spec.reasoning_replay,
            # A provider's id rule is for its own format (OpenAI's 40 characters are chat
            # completions'; its Responses API takes 64): another format keeps its own.
            tool_ids=self.spec.tool_ids if self.protocol.name == self.spec.protocol else None,
        )
        headers = {
            "user-agent": USER_AGENT,
            **self.protocol.auth_headers(api_key or self.api_key),
            **self.spec.default_headers,
            **self.headers,
        }
        return HTTPRequest(
            url=self.endpoint(chat.model, stream=chat.stream),
            headers=headers,
            body=self.protocol.encode_request(chat),
            stream=chat.stream,
            has_tools=bool(chat.tools),
        )

    def count_tokens(self, chat: ChatRequest) -> int | None:
        """The input tokens of `chat` by the provider's count endpoint (one request), or
        `None` when its format has none."""
        request = self.http_request(chat)
        call = self.protocol.count_tokens_call(chat.model, request.body)
        if call is None:
            return None
        path, body = call
        root = self.spec.root if self.spec.root is not None else self.protocol.default_root
        url = endpoint_url(self.resolved.base_url, root, path)
        answer = self.transport.post(HTTPRequest(url=url, headers=request.headers, body=body))
        return self.protocol.decode_token_count(answer)

    def stream(self, request: HTTPRequest) -> Iterator[list[StreamEvent]]:
        """The events of a streamed request, one list per network read."""
        if self.transport.timeouts.first_token is None:
            return self.transport.stream(request, self.protocol.stream_decoder())
        return self._watched_stream(request)

    def astream(self, request: HTTPRequest) -> AsyncIterator[list[StreamEvent]]:
        """Async twin of `stream`."""
        if self.transport.timeouts.first_token is None:
            return self.transport.astream(request, self.protocol.stream_decoder())
        return self._watched_astream(request)

    def _watched_stream(self, request: HTTPRequest) -> Iterator[list[StreamEvent]]:
        yield from self.transport.stream(request, self._first_token_watch(request))

    async def _watched_astream(self, request: HTTPRequest) -> AsyncIterator[list[StreamEvent]]:
        async for events in self.transport.astream(request, self._first_token_watch(request)):
            yield events

    def _first_token_watch(self, request: HTTPRequest) -> FirstTokenWatch:
        """The decoder, watched from now for the first content (`Timeouts.first_token`)."""
        limit = self.transport.timeouts.first_token
        assert limit is not None
        url = self.transport.redactor.url(request.url)
        return FirstTokenWatch(
            self.protocol.stream_decoder(),
            limit,
            lambda: BhumiTimeoutError(
                provider=self.spec.name,
                url=url,
                phase="waiting for the first token",
                timeout=limit,
            ),
        )

    def complete(self, request: HTTPRequest) -> list[StreamEvent]:
        """The events of a non-streamed request."""
        return self.protocol.decode_response(self.transport.post(request))

    async def acomplete(self, request: HTTPRequest) -> list[StreamEvent]:
        """Async twin of `complete`."""
        return self.protocol.decode_response(await self.transport.apost(request))
