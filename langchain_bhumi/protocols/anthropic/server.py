"""Anthropic `/v1/messages`, server direction: what the proxy's Anthropic frontend speaks.

`AnthropicServer.decode_request` turns a client's Messages request into LangChain messages
and a neutral `ChatRequest`; `AnthropicEncoder` turns normalized events back into the
Messages SSE sequence (or one `message` object). The client direction is in
`client.py`; this module is its inverse and shares its names and state keys.

Requests are decoded into two views (`IncomingRequest`): the neutral `chat`, what a
backend of another format gets, and `native`, what replaces it for an Anthropic backend,
which gets the client's Anthropic-only details as they came.

- `system` (a string or text blocks) and every `role: system` turn of `messages`: for an
  Anthropic backend, the top-level `system` as given and each turn in place (a
  `SystemMessage` marked `SYSTEM_TURN`, with its `clear_at` and other fields); for other
  formats, one system text, in order, one block a line (a turn with `clear_at:
  "next_user_message"` is left out when a user turn follows it).
- A user turn's `tool_result` blocks become `ToolMessage`s, one per result and in order
  (`is_error` -> `status="error"`, the tool's name looked up from the `tool_use` that
  asked for it, other fields such as `cache_control` in `additional_kwargs["anthropic"]`),
  followed by one `HumanMessage` with the turn's other blocks. An Anthropic backend gets
  every block as sent. Other formats get images and PDFs (by data or URL) as they are,
  text documents, `content` documents and search results as text, no `container_upload`
  or other Anthropic-only blocks (named in a DEBUG line), and a 400 for a block given by
  Anthropic file id, which another provider cannot read.
- An assistant turn becomes one `AIMessage`: text as `content` (blocks kept whole when
  they carry `cache_control` or `citations`), `tool_use` as `tool_calls` (`cache_control`
  and `caller` in `tool_call_extras[id]["anthropic"]`), signed `thinking` and
  `redacted_thinking` blocks whole and in order in `additional_kwargs["thinking_blocks"]`
  (so an Anthropic backend gets them back verbatim, as it requires) and their text in
  `reasoning_content` (what other backends read), and server-tool blocks in
  `additional_kwargs["server_tool_blocks"]`. A `thinking` block without a signature (this
  proxy's own rendering of another backend's reasoning) keeps only its text: no
  signature is invented for Anthropic to reject.
- `tools`: an Anthropic backend gets them as sent (server tools, `cache_control`,
  `defer_loading`, ...); other formats get the client's own tools (an `input_schema`) as
  OpenAI-style function tools and no server tool (`web_search_...`, `bash_...`,
  `mcp_toolset`, which Anthropic runs; named in a DEBUG line). `tool_choice` `any` is
  `"required"`, a named tool is its name, `disable_parallel_tool_use` is
  `parallel_tool_calls=False`.
- `thinking` and `output_config` reach an Anthropic backend as sent. For other formats
  `enabled` gives `thinking_budget`; `adaptive`, `between_tools` and types newer than
  this module give `reasoning_effort` from `output_config.effort` (Anthropic's default,
  `high`, when absent; `max` is `high`); `disabled` gives nothing; `display: "omitted"`
  keeps unsigned reasoning out of the answer. `output_config.format` becomes a
  `json_schema` `response_format`.
- `max_tokens: 0` (Anthropic's prompt-cache warm-up) is sent as 0 to Anthropic; other
  formats are asked for one token, and the answer has no content (`max_tokens`).
- Fields this codec does not map (`metadata`, `service_tier`, `container`,
  `mcp_servers`, `context_management`, `speed`, `inference_geo`, ...) go to
  `chat.extra_body`, which only an Anthropic backend gets (its encoder merges them last,
  so they arrive exactly as the client sent them).

Responses (streamed): `message_start` (`input_tokens` is the proxy's estimate, the same
as `count_tokens` answers, other counts zero; Anthropic SDKs take the final counts from
`message_delta`), `ping`, then one content block at a time with
indices 0, 1, ...: a block starts whenever the kind of content changes (thinking, text,
each tool call, the source's own block numbers), so deltas of one block are never
interleaved with another's. Then `message_delta` (stop reason, stop sequence, usage) and
`message_stop`.

- Reasoning becomes `thinking` blocks: `thinking_delta` pieces, then a `signature_delta`
  when the backend signed it (only Anthropic does). Unsigned reasoning (an
  OpenAI-compatible or Gemini backend) is shown only when the client asked for thinking,
  as a block whose `signature` is `""`, the value Anthropic itself starts every thinking
  block with and that SDKs accept; when the client sends it back it is read as plain
  reasoning text (above). When the client did not ask, unsigned reasoning is left out, as
  Anthropic leaves thinking out, so `content[0]` is the answer; signed reasoning (thinking
  switched on by the backend's configuration) is always kept, because Anthropic refuses a
  tool-use turn whose thinking is missing. `redacted_thinking` is one whole block.
- A tool call is a `tool_use` block (`input: {}`) followed by its `input_json_delta`
  pieces. It stays open until the call is done; if another block's content arrives while
  the call's arguments are still incomplete (a backend interleaving parallel calls), that
  content is held back and sent after the call, so no argument piece is ever lost.
- Usage: Anthropic's `input_tokens` excludes cached tokens, ours includes them:
  `input_tokens = Usage.input_tokens - cache_read - cache_creation`, with
  `cache_read_input_tokens` / `cache_creation_input_tokens` beside it and
  `output_tokens_details.thinking_tokens` for reasoning.
- Stop reasons: a backend's own Anthropic reason passes through (`pause_turn`,
  `stop_sequence`, ...); otherwise `stop` -> `end_turn`, `length` -> `max_tokens`,
  `tool_calls` -> `tool_use`, `content_filter` -> `refusal`; a response that made tool
  calls and stopped normally is `tool_use` (what agent loops look for), one that made
  none is never `tool_use`.
- Server-tool blocks an Anthropic backend returned (`server_tool_use`,
  `web_search_tool_result`, ...) reach the encoder only at the end of the response; they
  are sent then, whole, as blocks of their own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from json.encoder import encode_basestring as _string
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)

from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    RefusalDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.toolcalls import is_complete_json
from langchain_bhumi.protocols.anthropic.client import (
    BLOCK_EXTRAS,
    SERVER_TOOL_BLOCKS,
    SYSTEM_TURN,
    THINKING_BLOCKS,
)
from langchain_bhumi.protocols.base import (
    TOOL_CALL_EXTRAS,
    ChatRequest,
    IncomingRequest,
    RequestDecodeError,
    ResponseEncoder,
    ServerCodec,
    ToolChoice,
    proxy_logger,
    shape_errors_are_bad_requests,
)
from langchain_bhumi.protocols.content import check_blocks
from langchain_bhumi.protocols.shapes import check_schema, optional_string, wrong_shape

logger = logging.getLogger("langchain_bhumi")

STOP_REASONS = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
"""Every `stop_reason` the Messages API defines."""

STOP_REASON_FOR = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
"""Normalized finish reason -> Anthropic `stop_reason` (the inverse of
`anthropic.FINISH_REASONS`)."""

ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
    }
)
"""Anthropic's error `type` values."""

