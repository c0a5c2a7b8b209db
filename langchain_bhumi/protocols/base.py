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

import dataclasses
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeVar, cast

from langchain_core.messages import AIMessage, BaseMessage, InvalidToolCall, SystemMessage

from langchain_bhumi.core.decoding import FrameDecoder
from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.tool_ids import ToolIdRule

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


@dataclass(frozen=True, slots=True)
class ReasoningReplay:
    """Which earlier assistant turns carry their reasoning text back to the server, and how.

    Attributes:
        when: `"never"`; `"tool_calls"`: the turns that made tool calls (DeepSeek and Kimi
            thinking models answer HTTP 400 when such a turn lacks it; other turns need
            none); `"always"`: every turn that has reasoning.
        field: The assistant-message field that carries it: `reasoning_content`
            (DeepSeek, Kimi, GLM, Qwen, llama.cpp) or `reasoning` (Ollama, vLLM).
        placeholder: Sent on a tool-call turn that has no reasoning (one another
            provider wrote), where the provider requires the field: DeepSeek accepts
            `""`, Kimi only a non-empty `" "`. `None` leaves the field out.
    """

    when: Literal["never", "tool_calls", "always"] = "never"
    field: str = "reasoning_content"
    placeholder: str | None = None

    def text_for(self, reasoning: str, *, has_calls: bool) -> str | None:
        """The reasoning text to send with one assistant turn, or `None` for none."""
        if self.when == "never" or (self.when == "tool_calls" and not has_calls):
            return None
        if reasoning:
            return reasoning
        return self.placeholder if has_calls else None


