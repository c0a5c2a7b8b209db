"""Anthropic `/v1/messages`, server direction: what the proxy's Anthropic frontend speaks.

`AnthropicServer.decode_request` turns a client's Messages request into LangChain messages
and a neutral `ChatRequest`; `AnthropicEncoder` turns normalized events back into the
Messages SSE sequence (or one `message` object). The client direction is in
`client.py`; this module is its inverse and shares its names and state keys.

Requests:

- `system` (a string or text blocks) becomes one `SystemMessage`; blocks keep their
  `cache_control`, which an Anthropic backend sends on and other backends ignore.
- A user turn's `tool_result` blocks become `ToolMessage`s, one per result and in order
  (`is_error` -> `status="error"`, the tool's name looked up from the `tool_use` that
  asked for it), followed by one `HumanMessage` with the turn's other blocks. Anthropic
  blocks (`image` / `document` with a `source`, `search_result`, ...) are kept as they
  are: every client-direction encoder reads them.
- An assistant turn becomes one `AIMessage`: text as `content`, `tool_use` as
  `tool_calls`, signed `thinking` and `redacted_thinking` blocks whole and in order in
  `additional_kwargs["thinking_blocks"]` (so an Anthropic backend gets them back verbatim,
  as it requires) and their text in `reasoning_content` (what other backends read), and
  server-tool blocks in `additional_kwargs["server_tool_blocks"]`. A `thinking` block
  without a signature (this proxy's own rendering of another backend's reasoning) keeps
  only its text: no signature is invented for Anthropic to reject.
- Tools with an `input_schema` become OpenAI-style function tools; server tools
  (`{"type": "web_search_20250305", ...}`) pass through. `tool_choice` `any` is
  `"required"`, a named tool is its name, `disable_parallel_tool_use` is
  `parallel_tool_calls=False`. `thinking` `enabled` gives `thinking_budget`; `adaptive`
  gives `reasoning_effort` from `output_config.effort` (Anthropic's default, `high`, when
  absent; `max` is `high`). `output_config.format` (structured output) becomes a
  `json_schema` `response_format`. Fields this codec does not map (`metadata`,
  `output_config`, `service_tier`, `container`, `mcp_servers`, ...) go to
  `chat.extra_body`, which the proxy forwards only to an Anthropic backend (whose encoder
  merges them last, so they arrive exactly as the client sent them).

Responses (streamed): `message_start` (usage zero: it is not known yet; Anthropic SDKs
take the final counts from `message_delta`), `ping`, then one content block at a time with
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
from langchain_bhumi.protocols.anthropic.client import SERVER_TOOL_BLOCKS, THINKING_BLOCKS
from langchain_bhumi.protocols.base import (
    ChatRequest,
    IncomingRequest,
    RequestDecodeError,
    ResponseEncoder,
    ServerCodec,
    ToolChoice,
)

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
        "thinking", "stop_sequences", "temperature", "top_p", "top_k",
    }
)  # fmt: skip
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

    def decode_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> IncomingRequest:
        """The neutral request for a Messages (or `count_tokens`) body.

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
        messages: list[BaseMessage] = []
        system = body.get("system")
        if system is not None:
            decoded_system = _decode_system(system)
            if decoded_system is not None:
                messages.append(decoded_system)
        tool_names: dict[str, str] = {}
        for position, message in enumerate(raw_messages):
            messages.extend(_decode_turn(message, position, tool_names))
        thinking_budget, effort = _decode_thinking(body.get("thinking"), body.get("output_config"))
        choice, parallel = _decode_tool_choice(body.get("tool_choice"))
        chat = ChatRequest(
            model=name,
            messages=messages,
            stream=_flag(body.get("stream"), "stream") if stream is None else stream,
            tools=_decode_tools(body.get("tools")),
            tool_choice=choice,
            parallel_tool_calls=parallel,
            response_format=_decode_output_format(body.get("output_config")),
            temperature=_number(body, "temperature"),
            top_p=_number(body, "top_p"),
            top_k=_integer(body, "top_k", minimum=0),
            max_tokens=_integer(body, "max_tokens", minimum=1),
            stop=_decode_stop(body.get("stop_sequences")),
            reasoning_effort=effort,
            thinking_budget=thinking_budget,
            extra_body={k: v for k, v in body.items() if k not in _KNOWN_FIELDS},
        )
        return IncomingRequest(chat, include_usage=True)

    def response_encoder(self, request: IncomingRequest, *, response_id: str) -> AnthropicEncoder:
        """An encoder for the answer to `request`; it shows unsigned reasoning when the
        client asked for thinking."""
        return AnthropicEncoder(
            model=request.chat.model,
            response_id=response_id,
            show_reasoning=wants_thinking(request.chat),
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


def _decode_system(system: Any) -> SystemMessage | None:
    if isinstance(system, str):
        return SystemMessage(system) if system else None
    if not isinstance(system, list):
        raise RequestDecodeError("'system' must be a string or a list of text blocks")
    for block in system:
        if not isinstance(block, dict) or block.get("type") != "text":
            raise RequestDecodeError("'system' blocks must be text blocks")
        if not isinstance(block.get("text"), str):
            raise RequestDecodeError("a 'system' text block needs a string 'text'")
    return SystemMessage(list(system)) if system else None


def _decode_turn(message: Any, position: int, tool_names: dict[str, str]) -> list[BaseMessage]:
    where = f"messages[{position}]"
    if not isinstance(message, dict):
        raise RequestDecodeError(f"{where} must be an object")
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise RequestDecodeError(f"{where}.role must be 'user' or 'assistant', got {role!r}")
    content = message.get("content")
    if isinstance(content, str):
        return [HumanMessage(content) if role == "user" else AIMessage(content)]
    if not isinstance(content, list):
        raise RequestDecodeError(f"{where}.content must be a string or a list of blocks")
    for number, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise RequestDecodeError(
                f"{where}.content[{number}] must be a content block with a 'type'"
            )
    if role == "user":
        return _decode_user(content, where, tool_names)
    return [_decode_assistant(content, where, tool_names)]


def _decode_user(
    blocks: list[dict[str, Any]], where: str, tool_names: dict[str, str]
) -> list[BaseMessage]:
    decoded: list[BaseMessage] = []
    rest: list[str | dict[str, Any]] = []
    for block in blocks:
        kind = block["type"]
        if kind == "tool_result":
            decoded.append(_decode_tool_result(block, where, tool_names))
        elif kind in ("tool_use", "server_tool_use"):
            raise RequestDecodeError(f"{where}: a user turn cannot contain a {kind} block")
        elif kind in ("thinking", "redacted_thinking"):
            continue  # reasoning in a user turn means nothing to any model
        else:
            rest.append(block)
    if rest or not decoded:
        decoded.append(HumanMessage(rest))
    return decoded


def _decode_tool_result(
    block: dict[str, Any], where: str, tool_names: dict[str, str]
) -> ToolMessage:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise RequestDecodeError(f"{where}: a tool_result block needs a 'tool_use_id'")
    content = block.get("content")
    if content is None:
        content = ""
    elif isinstance(content, list):
        if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content):
            raise RequestDecodeError(f"{where}: tool_result content blocks need a 'type'")
    elif not isinstance(content, str):
        raise RequestDecodeError(f"{where}: tool_result content must be a string or blocks")
    return ToolMessage(
        content=content,
        tool_call_id=call_id,
        name=tool_names.get(call_id),
        status="error" if block.get("is_error") else "success",
    )


