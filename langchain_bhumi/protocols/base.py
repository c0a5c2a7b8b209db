"""What every wire-format module provides, and the neutral request it encodes.

A protocol module knows one wire format in both directions. Client side (now):
`encode_request` turns LangChain messages plus a `ChatRequest` into a request body,
`stream_decoder` decodes a streamed response into normalized events and
`decode_response` does the same for a whole JSON response, so that streamed and
non-streamed calls build the same message. Provider differences that are not the
format's own live in `providers.ProviderSpec` and reach the module as `ChatRequest`
fields, never as a provider name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from langchain_core.messages import BaseMessage

from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.transport import StreamDecoder

TOOL_CALL_EXTRAS = "tool_call_extras"
"""`additional_kwargs` key: `{tool_call_id: provider data}` that must travel back with each
call on the next turn (Gemini thought signatures, ...)."""

ToolChoice = str | dict[str, Any]
"""`"auto"`, `"required"`, `"none"`, a tool name, or a format-specific dict."""


@dataclass(slots=True)
class ChatRequest:
    """One chat call in neutral terms.

    `tools` are OpenAI-style function tools (`{"type": "function", "function": {...}}`),
    the shape `langchain_core.utils.function_calling.convert_to_openai_tool` produces;
    other tool dicts pass through. `response_format` is OpenAI-style (`json_schema` /
    `json_object`). `extra_body` is merged last, so it can set anything.
    """

    model: str
    messages: Sequence[BaseMessage]
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    """`"low"`/`"medium"`/`"high"` (OpenAI-style); formats map it as they can."""
    thinking_budget: int | None = None
    """Token budget for reasoning (Anthropic `budget_tokens`, Gemini `thinkingBudget`)."""
    include_usage: bool = True
    provider: str = ""
    """The registry name of the provider the request goes to (set by `ProviderClient`);
    provider state in earlier messages is replayed only to the provider that produced it."""
    max_tokens_field: str = "max_tokens"
    send_reasoning: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)


class ChatProtocol(ABC):
    """A wire format, client direction."""

    name: ClassVar[str]
    """Registry name of the format (`"openai_chat"`, `"anthropic"`, `"gemini"`)."""

    default_root: ClassVar[str] = "/v1"
    """Path appended to a bare `scheme://host[:port]` base URL."""

    @abstractmethod
    def path(self, model: str, *, stream: bool) -> str:
        """The endpoint path after the base URL (e.g. `/chat/completions`)."""

    @abstractmethod
    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """Headers that carry the API key in this format."""

    @abstractmethod
    def encode_request(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body for `request`."""

    @abstractmethod
    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed response."""

    @abstractmethod
    def decode_response(self, body: Any) -> list[StreamEvent]:
        """The events of one non-streamed response body."""

    def supports_response_format(self, model: str, kind: str) -> bool:
        """Whether `model` honours a `response_format` of this kind natively.

        `kind` is `"json_schema"` or `"json_object"`. When it does not,
        `with_structured_output` asks for a forced tool call instead, which every tool-
        calling model supports.
        """
        return True


# --- server direction (the translating proxy) --------------------------------------------


@dataclass(slots=True)
class IncomingRequest:
    """A client's request, decoded by the frontend's format.

    `chat` is the neutral request (`chat.model` is the name the client asked for);
    `include_usage` says whether a streamed answer must carry usage (OpenAI clients ask
    with `stream_options.include_usage`; other formats always carry it); `sse` is false
    when a streamed answer must be framed another way (Gemini without `alt=sse`: one
    JSON array). `chat.extra_body` holds request fields the codec does not understand,
    which the proxy forwards only to a backend speaking the same format.
    """

    chat: ChatRequest
    include_usage: bool = True
    sse: bool = True


class ResponseEncoder(ABC):
    """Encodes one response's normalized events in a format's own shape.

    Streaming: `start()`, then `encode(events)` for each batch, then `finish()`; or
    `error(...)` instead of `finish()` when the backend fails mid-stream. Not streaming:
    `complete(events)` with every event at once.
    """

    media_type: ClassVar[str] = "text/event-stream"

    def start(self) -> bytes:
        """Bytes to send before the first event (a preamble such as `[`), if any."""
        return b""

    @abstractmethod
    def encode(self, events: list[StreamEvent]) -> bytes:
        """The wire bytes for one batch of events (possibly empty)."""

    @abstractmethod
    def finish(self) -> bytes:
        """The closing bytes: final metadata, usage, end marker."""

    @abstractmethod
    def error(self, status: int, error_type: str, message: str) -> bytes:
        """An in-stream error in this format, ending the stream."""

    @abstractmethod
    def complete(self, events: list[StreamEvent]) -> dict[str, Any]:
        """The whole non-streamed response body."""


class ServerCodec(ABC):
    """A wire format, server direction: what a proxy frontend needs."""

    name: ClassVar[str]

    @abstractmethod
    def decode_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> IncomingRequest:
        """The neutral request. `model`/`stream` come from the URL where the format puts
        them there (Gemini); otherwise from the body. Raises `RequestDecodeError`."""

    @abstractmethod
    def response_encoder(self, request: IncomingRequest, *, response_id: str) -> ResponseEncoder:
        """An encoder for the answer to `request` (model name as the client asked)."""

    @abstractmethod
    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        """A non-streamed error response body in this format."""


class RequestDecodeError(ValueError):
    """A client request that cannot be decoded; the proxy answers 400 with the message."""