NO_REPLAY = ReasoningReplay()
"""Reasoning stays out of the history sent (what most servers expect)."""


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
    presence_penalty: float | None = None
    """Penalty on tokens already present (OpenAI, Gemini; Anthropic has none). Set by the
    proxy's frontends; `ChatBhumi` callers pass it in `model_kwargs`."""
    frequency_penalty: float | None = None
    """Penalty growing with each repetition of a token (OpenAI, Gemini), as above."""
    include_usage: bool = True
    provider: str = ""
    """The registry name of the provider the request goes to (set by `ProviderClient`);
    provider state in earlier messages is replayed only to the provider that produced it."""
    max_tokens_field: str = "max_tokens"
    send_reasoning: bool | None = None
    """Force earlier turns' reasoning back to the server (`True`) or keep it out (`False`);
    `None` follows `reasoning_replay`."""
    reasoning_replay: ReasoningReplay = NO_REPLAY
    """The provider's rule for reasoning in the history (set by `ProviderClient`)."""
    tool_ids: ToolIdRule | None = None
    """The tool-call ids the provider accepts (set by `ProviderClient`); `None` means the
    format's own rule (`ChatProtocol.tool_ids`)."""
    extra_body: dict[str, Any] = field(default_factory=dict)

    def replay(self) -> ReasoningReplay:
        """The reasoning rule in force: the provider's, unless `send_reasoning` forces it."""
        rule = self.reasoning_replay
        if self.send_reasoning is None:
            return rule
        return ReasoningReplay(
            "always" if self.send_reasoning else "never", rule.field, rule.placeholder
        )


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
    """Registry name of the format (`"openai_chat"`, `"openai_responses"`, `"anthropic"`,
    `"gemini"`)."""

    default_root: ClassVar[str] = "/v1"
    """Path appended to a bare `scheme://host[:port]` base URL."""

    tool_ids: ClassVar[ToolIdRule | None] = None
    """The tool-call ids the format accepts, when it restricts them; a provider's own rule
    (`ChatRequest.tool_ids`) replaces it."""

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

    def count_tokens_call(
        self, model: str, body: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """`(path, body)` asking the provider's token-count endpoint how many input tokens
        the request `body` holds; `None` when the format has no such endpoint."""
        return None

    def decode_token_count(self, answer: Any) -> int:
        """The input-token total of a token-count answer."""
        raise NotImplementedError(f"{self.name} has no token count endpoint")

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
    JSON array). `chat.extra_body` holds request fields the codec does not map, which
    only a backend speaking the same format gets; what the request becomes for each
    backend is `ServerCodec.backend_request`'s answer.
    """

    chat: ChatRequest
    include_usage: bool = True
    sse: bool = True
    native: dict[str, Any] = field(default_factory=dict)
    """`chat` fields that replace the neutral ones for a backend of the frontend's own
    format, so that it gets the client's format-only details as they came (Anthropic
    tools and system turns verbatim, ...). `chat` itself is what other formats get."""
    same_format_only: dict[str, str] = field(default_factory=dict)
    """Request fields only a backend of the frontend's format can honour, each with the
    reason. A backend of another format does not get the request at all (a 400 names
    them): going on without them would answer a different question."""
    dropped_elsewhere: list[str] = field(default_factory=list)
    """What a backend of another format does not get, besides `chat.extra_body`'s keys;
    named in a DEBUG line of the `langchain_bhumi.proxy` logger when it happens."""


class ResponseEncoder(ABC):
    """Encodes one response's normalized events in a format's own shape.

    Streaming: `start()`, then `encode(events)` for each batch, then `finish()`; or
    `error(...)` instead of `finish()` when the backend fails mid-stream. Not streaming:
    `complete(events)` with every event at once. A proxy sends `start()` as soon as it
    commits to the stream (possibly before the backend's first event) and `keepalive()`
    whenever the stream has been idle for a while, so an error may follow `start()` alone.
    """

    media_type: ClassVar[str] = "text/event-stream"

    announces_input_tokens: ClassVar[bool] = False
    """The format states the input tokens before the answer (Anthropic's `message_start`):
    the proxy then sets `input_tokens` to its estimate before `start()`."""

    input_tokens: int | None = None
    """An estimate of the request's input tokens (see `announces_input_tokens`)."""

    def start(self) -> bytes:
        """The opening bytes of the stream (an opening event, a preamble such as `[`),
        sent before the backend's first event; empty when the format has none."""
        return b""

    def keepalive(self) -> bytes:
        """Bytes that keep an idle stream open without changing its meaning (an SSE
        comment by default; a format's own event where its clients need one, such as
        Anthropic's `ping`). Empty: no keep-alive."""
        return b": keep-alive\n\n"

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

    def set_backend(self, *, provider: str, wire_format: str) -> None:  # noqa: B027
        """Told which backend answers, for encoders that carry its state to the client;
        most encoders need not know."""


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

    def backend_request(
        self, incoming: IncomingRequest, backend: ChatProtocol, model: str
    ) -> ChatRequest:
        """The request for a backend that speaks `backend`'s format and serves `model`.

        A backend of this same format gets `incoming.chat` with `incoming.native` applied,
        `extra_body` included (the fields only this format has, as the client sent
        them). Another format gets the neutral `chat` without `extra_body`; what it does
        not get is named in a DEBUG log line, and a JSON mode it lacks becomes an
        instruction to answer in JSON.

        Raises:
            RequestDecodeError: The request has fields only this format can honour
                (`incoming.same_format_only`).
        """
        chat = incoming.chat
        if backend.name == self.name:
            return dataclasses.replace(chat, **incoming.native) if incoming.native else chat
        if incoming.same_format_only:
            reasons = "; ".join(f"{k}: {v}" for k, v in incoming.same_format_only.items())
            raise RequestDecodeError(
                f"this model's backend speaks the {backend.name} format, which cannot take "
                f"what only {self.name} requests can carry: {reasons}"
            )
        changes: dict[str, Any] = {"extra_body": {}}
        dropped = [*chat.extra_body, *incoming.dropped_elsewhere]
        response_format = chat.response_format
        if (
            isinstance(response_format, dict)
            and response_format.get("type") == "json_object"
            and not backend.supports_response_format(model, "json_object")
        ):
            changes["response_format"] = None
            changes["messages"] = ask_for_json(chat.messages)
            dropped.append("response_format json_object (asked for in the system text)")
        if dropped and proxy_logger.isEnabledFor(logging.DEBUG):
            proxy_logger.debug(
                "%s request for a %s backend: not sent: %s",
                self.name,
                backend.name,
                ", ".join(dropped),
            )
        return dataclasses.replace(chat, **changes)

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


_Decoder = TypeVar("_Decoder", bound=Callable[..., IncomingRequest])


def shape_errors_are_bad_requests(decode: _Decoder) -> _Decoder:
    """For a `ServerCodec.decode_request`: a body of the wrong shape deep inside (`null`
    where a list belongs, a number for a name) is a `RequestDecodeError` (the client gets
    a 400 in its API's format), never another exception (a 500)."""

    @functools.wraps(decode)
    def guarded(self: ServerCodec, *args: Any, **kwargs: Any) -> IncomingRequest:
        try:
            return decode(self, *args, **kwargs)
        except RequestDecodeError:
            raise
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            first_line = (str(exc) or type(exc).__name__).splitlines()[0]
            raise RequestDecodeError(
                f"the body is not a valid {self.name} request: {first_line}"
            ) from exc

    return cast("_Decoder", guarded)


proxy_logger = logging.getLogger("langchain_bhumi.proxy")
"""Where the proxy's frontends say what they translated or left out (DEBUG)."""

JSON_INSTRUCTION = "Answer with one JSON object and nothing else."


def ask_for_json(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """`messages` with an instruction to answer in JSON added to the system text (for a
    backend without a JSON mode)."""
    first = messages[0] if messages else None
    if isinstance(first, SystemMessage) and isinstance(first.content, str):
        text = f"{first.content}\n{JSON_INSTRUCTION}" if first.content else JSON_INSTRUCTION
        return [first.model_copy(update={"content": text}), *messages[1:]]
    return [SystemMessage(JSON_INSTRUCTION), *messages]