def _decode_assistant(
    blocks: list[dict[str, Any]], where: str, tool_names: dict[str, str]
) -> AIMessage:
    texts: list[str] = []
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
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
                texts.append(text)
        elif kind == "tool_use":
            call_id, name, args = block.get("id"), block.get("name"), block.get("input")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
                raise RequestDecodeError(f"{where}: a tool_use block needs an 'id' and a 'name'")
            tool_names[call_id] = name
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
    body: str | list[str | dict[str, Any]]
    if len(texts) > 1:
        body = [{"type": "text", "text": text} for text in texts]
    else:
        body = texts[0] if texts else ""
    return AIMessage(
        content=body, tool_calls=calls, invalid_tool_calls=invalid, additional_kwargs=kwargs
    )


def _decode_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise RequestDecodeError("'tools' must be a list")
    decoded: list[dict[str, Any]] = []
    for number, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestDecodeError(f"tools[{number}] must be an object")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            decoded.append(tool)  # a server tool (`web_search_20250305`, `bash_...`, ...)
            continue
        name = tool.get("name")
        schema = tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError(f"tools[{number}] needs a 'name'")
        if not isinstance(schema, dict):
            raise RequestDecodeError(f"tools[{number}] ('{name}') needs an 'input_schema' object")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        decoded.append({"type": "function", "function": function})
    return decoded or None


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


def _decode_thinking(thinking: Any, output_config: Any) -> tuple[int | None, str | None]:
    """`(thinking_budget, reasoning_effort)`; an effort only when thinking is on, since an
    effort alone would switch thinking on for other backends."""
    if thinking is None:
        return None, None
    if not isinstance(thinking, dict):
        raise RequestDecodeError("'thinking' must be an object")
    kind = thinking.get("type")
    if kind == "disabled":
        return None, None
    config = output_config if isinstance(output_config, dict) else {}
    effort = config.get("effort")
    mapped = _EFFORTS.get(effort, effort) if isinstance(effort, str) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise RequestDecodeError("thinking of type 'enabled' needs an integer 'budget_tokens'")
        return budget, mapped
    if kind == "adaptive":
        return None, mapped or _DEFAULT_EFFORT
    raise RequestDecodeError(f"unsupported thinking type {kind!r}")


def _decode_output_format(output_config: Any) -> dict[str, Any] | None:
    if output_config is None:
        return None
    if not isinstance(output_config, dict):
        raise RequestDecodeError("'output_config' must be an object")
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
    """

    def __init__(self, *, model: str, response_id: str, show_reasoning: bool = True) -> None:
        self.model = model
        self.response_id = response_id
        self.show_reasoning = show_reasoning
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
                "input_tokens": 0,
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

    def encode(self, events: list[StreamEvent]) -> bytes:
        frames: list[bytes] = [] if self._started else [self._message_start()]
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
        return stop_reason(self._finish, self._tool_blocks > 0)

    def _sequence(self) -> str | None:
        if self._stop_reason() == "stop_sequence":
            return self._stop_sequence
        return None

    # --- whole response ----------------------------------------------------------------

    def complete(self, events: list[StreamEvent]) -> dict[str, Any]:
        """The `message` object: blocks in the order their content arrived."""
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