ERROR_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""HTTP status -> Anthropic error type, as the Messages API pairs them."""

# Request fields this codec maps; every other field goes to `extra_body`.
_KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "system", "max_tokens", "stream", "tools", "tool_choice",
        "thinking", "output_config", "stop_sequences", "temperature", "top_p", "top_k",
    }
)  # fmt: skip
# Fields of `tool_use` / `tool_result` blocks LangChain models; the rest are kept apart.
_TOOL_USE_FIELDS = frozenset({"type", "id", "name", "input"})
_TOOL_RESULT_FIELDS = frozenset({"type", "tool_use_id", "content", "is_error"})
_GENERIC_ERRORS = frozenset({"api_error", "invalid_request_error"})
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}
_DEFAULT_EFFORT = "high"
_NO_THINKING = frozenset({"none", "off", "disabled"})
_USER_ONLY = frozenset({"tool_result"})


def anthropic_error_type(status: int, error_type: str | None = None) -> str:
    """The Anthropic error `type` for an error.

    A specific Anthropic type given as `error_type` (`overloaded_error`,
    `rate_limit_error`, ...) is kept; otherwise the type Anthropic pairs with `status`
    (529 -> `overloaded_error`, even when the caller's fallback said `api_error`), then
    the generic `api_error` / `invalid_request_error`.
    """
    if error_type in ERROR_TYPES and error_type not in _GENERIC_ERRORS:
        assert error_type is not None
        return error_type
    known = ERROR_TYPE_FOR_STATUS.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


@dataclass(slots=True)
class AnthropicIncomingRequest(IncomingRequest):
    """An `IncomingRequest` with what the answer's encoder must know."""

    show_reasoning: bool = False
    """Show unsigned reasoning: the client asked for thinking it wants displayed."""
    cache_only: bool = False
    """`max_tokens: 0`: the client only fills the prompt cache and expects no content."""


class AnthropicServer(ServerCodec):
    """The Messages format (`POST /v1/messages`), server direction.

    Example:
        ```python
        codec = AnthropicServer()
        incoming = codec.decode_request(
            {
                "model": "claude-sonnet-4-5",
                "max_tokens": 1024,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
            }
        )
        encoder = codec.response_encoder(incoming, response_id="msg_01")
        body = encoder.start() + encoder.encode(events) + encoder.finish()
        ```
    """

    name = "anthropic"

    @shape_errors_are_bad_requests
    def decode_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> AnthropicIncomingRequest:
        """The request for a Messages (or `count_tokens`) body, in two views: neutral
        (`chat`, what other formats get) and Anthropic's own (`native`).

        Raises:
            RequestDecodeError: The body is not a valid Messages request; the message
                says which field is wrong.
        """
        if not isinstance(body, dict):
            raise RequestDecodeError("the request body must be a JSON object")
        name = model or body.get("model")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError("'model' is required")
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise RequestDecodeError("'messages' must be a non-empty list")
        turns = _TurnDecoder()
        system = body.get("system")
        if system is not None:
            turns.system(system)
        for position, message in enumerate(raw_messages):
            turns.turn(message, position)
        thinking, output_config = body.get("thinking"), body.get("output_config")
        thinking_budget, effort, display = _decode_thinking(thinking, output_config)
        choice, parallel = _decode_tool_choice(body.get("tool_choice"))
        tools, native_tools = _decode_tools(body.get("tools"), turns.dropped)
        max_tokens = _integer(body, "max_tokens", minimum=0)
        extra = {k: v for k, v in body.items() if k not in _KNOWN_FIELDS}
        chat = ChatRequest(
            model=name,
            messages=turns.neutral_messages(),
            stream=_flag(body.get("stream"), "stream") if stream is None else stream,
            tools=tools,
            tool_choice=choice,
            parallel_tool_calls=parallel,
            response_format=_decode_output_format(output_config, turns.dropped),
            temperature=_number(body, "temperature"),
            top_p=_number(body, "top_p"),
            top_k=_integer(body, "top_k", minimum=0),
            max_tokens=1 if max_tokens == 0 else max_tokens,  # 0 is Anthropic's cache warm-up
            stop=_decode_stop(body.get("stop_sequences")),
            reasoning_effort=effort,
            thinking_budget=thinking_budget,
            extra_body=extra,
        )
        # An Anthropic backend gets `thinking` and `output_config` as they came.
        native_extra = {
            **extra,
            **{k: body[k] for k in ("thinking", "output_config") if body.get(k) is not None},
        }
        native: dict[str, Any] = {
            "messages": turns.messages,
            "tools": native_tools,
            "max_tokens": max_tokens,
            "extra_body": native_extra,
        }
        if thinking is not None:
            native.update(thinking_budget=None, reasoning_effort=None)
        return AnthropicIncomingRequest(
            chat,
            include_usage=True,
            native=native,
            same_format_only=turns.refused,
            dropped_elsewhere=turns.dropped,
            show_reasoning=wants_thinking(chat) and display != "omitted",
            cache_only=max_tokens == 0,
        )

    def response_encoder(self, request: IncomingRequest, *, response_id: str) -> AnthropicEncoder:
        """An encoder for the answer to `request`; it shows unsigned reasoning when the
        client asked for thinking (and did not ask to omit it)."""
        if isinstance(request, AnthropicIncomingRequest):
            show, cache_only = request.show_reasoning, request.cache_only
        else:
            show, cache_only = wants_thinking(request.chat), False
        return AnthropicEncoder(
            model=request.chat.model,
            response_id=response_id,
            show_reasoning=show,
            cache_only=cache_only,
        )

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        """`{"type": "error", "error": {"type": ..., "message": ...}}`."""
        return {
            "type": "error",
            "error": {"type": anthropic_error_type(status, error_type), "message": message},
        }

    def count_tokens_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """`/v1/messages/count_tokens` counts the whole Messages request."""
        return body

    def count_tokens_response(self, total: int) -> dict[str, Any]:
        """The `/v1/messages/count_tokens` answer."""
        return {"input_tokens": total}


def wants_thinking(chat: ChatRequest) -> bool:
    """Whether a decoded request asked for thinking (a budget, or an effort)."""
    if chat.thinking_budget is not None and chat.thinking_budget > 0:
        return True
    effort = chat.reasoning_effort
    return effort is not None and effort.lower() not in _NO_THINKING


# --- request decoding -----------------------------------------------------------------------


def _flag(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestDecodeError(f"'{field}' must be a boolean")
    return value


def _number(body: dict[str, Any], field: str) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestDecodeError(f"'{field}' must be a number")
    return value


def _integer(body: dict[str, Any], field: str, *, minimum: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RequestDecodeError(f"'{field}' must be an integer >= {minimum}")
    return value


def _decode_stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise RequestDecodeError("'stop_sequences' must be a list of strings")
    return value or None


def _text_blocks(blocks: Any, where: str, allowed: frozenset[str]) -> list[str | dict[str, Any]]:
    """System content blocks, checked: text blocks with a string `text`, and `allowed`."""
    if not isinstance(blocks, list):
        raise RequestDecodeError(f"'{where}' must be a string or a list of text blocks")
    for number, block in enumerate(blocks):
        at = f"{where}[{number}]"
        if not isinstance(block, dict):
            raise wrong_shape(at, "a text block (an object)", block)
        kind = block.get("type")
        if not isinstance(kind, str):
            raise wrong_shape(f"{at}.type", "a string", kind)
        if kind != "text" and kind not in allowed:
            raise RequestDecodeError(f"{at}: '{where}' blocks must be text blocks, not {kind}")
        if kind == "text" and not isinstance(block.get("text"), str):
            raise wrong_shape(f"{at}.text", "a string", block.get("text"))
    return blocks


def _joined_text(content: str | list[str | dict[str, Any]]) -> str:
    """The text of system content, blocks joined with a newline."""
    if isinstance(content, str):
        return content
    return "\n".join(
        b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text" and b["text"]
    )


class _TurnDecoder:
    """`system` and `messages` in two views: Anthropic's own (`messages`: every block as
    the client sent it, system turns in place) and the neutral one other formats get
    (`neutral_messages()`: the system text of every source merged in order, Anthropic-
    only blocks made portable, refused or left out)."""

    def __init__(self) -> None:
        self.messages: list[BaseMessage] = []
        self.neutral: list[BaseMessage] = []
        self.system_text: list[str | None] = []  # None: cleared by a later user turn
        self.tool_names: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.dropped: list[str] = []
        self._clear_at_user: list[int] = []  # system_text entries a user turn clears

    def neutral_messages(self) -> list[BaseMessage]:
        text = "\n".join(t for t in self.system_text if t)
        return [SystemMessage(text), *self.neutral] if text else list(self.neutral)

    def system(self, system: Any) -> None:
        if isinstance(system, str):
            if system:
                self.messages.append(SystemMessage(system))
                self.system_text.append(system)
            return
        blocks = _text_blocks(system, "system", frozenset())
        if blocks:
            self.messages.append(SystemMessage(list(blocks)))
            self.system_text.append(_joined_text(blocks))

    def turn(self, message: Any, position: int) -> None:
        where = f"messages[{position}]"
        if not isinstance(message, dict):
            raise RequestDecodeError(f"{where} must be an object")
        role = message.get("role")
        if role == "system":
            self._system_turn(message, where)
            return
        if role not in ("user", "assistant"):
            raise RequestDecodeError(
                f"{where}.role must be 'user', 'assistant' or 'system', got {role!r}"
            )
        content = message.get("content")
        if isinstance(content, str):
            decoded: BaseMessage = HumanMessage(content) if role == "user" else AIMessage(content)
            self._add(decoded, decoded, user=role == "user")
            return
        if not isinstance(content, list):
            raise RequestDecodeError(f"{where}.content must be a string or a list of blocks")
        for number, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise RequestDecodeError(
                    f"{where}.content[{number}] must be a content block with a 'type'"
                )
        check_blocks(content, f"{where}.content")
        if role == "user":
            self._user(content, where)
        else:
            ai = _decode_assistant(content, where, self.tool_names)
            self._add(ai, ai, user=False)

    def _add(self, own: BaseMessage, neutral: BaseMessage, *, user: bool) -> None:
        if user:
            for index in self._clear_at_user:
                self.system_text[index] = None
            self._clear_at_user.clear()
        self.messages.append(own)
        self.neutral.append(neutral)

    def _system_turn(self, message: dict[str, Any], where: str) -> None:
        """A `role: system` turn: in place for Anthropic, merged into the system text for
        other formats (and left out there when `clear_at` cleared it)."""
        content = message.get("content")
        if content is None:
            content = ""
        elif not isinstance(content, str):
            content = _text_blocks(
                content, f"{where}.content", frozenset({"tool_addition", "tool_removal"})
            )
        fields = {k: v for k, v in message.items() if k not in ("role", "content")}
        self.messages.append(SystemMessage(content, additional_kwargs={SYSTEM_TURN: fields}))
        if isinstance(content, list):
            self.dropped.extend(
                f"{where}: {b['type']} block" for b in content if b["type"] != "text"
            )
        if message.get("output_config") is not None:
            self.dropped.append(f"{where}.output_config")
        self.system_text.append(_joined_text(content))
        if message.get("clear_at") == "next_user_message":
            self._clear_at_user.append(len(self.system_text) - 1)

    def _user(self, blocks: list[dict[str, Any]], where: str) -> None:
        results: list[tuple[ToolMessage, ToolMessage]] = []
        rest: list[str | dict[str, Any]] = []
        portable: list[str | dict[str, Any]] = []
        for number, block in enumerate(blocks):
            kind = block["type"]
            at = f"{where}.content[{number}]"
            if kind == "tool_result":
                results.append(self._tool_result(block, at))
            elif kind in ("tool_use", "server_tool_use"):
                raise RequestDecodeError(f"{where}: a user turn cannot contain a {kind} block")
            elif kind in ("thinking", "redacted_thinking"):
                continue  # reasoning in a user turn means nothing to any model
            else:
                rest.append(block)
                portable.extend(self._portable(block, at))
        for own, neutral in results:
            self._add(own, neutral, user=True)
        if rest or not results:
            human = HumanMessage(rest)
            self._add(human, human if portable == rest else HumanMessage(portable), user=True)

    def _tool_result(self, block: dict[str, Any], where: str) -> tuple[ToolMessage, ToolMessage]:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise RequestDecodeError(f"{where}: a tool_result block needs a 'tool_use_id'")
        content = block.get("content")
        portable: str | list[str | dict[str, Any]]
        if content is None:
            content = portable = ""
        elif isinstance(content, list):
            if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content):
                raise RequestDecodeError(f"{where}: tool_result content blocks need a 'type'")
            check_blocks(content, f"{where}.content")
            portable = [
                p for n, b in enumerate(content) for p in self._portable(b, f"{where}.content[{n}]")
            ]
        elif isinstance(content, str):
            portable = content
        else:
            raise RequestDecodeError(f"{where}: tool_result content must be a string or blocks")
        extras = {k: v for k, v in block.items() if k not in _TOOL_RESULT_FIELDS}
        own = ToolMessage(
            content=content,
            tool_call_id=call_id,
            name=self.tool_names.get(call_id),
            status="error" if block.get("is_error") else "success",
            additional_kwargs={BLOCK_EXTRAS: extras} if extras else {},
        )
        if portable == content and not extras:
            return own, own
        return own, own.model_copy(update={"content": portable, "additional_kwargs": {}})

    def _portable(self, block: dict[str, Any], where: str) -> list[dict[str, Any]]:
        """A user block as other formats can read it: images and PDFs by data or URL as
        they are, text documents and search results as text; Anthropic file ids are
        refused, other Anthropic-only blocks left out."""
        kind = block.get("type")
        if kind == "text":
            return [block]
        source = block.get("source")
        if kind in ("image", "document") and isinstance(source, dict):
            source_type = source.get("type")
            if source_type == "file":
                self.refused[where] = (
                    f"an Anthropic Files API id ({source.get('file_id')}) means nothing to "
                    "another provider"
                )
                return []
            if source_type == "text":
                return [{"type": "text", "text": _document_text(block, str(source.get("data")))}]
            if source_type == "content":
                inner = source.get("content")
                if isinstance(inner, str):
                    return [{"type": "text", "text": _document_text(block, inner)}]
                if isinstance(inner, list):
                    check_blocks(inner, f"{where}.source.content")
                    return [
                        p
                        for n, b in enumerate(inner)
                        if isinstance(b, dict)
                        for p in self._portable(b, f"{where}.source.content[{n}]")
                    ]
            return [block]  # base64 or URL: every format reads these
        if kind == "search_result":
            return [{"type": "text", "text": _search_result_text(block, where)}]
        if kind == "compaction" and isinstance(block.get("content"), str):
            return [{"type": "text", "text": block["content"]}]
        self.dropped.append(f"{where} ({kind})")
        return []


def _document_text(block: dict[str, Any], text: str) -> str:
    title = block.get("title")
    head = f'<document title="{title}">' if isinstance(title, str) and title else "<document>"
    return f"{head}\n{text}\n</document>"


def _search_result_text(block: dict[str, Any], where: str) -> str:
    inner = block.get("content") or []
    if not isinstance(inner, list):
        raise wrong_shape(f"{where}.content", "a list of text blocks", inner)
    texts = [b["text"] for b in inner if isinstance(b, dict) and isinstance(b.get("text"), str)]
    source, title = block.get("source", ""), block.get("title", "")
    body = "\n".join(texts)
    return f'<search_result source="{source}" title="{title}">\n{body}\n</search_result>'


def _decode_assistant(
    blocks: list[dict[str, Any]], where: str, tool_names: dict[str, str]
) -> AIMessage:
    texts: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    call_extras: dict[str, Any] = {}
    thinking: list[dict[str, Any]] = []
    reasoning: list[str] = []
    server: list[dict[str, Any]] = []
    for block in blocks:
        kind = block["type"]
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise RequestDecodeError(f"{where}: a text block needs a string 'text'")
            if text:
                texts.append(block)
        elif kind == "tool_use":
            call_id, name, args = block.get("id"), block.get("name"), block.get("input")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
                raise RequestDecodeError(f"{where}: a tool_use block needs an 'id' and a 'name'")
            tool_names[call_id] = name
            extras = {k: v for k, v in block.items() if k not in _TOOL_USE_FIELDS}
            if extras:  # `cache_control`, `caller`: sent back with the call
                call_extras[call_id] = {BLOCK_EXTRAS: extras}
            if args is None:
                args = {}
            if isinstance(args, dict):
                calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
            else:
                invalid.append(
                    InvalidToolCall(
                        name=name,
                        args=json.dumps(args, ensure_ascii=False),
                        id=call_id,
                        error="tool_use input is not a JSON object",
                        type="invalid_tool_call",
                    )
                )
        elif kind == "thinking":
            text = block.get("thinking") or ""
            if not isinstance(text, str):
                raise RequestDecodeError(f"{where}: a thinking block needs a string 'thinking'")
            reasoning.append(text)
            signature = block.get("signature")
            if isinstance(signature, str) and signature:
                thinking.append({"type": "thinking", "thinking": text, "signature": signature})
        elif kind == "redacted_thinking":
            data = block.get("data")
            if not isinstance(data, str) or not data:
                raise RequestDecodeError(f"{where}: a redacted_thinking block needs 'data'")
            thinking.append({"type": "redacted_thinking", "data": data})
        elif kind in _USER_ONLY:
            raise RequestDecodeError(f"{where}: an assistant turn cannot contain a {kind} block")
        else:
            # Server tools and their results (`server_tool_use`, `web_search_tool_result`,
            # `mcp_tool_use`, ...), and block types newer than this module: Anthropic's
            # own, replayed to an Anthropic backend as they came.
            server.append(block)
    kwargs: dict[str, Any] = {}
    reasoning_text = "".join(reasoning)
    if reasoning_text:
        kwargs["reasoning_content"] = reasoning_text
    if thinking:
        kwargs[THINKING_BLOCKS] = thinking
    if server:
        kwargs[SERVER_TOOL_BLOCKS] = server
    if call_extras:
        kwargs[TOOL_CALL_EXTRAS] = call_extras
    body: str | list[str | dict[str, Any]]
    if len(texts) > 1 or any(len(t) > 2 for t in texts):  # several, or with citations, ...
        body = list(texts)
    else:
        body = texts[0]["text"] if texts else ""
    return AIMessage(
        content=body, tool_calls=calls, invalid_tool_calls=invalid, additional_kwargs=kwargs
    )


def _decode_tools(
    tools: Any, dropped: list[str]
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """`(function tools, the tools as given)`: other formats get the client's own tools
    as function tools, an Anthropic backend gets every tool as it came (server tools,
    `cache_control`, `defer_loading`, ...)."""
    if tools is None:
        return None, None
    if not isinstance(tools, list):
        raise RequestDecodeError("'tools' must be a list")
    decoded: list[dict[str, Any]] = []
    for number, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestDecodeError(f"tools[{number}] must be an object")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            # A server tool (`web_search_20250305`, `bash_...`, `mcp_toolset`): Anthropic's.
            dropped.append(f"tools[{number}] ({kind} {tool.get('name') or ''})".rstrip())
            continue
        name = tool.get("name")
        schema = tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError(f"tools[{number}] needs a 'name'")
        if not isinstance(schema, dict):
            raise RequestDecodeError(f"tools[{number}] ('{name}') needs an 'input_schema' object")
        check_schema(schema, f"tools[{number}].input_schema")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        description = optional_string(tool, "description", f"tools[{number}]")
        if description is not None:
            function["description"] = description
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        decoded.append({"type": "function", "function": function})
    return decoded or None, list(tools) or None


def _decode_tool_choice(choice: Any) -> tuple[ToolChoice | None, bool | None]:
    if choice is None:
        return None, None
    if not isinstance(choice, dict):
        raise RequestDecodeError('\'tool_choice\' must be an object such as {"type": "auto"}')
    kind = choice.get("type")
    decoded: ToolChoice
    if kind in ("auto", "none"):
        decoded = kind
    elif kind == "any":
        decoded = "required"
    elif kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError("tool_choice of type 'tool' needs a 'name'")
        decoded = name
    else:
        raise RequestDecodeError(f"unsupported tool_choice type {kind!r}")
    disable = choice.get("disable_parallel_tool_use")
    parallel = None if disable is None or kind == "none" else not disable
    return decoded, parallel


def _decode_thinking(
    thinking: Any, output_config: Any
) -> tuple[int | None, str | None, str | None]:
    """`(thinking_budget, reasoning_effort, display)` for other formats; an effort only
    when thinking is on, since an effort alone would switch thinking on elsewhere.

    `enabled` gives its budget; `adaptive`, `between_tools` and types newer than this
    module give the effort of `output_config` (Anthropic's default, `high`, when absent);
    `disabled` gives nothing.
    """
    if thinking is None:
        return None, None, None
    if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
        raise RequestDecodeError("'thinking' must be an object with a 'type'")
    kind = thinking["type"]
    display = thinking.get("display")
    if kind == "disabled":
        return None, None, None
    config = output_config if isinstance(output_config, dict) else {}
    effort = config.get("effort")
    mapped = _EFFORTS.get(effort, effort) if isinstance(effort, str) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise RequestDecodeError("thinking of type 'enabled' needs an integer 'budget_tokens'")
        return budget, mapped, display
    if kind not in ("adaptive", "between_tools"):
        proxy_logger.debug("anthropic: thinking type %r read as adaptive thinking", kind)
    return None, mapped or _DEFAULT_EFFORT, display


def _decode_output_format(output_config: Any, dropped: list[str]) -> dict[str, Any] | None:
    if output_config is None:
        return None
    if not isinstance(output_config, dict):
        raise RequestDecodeError("'output_config' must be an object")
    dropped.extend(f"output_config.{k}" for k in output_config if k not in ("effort", "format"))
    fmt = output_config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise RequestDecodeError("output_config.format must be {'type': 'json_schema', ...}")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise RequestDecodeError("output_config.format needs a 'schema' object")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}


# --- response encoding ----------------------------------------------------------------------


def encode_usage(usage: Usage | None) -> dict[str, Any]:
    """Usage in Messages shape: `input_tokens` without the cached tokens our `Usage`
    counts in, cache reads and writes beside it, reasoning as
    `output_tokens_details.thinking_tokens`."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    cache_read = usage.cache_read or 0
    cache_creation = usage.cache_creation or 0
    encoded: dict[str, Any] = {
        "input_tokens": max(0, usage.input_tokens - cache_read - cache_creation),
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "output_tokens": usage.output_tokens,
    }
    if usage.reasoning is not None:
        encoded["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return encoded


def stop_reason(finish: Finish | None, made_calls: bool) -> str:
    """The `stop_reason` for a finish: the backend's own Anthropic reason when it has one,
    else the normalized reason mapped back; `tool_use` exactly when calls were made and
    the model stopped normally."""
    if finish is None:
        reason = "end_turn"
    elif finish.native in STOP_REASONS:
        assert finish.native is not None
        reason = finish.native
    else:
        reason = STOP_REASON_FOR.get(finish.reason, "end_turn")
    if made_calls and reason in ("end_turn", "stop_sequence"):
        return "tool_use"
    if not made_calls and reason == "tool_use":
        return "end_turn"
    return reason


def _sse(event: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return b"event: " + event.encode() + b"\ndata: " + data.encode() + b"\n\n"


def _json(value: str) -> bytes:
    return _string(value).encode()  # what json.dumps(value, ensure_ascii=False) writes


_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA = b',"delta":{"type":"text_delta","text":'
_THINKING_DELTA = b',"delta":{"type":"thinking_delta","thinking":'
_SIGNATURE_DELTA = b',"delta":{"type":"signature_delta","signature":'
_JSON_DELTA = b',"delta":{"type":"input_json_delta","partial_json":'
_DELTA_END = b"}}\n\n"
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

_NONE, _TEXT, _THINKING, _TOOL, _WHOLE = range(5)
_METADATA_EVENTS = (Usage, Finish, ResponseInfo)  # what a cache-only answer keeps
_REFUSAL_BLOCK = -1  # `TextDelta.block`-like key of the refusal text block


class _OpenToolBlock:
    """One tool call's block, while the encoder knows about it."""

    __slots__ = ("block", "closed", "done", "index", "parts")

    def __init__(self, index: int, block: int) -> None:
        self.index = index
        self.block = block
        self.parts: list[str] = []
        self.closed = False
        self.done = False

    def complete(self) -> bool:
        """The arguments so far are a whole JSON value (or the call is done)."""
        if self.done:
            return True
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        text = self.parts[0] if self.parts else ""
        return text.rstrip().endswith("}") and is_complete_json(text)


class AnthropicEncoder(ResponseEncoder):
    """Normalized events -> Messages SSE events (or one `message` object).

    Args:
        model: The model name the client asked for, echoed in the response.
        response_id: The message id (`msg_...`).
        show_reasoning: Show unsigned reasoning as `thinking` blocks (the client asked for
            thinking). Signed reasoning is always shown.
        cache_only: The client sent `max_tokens: 0` (it only fills the prompt cache): no
            content is sent, and the stop reason is `max_tokens`.
    """

    announces_input_tokens = True

    def __init__(
        self,
        *,
        model: str,
        response_id: str,
        show_reasoning: bool = True,
        cache_only: bool = False,
    ) -> None:
        self.model = model
        self.response_id = response_id
        self.show_reasoning = show_reasoning
        self.cache_only = cache_only
        self._started = False
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._stop_sequence: str | None = None
        self._server_blocks: list[dict[str, Any]] = []
        # The open block: its kind, its source key (block number or call index), its index.
        self._open = _NONE
        self._key = 0
        self._signed = False
        self._next = 0
        self._calls: dict[int, _OpenToolBlock] = {}
        self._tool_blocks = 0
        self._waiting: _OpenToolBlock | None = None  # an open call whose arguments are incomplete
        self._held: list[StreamEvent] = []
        self._flushing = False
        self._hidden: list[str] = []  # unsigned reasoning not shown (yet)
        self._hidden_key: int | None = None

    # --- streaming -------------------------------------------------------------------

    def _message_start(self) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": self.response_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens or 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
        }
        return _sse("message_start", {"type": "message_start", "message": message}) + _PING

    def start(self) -> bytes:
        """`message_start` and a first `ping`."""
        return b"" if self._started else self._message_start()

    def ping(self) -> bytes:
        """A `ping` event, for a proxy that keeps an idle stream alive."""
        return _PING

    def keepalive(self) -> bytes:
        """Anthropic's own keep-alive: a `ping` event."""
        return _PING

    def encode(self, events: list[StreamEvent]) -> bytes:
        frames: list[bytes] = [] if self._started else [self._message_start()]
        if self.cache_only:
            events = [e for e in events if type(e) in _METADATA_EVENTS]
        for event in events:
            self._feed(event, frames)
        return b"".join(frames)

    def finish(self) -> bytes:
        """Every held block, `message_delta` and `message_stop`."""
        frames: list[bytes] = [] if self._started else [self._message_start()]
        self._flushing = True
        self._waiting = None
        self._release(frames)
        for block in self._server_blocks:
            self._whole_block(block, frames)
        self._close(frames)
        delta: dict[str, Any] = {
            "stop_reason": self._stop_reason(),
            "stop_sequence": self._sequence(),
        }
        frames.append(
            _sse(
                "message_delta",
                {"type": "message_delta", "delta": delta, "usage": encode_usage(self._usage)},
            )
        )
        frames.append(_MESSAGE_STOP)
        return b"".join(frames)

    def error(self, status: int, error_type: str, message: str) -> bytes:
        """An `error` event (`overloaded_error`, `api_error`, ...); the stream ends."""
        error = {"type": anthropic_error_type(status, error_type), "message": message}
        return _sse("error", {"type": "error", "error": error})

    def _feed(self, event: StreamEvent, frames: list[bytes]) -> None:
        kind = type(event)
        if kind is Usage:
            self._usage = event  # type: ignore[assignment]
            return
        if kind is Finish:
            self._finish = event  # type: ignore[assignment]
            return
        if kind is ResponseInfo:
            sequence = event.extra.get("stop_sequence")  # type: ignore[union-attr]
            if isinstance(sequence, str):
                self._stop_sequence = sequence
            return
        if kind is ProviderState:
            assert isinstance(event, ProviderState)
            if event.key == SERVER_TOOL_BLOCKS and isinstance(event.value, list):
                self._server_blocks.extend(b for b in event.value if isinstance(b, dict))
            return
        waiting = self._waiting
        if waiting is not None:
            if (kind is ToolCallDelta or kind is ToolCallDone) and (
                event.index == waiting.index  # type: ignore[union-attr]
            ):
                self._tool_event(event, frames)  # type: ignore[arg-type]
            else:
                self._held.append(event)
            return
        if kind is TextDelta:
            assert isinstance(event, TextDelta)
            if event.text:
                self._text(event.text, event.block, frames)
        elif kind is ToolCallDelta or kind is ToolCallDone:
            self._tool_event(event, frames)  # type: ignore[arg-type]
        elif kind is ReasoningDelta:
            self._reasoning(event, frames)  # type: ignore[arg-type]
        elif kind is RefusalDelta and event.text:  # type: ignore[union-attr]
            self._text(event.text, _REFUSAL_BLOCK, frames)  # type: ignore[union-attr]

    def _may_switch(self, event: StreamEvent) -> bool:
        """Whether the open block may end for `event`: yes unless it is a tool call whose
        arguments are still incomplete (then `event` is held until the call is done)."""
        if self._open != _TOOL or self._flushing:
            return True
        call = self._calls[self._key]
        if call.complete():
            return True
        self._waiting = call
        self._held.append(event)
        return False

    def _text(self, text: str, key: int, frames: list[bytes]) -> None:
        if self._open != _TEXT or self._key != key:
            if not self._may_switch(TextDelta(text, key)):
                return
            self._hidden = []
            self._begin(_TEXT, key, {"type": "text", "text": ""}, frames)
        frames.append(
            _DELTA + str(self._next - 1).encode() + _TEXT_DELTA + _json(text) + _DELTA_END
        )

    def _reasoning(self, event: ReasoningDelta, frames: list[bytes]) -> None:
        if event.redacted:
            if not self._may_switch(event):
                return
            self._hidden = []
            self._whole_block({"type": "redacted_thinking", "data": event.redacted}, frames)
            return
        key = event.block
        if not (event.text or event.signature):
            return
        if not self.show_reasoning:
            # Held back until a signature shows it must be kept; dropped otherwise.
            if self._hidden_key != key:
                self._hidden = []
                self._hidden_key = key
            if not event.signature:
                self._hidden.append(event.text)
                return
            if not self._may_switch(event):
                return  # held, and seen again once the open tool call is done
            text = "".join(self._hidden) + event.text
            self._hidden = []
            self._begin(
                _THINKING, key, {"type": "thinking", "thinking": "", "signature": ""}, frames
            )
            self._thinking_delta(text, event.signature, frames)
            return
        if self._open != _THINKING or self._key != key or (self._signed and event.text):
            if not self._may_switch(event):
                return
            self._begin(
                _THINKING, key, {"type": "thinking", "thinking": "", "signature": ""}, frames
            )
        self._thinking_delta(event.text, event.signature, frames)

    def _thinking_delta(self, text: str, signature: str | None, frames: list[bytes]) -> None:
        index = str(self._next - 1).encode()
        if text:
            frames.append(_DELTA + index + _THINKING_DELTA + _json(text) + _DELTA_END)
        if signature:
            frames.append(_DELTA + index + _SIGNATURE_DELTA + _json(signature) + _DELTA_END)
            self._signed = True

    def _tool_event(self, event: ToolCallDelta | ToolCallDone, frames: list[bytes]) -> None:
        call = self._calls.get(event.index)
        if call is None:
            if isinstance(event, ToolCallDelta) and event.id is None:
                return  # a continuation of a call never announced: nothing to attach it to
            if not self._may_switch(event):
                return
            self._hidden = []
            name = event.name or ""
            block: dict[str, Any] = {"type": "tool_use", "id": event.id, "name": name, "input": {}}
            call = self._calls[event.index] = _OpenToolBlock(event.index, self._next)
            self._tool_blocks += 1
            self._begin(_TOOL, event.index, block, frames)
            args = event.args if isinstance(event, ToolCallDelta) else event.args_text
            self._args(call, args, frames)
            if isinstance(event, ToolCallDone):
                self._call_done(call, frames)
            return
        if isinstance(event, ToolCallDone):
            self._call_done(call, frames)
            return
        if call.closed:
            if event.args.strip():
                logger.warning(
                    "anthropic frontend: arguments for tool call %s arrived after its "
                    "block ended; dropped %.200r",
                    event.index,
                    event.args,
                )
            return
        self._args(call, event.args, frames)
        if self._waiting is call and call.complete():
            self._close(frames)

    def _args(self, call: _OpenToolBlock, args: str, frames: list[bytes]) -> None:
        if args:
            call.parts.append(args)
            frames.append(
                _DELTA + str(call.block).encode() + _JSON_DELTA + _json(args) + _DELTA_END
            )

    def _call_done(self, call: _OpenToolBlock, frames: list[bytes]) -> None:
        call.done = True
        if not call.closed and self._open == _TOOL and self._key == call.index:
            self._close(frames)

    def _begin(self, kind: int, key: int, block: dict[str, Any], frames: list[bytes]) -> None:
        self._close(frames)
        self._open, self._key, self._signed = kind, key, False
        frames.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": self._next, "content_block": block},
            )
        )
        self._next += 1

    def _whole_block(self, block: dict[str, Any], frames: list[bytes]) -> None:
        self._begin(_WHOLE, 0, block, frames)
        self._close(frames)

    def _close(self, frames: list[bytes]) -> None:
        """End the open block, then send what was held back for it."""
        if self._open == _NONE:
            return
        if self._open == _TOOL:
            self._calls[self._key].closed = True
        self._open = _NONE
        frames.append(
            _sse("content_block_stop", {"type": "content_block_stop", "index": self._next - 1})
        )
        if self._waiting is not None:
            self._waiting = None
            self._release(frames)

    def _release(self, frames: list[bytes]) -> None:
        held, self._held = self._held, []
        for event in held:
            self._feed(event, frames)

    # --- shared ------------------------------------------------------------------------

    def _stop_reason(self) -> str:
        if self.cache_only:
            return "max_tokens"
        return stop_reason(self._finish, self._tool_blocks > 0)

    def _sequence(self) -> str | None:
        if self._stop_reason() == "stop_sequence":
            return self._stop_sequence
        return None

    # --- whole response ----------------------------------------------------------------

    def complete(self, events: list[StreamEvent]) -> dict[str, Any]:
        """The `message` object: blocks in the order their content arrived."""
        if self.cache_only:
            events = [e for e in events if type(e) in _METADATA_EVENTS]
        content: list[dict[str, Any]] = []
        open_kind, open_key = _NONE, 0
        texts: list[str] = []  # pieces of the open text / thinking block
        calls: dict[int, dict[str, Any]] = {}
        hidden: list[str] = []
        hidden_key: int | None = None

        def close() -> None:
            nonlocal open_kind
            if open_kind == _TEXT:
                content[-1]["text"] = "".join(texts)
            elif open_kind == _THINKING:
                content[-1]["thinking"] = "".join(texts)
            open_kind = _NONE
            texts.clear()

        for event in events:
            if isinstance(event, TextDelta | RefusalDelta):
                key = event.block if isinstance(event, TextDelta) else _REFUSAL_BLOCK
                if not event.text:
                    continue
                if open_kind != _TEXT or open_key != key:
                    close()
                    content.append({"type": "text", "text": ""})
                    open_kind, open_key = _TEXT, key
                texts.append(event.text)
            elif isinstance(event, ReasoningDelta):
                if not (event.text or event.signature or event.redacted):
                    continue
                if event.redacted:
                    close()
                    content.append({"type": "redacted_thinking", "data": event.redacted})
                    continue
                if not self.show_reasoning:
                    if hidden_key != event.block:
                        hidden, hidden_key = [], event.block
                    hidden.append(event.text)
                    if not event.signature:
                        continue
                    close()
                    content.append({"type": "thinking", "thinking": "", "signature": ""})
                    open_kind, open_key = _THINKING, event.block
                    texts.extend(hidden)
                    hidden = []
                elif (
                    open_kind != _THINKING
                    or open_key != event.block
                    or (content[-1]["signature"] and event.text)
                ):
                    close()
                    content.append({"type": "thinking", "thinking": "", "signature": ""})
                    open_kind, open_key = _THINKING, event.block
                    texts.append(event.text)
                else:
                    texts.append(event.text)
                if event.signature:
                    content[-1]["signature"] = event.signature
            elif isinstance(event, ToolCallDelta | ToolCallDone):
                block = calls.get(event.index)
                if block is None:
                    close()
                    block = {
                        "type": "tool_use",
                        "id": event.id,
                        "name": event.name or "",
                        "input": {},
                    }
                    calls[event.index] = block
                    content.append(block)
                if isinstance(event, ToolCallDone):
                    block["id"] = event.id
                    block["name"] = event.name or block["name"]
                    if event.args is not None:
                        block["input"] = event.args
                    else:
                        logger.warning(
                            "anthropic frontend: tool call %s (%s) has invalid arguments (%s); "
                            "sent with input {}",
                            event.name,
                            event.id,
                            event.error,
                        )
            else:
                self._feed(event, [])  # usage, finish, response info, provider state
        close()
        content.extend(self._server_blocks)
        self._tool_blocks = len(calls)
        return {
            "id": self.response_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self._stop_reason(),
            "stop_sequence": self._sequence(),
            "usage": encode_usage(self._usage),
        }


__all__ = [
    "ERROR_TYPES",
    "ERROR_TYPE_FOR_STATUS",
    "STOP_REASONS",
    "STOP_REASON_FOR",
    "AnthropicEncoder",
    "AnthropicServer",
    "anthropic_error_type",
    "encode_usage",
    "stop_reason",
    "wants_thinking",
]
