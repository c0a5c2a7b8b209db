"""What every wire format provides, in both directions, and the neutral request between them.

Client direction (`ChatProtocol`, used by `ChatBhumi` and the proxy's backends):
`encode_request` turns LangChain messages plus a `ChatRequest` into a request body;
`stream_decoder` decodes a response, streamed or whole, into normalized events, so that
streamed and non-streamed calls build the same message. Provider differences that are
not the format's own live in `providers.ProviderSpec` and reach the module as
`ChatRequest` fields, never as a provider name.

Server direction (`ServerCodec`, used by the proxy's frontends): `decode_request` turns a
client's request into a `ChatRequest`; a `ResponseEncoder` writes normalized events back
in the format's own shape. Operations only some APIs have (token counting, model lists)
are optional hooks with a default that says "not in this API".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, BaseMessage, InvalidToolCall

from langchain_bhumi.core.decoding import FrameDecoder
from langchain_bhumi.core.events import StreamEvent

TOOL_CALL_EXTRAS = "tool_call_extras"
"""`additional_kwargs` key: `{tool_call_id: provider data}` that must travel back with each
call on the next turn (Gemini thought signatures, ...)."""

TOOL_CALL_ERRORS = "tool_call_errors"
"""`additional_kwargs` key: `{tool_call_id: {"args": ..., "error": ...}}` for each invalid
call, its arguments exactly as the model sent them and why they are invalid. A streamed
message needs it: LangChain rebuilds `invalid_tool_calls` from the argument pieces at
every `+`, without the reason, and the pieces of a cut call end with a character that
stops LangChain's partial-JSON repair (see `message_builder`)."""


def invalid_call_arguments(message: AIMessage, call: InvalidToolCall) -> str:
    """The arguments of an invalid call as the model wrote them, to send back to it."""
    record = (message.additional_kwargs.get(TOOL_CALL_ERRORS) or {}).get(call.get("id"))
    exact = record.get("args") if isinstance(record, dict) else None
    if isinstance(exact, str):
        return exact
    return call.get("args") or ""


ToolChoice = str | dict[str, Any]
"""`"auto"`, `"required"`, `"none"`, a tool name, or a format-specific dict."""


_GENERATION = {"param": "generation"}
_TOOLS = {"param": "tools"}


@dataclass(slots=True)
class ChatRequest:
    """One chat call in neutral terms.

    `tools` are OpenAI-style function tools (`{"type": "function", "function": {...}}`),
    the shape `langchain_core.utils.function_calling.convert_to_openai_tool` produces;
    other tool dicts pass through. `response_format` is OpenAI-style (`json_schema` /
    `json_object`). `extra_body` is merged last, so it can set anything.

    Fields marked as generation parameters (`GENERATION_PARAMS`) are the ones a model
    instance or a proxy backend may set as defaults; with the tool fields they are what a
    call may override (`CALL_PARAMS`).
    """

    model: str
    messages: Sequence[BaseMessage]
    stream: bool = False
    tools: list[dict[str, Any]] | None = field(default=None, metadata=_TOOLS)
    tool_choice: ToolChoice | None = field(default=None, metadata=_TOOLS)
    parallel_tool_calls: bool | None = field(default=None, metadata=_TOOLS)
    response_format: dict[str, Any] | None = field(default=None, metadata=_TOOLS)
    temperature: float | None = field(default=None, metadata=_GENERATION)
    top_p: float | None = field(default=None, metadata=_GENERATION)
    top_k: int | None = field(default=None, metadata=_GENERATION)
    max_tokens: int | None = field(default=None, metadata=_GENERATION)
    stop: list[str] | None = field(default=None, metadata=_GENERATION)
    seed: int | None = field(default=None, metadata=_GENERATION)
    reasoning_effort: str | None = field(default=None, metadata=_GENERATION)
    """`"low"`/`"medium"`/`"high"` (OpenAI-style); formats map it as they can."""
    thinking_budget: int | None = field(default=None, metadata=_GENERATION)
    """Token budget for reasoning (Anthropic `budget_tokens`, Gemini `thinkingBudget`)."""
    include_usage: bool = True
    provider: str = ""
    """The registry name of the provider the request goes to (set by `ProviderClient`);
    provider state in earlier messages is replayed only to the provider that produced it."""
    max_tokens_field: str = "max_tokens"
    send_reasoning: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)


GENERATION_PARAMS = frozenset(
    f.name for f in fields(ChatRequest) if f.metadata.get("param") == "generation"
)
"""Sampling and reasoning parameters: defaults of a model or backend, overridable per call."""

CALL_PARAMS = GENERATION_PARAMS | {
    f.name for f in fields(ChatRequest) if f.metadata.get("param") == "tools"
}
"""Everything a call may set by keyword (`llm.invoke(..., temperature=0, tools=[...])`)."""


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
    def stream_decoder(self) -> FrameDecoder:
        """A fresh decoder for one response."""

    def decode_response(self, body: Any) -> list[StreamEvent]:
        """The events of one non-streamed response body (the stream decoder's reading)."""
        return self.stream_decoder().decode_whole(body)

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
    """Registry name of the format, the same as its client direction's."""

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

    # --- optional operations: `None` means this API has no such endpoint --------------

    def count_tokens_request(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The part of a token-count request body to count (`None`: no count endpoint)."""
        return None

    def count_tokens_response(self, total: int) -> dict[str, Any]:
        """A token-count answer (only called when `count_tokens_request` is not `None`)."""
        raise NotImplementedError(f"{self.name} has no token count endpoint")

    def models_list(self, names: list[str]) -> dict[str, Any] | None:
        """A model-list answer naming `names` (`None`: no model list endpoint)."""
        return None


class RequestDecodeError(ValueError):
    """A client request that cannot be decoded; the proxy answers 400 with the message."""
