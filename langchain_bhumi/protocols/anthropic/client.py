"""Anthropic `/v1/messages`: Claude on the Anthropic API and servers that speak its format.

Decoding follows what real streams carry, not only what the reference documents:

- `message_start` (id, model, input usage), then per content block `content_block_start`
  / `content_block_delta` / `content_block_stop`, then `message_delta` (stop reason,
  cumulative usage) and `message_stop`; `ping` frames anywhere. The body must end with
  `message_stop`: without it the stream was cut (`StreamCutError`).
- A block may start pre-filled: `text` with text, `thinking` with text and signature,
  `tool_use` with a complete `input` and no `input_json_delta` after it (seen after tool
  results, and always in non-streamed responses). Pre-filled content is decoded exactly
  like deltas, so streamed and whole responses produce the same events.
- Tool calls are keyed by the content-block `index`, which is stable for the whole
  message; `content_block_stop` completes a call. `tool_use` `input` may be `{}` followed
  by deltas, and the first delta is often `""`.
- `thinking` arrives as `thinking_delta` pieces then one `signature_delta`; a
  `redacted_thinking` block carries only encrypted `data`. Both are emitted as reasoning
  and, whole and in order, as provider state `thinking_blocks`, which `encode_request`
  sends back verbatim on the next turn (Anthropic rejects a tool-use turn whose thinking
  was altered). Reasoning without a signature (another provider's) is never sent.
- Server tools (`server_tool_use`, `web_search_tool_result`, `mcp_tool_use`, code
  execution results, ...) are not client tool calls: they are kept whole, in order, as
  provider state `server_tool_blocks` (with the streamed input parsed) and sent back on
  the next turn. `citations_delta` citations are kept as provider state `citations`.
- Usage: `message_start` has the input side, `message_delta` the cumulative totals (and,
  on newer servers, `input_tokens` again, sometimes larger than at the start): the latest
  value of each field wins. Anthropic's `input_tokens` excludes cached tokens; the usage
  we emit includes them, as ChatAnthropic reports it. `output_tokens_details.
  thinking_tokens` is the reasoning share.
- `stop_reason`: `end_turn`/`stop_sequence` -> `stop`, `max_tokens`/
  `model_context_window_exceeded` -> `length`, `tool_use` -> `tool_calls`, `refusal` ->
  `content_filter`; others (`pause_turn`) pass through. `stop_sequence` and
  `stop_details` go to response metadata.
- `event: error` frames (or a data object of type `error`) raise `StreamErrorEvent` with
  the error type (`overloaded_error`, `api_error`, ...).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi.core.decoding import (
    FrameDecoder,
    invalid_json,
    normalize_finish,
    not_text,
    stream_error,
    token_count,
)
from langchain_bhumi.core.errors import (
    ConfigurationError,
    InvalidStreamDataError,
    StreamCutError,
    StreamErrorEvent,
)
from langchain_bhumi.core.events import (
    ProviderState,
    ReasoningDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    Usage,
)
from langchain_bhumi.core.framing import WHOLE_BODY, Frame, Framer, WholeBodyFramer, framer_for
from langchain_bhumi.core.tool_ids import ALPHANUMERIC, ToolIdMap, ToolIdRule
from langchain_bhumi.core.toolcalls import ToolCallAssembler
from langchain_bhumi.protocols.base import TOOL_CALL_EXTRAS, ChatProtocol, ChatRequest, ToolChoice
from langchain_bhumi.protocols.content import (
    MediaPart,
    OtherPart,
    Part,
    ReasoningPart,
    TextPart,
    content_parts,
)

logger = logging.getLogger("langchain_bhumi")

API_VERSION = "2023-06-01"
"""The `anthropic-version` header sent with every request."""

THINKING_BLOCKS = "thinking_blocks"
"""`additional_kwargs` key: the response's `thinking` / `redacted_thinking` blocks, whole,
in order, sent back verbatim on the next turn."""

SERVER_TOOL_BLOCKS = "server_tool_blocks"
"""`additional_kwargs` key: server-tool blocks (`server_tool_use`, `web_search_tool_result`,
...), whole, in order, sent back on the next turn."""

CITATIONS = "citations"
"""`additional_kwargs` key: the citations attached to the answer text, in order."""

SYSTEM_TURN = "system_turn"
"""`SystemMessage.additional_kwargs` key: send this system message where it stands, as a
`role: system` turn of `messages` (with the fields this dict holds, e.g. `clear_at`),
instead of in the top-level `system`."""

BLOCK_EXTRAS = "anthropic"
"""Fields of an Anthropic block beyond the ones LangChain models (`cache_control`,
`caller`, ...), sent back with it: in `ToolMessage.additional_kwargs` for a `tool_result`,
in `additional_kwargs["tool_call_extras"][call_id]` for a `tool_use`."""

_KEPT_TEXT_FIELDS = ("cache_control", "citations")

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
"""Thinking budget for a `reasoning_effort` on models that take a token budget."""

_ADAPTIVE_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}

# Content-block types of Anthropic's own that may appear in an assistant turn and are sent
# back as they came (server tools and their results).
_REPLAYED_BLOCK_TYPES = frozenset(
    {
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
_NO_THINKING_EFFORTS = frozenset({"none", "off", "disabled"})

TOOL_IDS = ToolIdRule(alphabet=ALPHANUMERIC | {"_", "-"})
"""Anthropic tool-use ids match `^[a-zA-Z0-9_-]+$`: other providers' ids
(`functions.get_weather:0`) are rewritten, the same way on the call and on its result."""
_BLOCK_TEXT, _BLOCK_THINKING, _BLOCK_TOOL, _BLOCK_SERVER, _BLOCK_OTHER = range(5)


# --- model families -----------------------------------------------------------------------


def claude_version(model: str) -> tuple[str, tuple[int, int]] | None:
    """`(family, (major, minor))` of a Claude model name, or `None` for other names.

    Understands every naming scheme in use: `claude-3-5-sonnet-20241022`,
    `claude-sonnet-4-5-20250929`, `claude-opus-4-6`, `claude-sonnet-4-20250514`,
    `claude-2.1`, Vertex `claude-3-7-sonnet@20250219` and Bedrock
    `us.anthropic.claude-sonnet-4-20250514-v1:0`.
    """
    start = model.find("claude-")
    if start < 0:
        return None
    family = ""
    numbers: list[int] = []
    for token in model[start + 7 :].replace("@", "-").replace(".", "-").split("-"):
        if token.isdigit():
            if len(token) > 2:  # a date or build number: the version is over
                break
            numbers.append(int(token))
        elif token.isalpha() and not family:
            family = token
            if numbers:
                break  # old scheme: `claude-3-5-sonnet`, the version came first
        else:
            break
    if not numbers:
        return None
    return family, (numbers[0], numbers[1] if len(numbers) > 1 else 0)


def default_max_tokens(model: str) -> int:
    """The `max_tokens` sent when none is set: the model family's output limit.

    Claude 2 and 3: 4096; 3.5: 8192; Opus 4 and 4.1: 32000; 3.7 and every later model:
    64000 (newer models allow more; set `max_tokens` to use it). Names that are not
    Claude's (another server speaking this format): 4096.
    """
    parsed = claude_version(model)
    if parsed is None:
        return 4096
    family, version = parsed
    if version < (3, 5):
        return 4096
    if version < (3, 7):
        return 8192
    if family == "opus" and (4, 0) <= version < (4, 5):
        return 32000
    return 64000


def _thinking_style(model: str) -> str:
    """`"adaptive-only"`, `"adaptive"` (adaptive preferred, budgets accepted) or `"budget"`."""
    parsed = claude_version(model)
    if parsed is None:
        return "budget"
    family, version = parsed
    if (
        version >= (5, 0)
        or family in ("fable", "mythos")
        or (family == "opus" and version >= (4, 7))
    ):
        return "adaptive-only"
    if version >= (4, 6):
        return "adaptive"
    return "budget"


def supports_native_json_schema(model: str) -> bool:
    """Whether the model takes `output_config.format` (structured outputs): Claude Opus
    4.1, every 4.5 model and later. Older models and other servers get a forced tool."""
    parsed = claude_version(model)
    if parsed is None:
        return False
    family, version = parsed
    return version >= (4, 5) or (family == "opus" and version >= (4, 1))


# --- the protocol ---------------------------------------------------------------------------


# The fields of a Messages request that `count_tokens` accepts.
_COUNTED_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")


class AnthropicProtocol(ChatProtocol):
    """The Messages format (`POST /v1/messages`), client direction.

    The key goes in `x-api-key` (never `Authorization: Bearer`), with `anthropic-version:
    2023-06-01`; beta features are switched on with an `anthropic-beta` header passed
    through `ChatBhumi(default_headers=...)`.

    Example:
        ```python
        from langchain_core.messages import HumanMessage

        protocol = AnthropicProtocol()
        body = protocol.encode_request(
            ChatRequest(model="claude-sonnet-4-5", messages=[HumanMessage("hi")], stream=True)
        )
        # {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}],
        #  "stream": True, "max_tokens": 64000}
        ```
    """

    name = "anthropic"
    tool_ids = TOOL_IDS

    def path(self, model: str, *, stream: bool) -> str:
        return "/messages"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def supports_response_format(self, model: str, kind: str) -> bool:
        """Native JSON-schema output on models that have it; no JSON mode at all."""
        return kind == "json_schema" and supports_native_json_schema(model)

    def count_tokens_call(
        self, model: str, body: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """`/messages/count_tokens`, which takes the request's input fields only."""
        return "/messages/count_tokens", {k: body[k] for k in _COUNTED_FIELDS if k in body}

    def decode_token_count(self, answer: Any) -> int:
        return int(answer["input_tokens"])

    def encode_request(self, request: ChatRequest) -> dict[str, Any]:
        system, messages = encode_messages(
            request.messages, ToolIdMap(request.tool_ids or self.tool_ids)
        )
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        if system is not None:
            body["system"] = system
        if request.stream:
            body["stream"] = True
        tools = [encode_tool(tool) for tool in request.tools or ()]
        if tools:
            body["tools"] = tools
            choice = encode_tool_choice(request.tool_choice, request.parallel_tool_calls)
            if choice is not None:
                body["tool_choice"] = choice
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("top_k", request.top_k),
            ("stop_sequences", request.stop),
        ):
            if value is not None:
                body[key] = value
        output_config: dict[str, Any] = {}
        thinking = encode_thinking(request, output_config)
        max_tokens = request.max_tokens
        if max_tokens is None:
            max_tokens = default_max_tokens(request.model)
            budget = thinking.get("budget_tokens") if thinking else None
            if isinstance(budget, int) and budget >= max_tokens:
                max_tokens = budget + 4096
        body["max_tokens"] = max_tokens
        if thinking is not None:
            body["thinking"] = thinking
        if request.response_format is not None:
            output_format = encode_response_format(request.response_format)
            if output_format is not None:
                output_config["format"] = output_format
        for unsent in ("seed", "presence_penalty", "frequency_penalty"):
            if getattr(request, unsent) is not None:
                logger.debug("anthropic: the Messages API has no %s; not sent", unsent)
        extra = dict(request.extra_body)
        extra_config = extra.pop("output_config", None)
        if isinstance(extra_config, dict):
            output_config.update(extra_config)
        elif extra_config is not None:
            extra["output_config"] = extra_config
        if output_config:
            body["output_config"] = output_config
        body.update(extra)
        _relax_forced_tool_choice(body)
        _drop_sampling_refused_with_thinking(body)
        return body

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()


# --- request encoding -----------------------------------------------------------------------


def encode_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style function tool as an Anthropic tool (`input_schema`); Anthropic tool
    dicts (server tools such as `web_search_20250305`, or ones with `input_schema`) pass
    through unchanged."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        return tool
    encoded: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description") is not None:
        encoded["description"] = function["description"]
    if function.get("strict") is not None:
        encoded["strict"] = function["strict"]
    cache_control = tool.get("cache_control") or function.get("cache_control")
    if cache_control:  # prompt caching of the tool definitions
        encoded["cache_control"] = cache_control
    return encoded


def encode_tool_choice(
    choice: ToolChoice | None, parallel_tool_calls: bool | None
) -> dict[str, Any] | None:
    """`auto` / `any` (`required`) / `none` / a tool name / an OpenAI- or Anthropic-style
    dict, with `disable_parallel_tool_use` from `parallel_tool_calls`."""
    encoded: dict[str, Any] | None
    if choice is None:
        encoded = None
    elif isinstance(choice, dict):
        function = choice.get("function")
        if choice.get("type") == "function" and isinstance(function, dict):
            encoded = {"type": "tool", "name": function.get("name")}
        else:
            encoded = dict(choice)
    elif choice in ("auto", "none", "any"):
        encoded = {"type": choice}
    elif choice == "required":
        encoded = {"type": "any"}
    else:
        encoded = {"type": "tool", "name": choice}
    if parallel_tool_calls is not None:
        if encoded is None:
            encoded = {"type": "auto"}
        if encoded.get("type") != "none":
            encoded["disable_parallel_tool_use"] = not parallel_tool_calls
    return encoded


def encode_thinking(request: ChatRequest, output_config: dict[str, Any]) -> dict[str, Any] | None:
    """The `thinking` field from `thinking_budget` or `reasoning_effort`.

    A budget is sent as `{"type": "enabled", "budget_tokens": n}` (`0` sends nothing), except
    to models that only think adaptively (Opus 4.7+, Claude 5), which get `adaptive` with
    the nearest effort. An effort alone becomes `adaptive` + `output_config.effort` on
    models that have adaptive thinking (4.6+), else a budget (`EFFORT_BUDGETS`). `"none"`
    sends nothing. Setting `thinking` in `model_kwargs` overrides all of this.
    """
    budget = request.thinking_budget
    effort = request.reasoning_effort.lower() if request.reasoning_effort else None
    if effort in _NO_THINKING_EFFORTS:
        effort = None
        if budget is None:
            return None
    if budget is None and effort is None:
        return None
    if budget is not None and budget <= 0:
        return None
    style = _thinking_style(request.model)
    if budget is not None and style != "adaptive-only":
        return {"type": "enabled", "budget_tokens": budget}
    if budget is not None and effort is None:
        effort = next((e for e, b in EFFORT_BUDGETS.items() if budget <= b), "high")
    assert effort is not None
    if style == "budget":
        return {"type": "enabled", "budget_tokens": EFFORT_BUDGETS.get(effort, 16384)}
    output_config["effort"] = _ADAPTIVE_EFFORTS.get(effort, effort)
    return {"type": "adaptive"}


def encode_response_format(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI-style `response_format` as `output_config.format`.

    `json_schema` becomes `{"type": "json_schema", "schema": ...}` with
    `additionalProperties: false` on every object (which structured outputs require);
    `text` means no format; `json_object` is refused: Anthropic has no JSON mode.
    """
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema", response_format.get("schema"))
        if not isinstance(schema, dict):
            raise ConfigurationError("response_format json_schema needs a 'schema' object")
        return {"type": "json_schema", "schema": _close_objects(schema)}
    if kind == "json_object":
        raise ConfigurationError(
            "Anthropic has no JSON mode: use with_structured_output(schema, "
            "method='json_schema') or method='function_calling'"
        )
    return response_format  # already Anthropic-shaped


def _close_objects(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_close_objects(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _close_objects(value) for key, value in schema.items()}
    if closed.get("type") == "object" and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def _relax_forced_tool_choice(body: dict[str, Any]) -> None:
    """Anthropic refuses a forced tool (`any`/`tool`) while thinking is on: ask for `auto`
    instead of failing (the one tool offered is still the expected answer)."""
    thinking = body.get("thinking")
    choice = body.get("tool_choice")
    if (
        isinstance(thinking, dict)
        and thinking.get("type") in ("enabled", "adaptive")
        and isinstance(choice, dict)
        and choice.get("type") in ("any", "tool")
    ):
        logger.info("anthropic: thinking is on, so tool_choice %r is sent as 'auto'", choice)
        relaxed = {"type": "auto"}
        if "disable_parallel_tool_use" in choice:
            relaxed["disable_parallel_tool_use"] = choice["disable_parallel_tool_use"]
        body["tool_choice"] = relaxed


def _drop_sampling_refused_with_thinking(body: dict[str, Any]) -> None:
    """Anthropic refuses `top_k`, a `temperature` other than 1 and a `top_p` under 0.95
    while thinking is on (gemini-cli sends all three with every request): leave them out
    instead of failing."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") in (None, "disabled"):
        return
    for key in ("top_k", "temperature", "top_p"):
        value = body.get(key)
        if value is None or (key == "temperature" and value == 1):
            continue
        if key == "top_p" and isinstance(value, int | float) and value >= 0.95:
            continue
        logger.debug("anthropic: %s=%s is not allowed with thinking; not sent", key, value)
        del body[key]


def encode_messages(
    messages: Sequence[BaseMessage], ids: ToolIdMap | None = None
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """`(system, messages)`: system messages hoisted to the top-level `system` (a string,
    or blocks when any has blocks), except those marked `SYSTEM_TURN`, which stay in place
    as `role: system` turns; the rest as alternating user / assistant turns with
    consecutive same-role messages (tool results included) merged into one turn. Tool-call
    ids pass through `ids` (default: Anthropic's own rule, `TOOL_IDS`)."""
    ids = ids or ToolIdMap(TOOL_IDS)
    system: list[str | list[dict[str, Any]]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage) or (
            isinstance(message, ChatMessage) and message.role == "system"
        ):
            in_place = message.additional_kwargs.get(SYSTEM_TURN)
            if isinstance(in_place, dict):
                system_content = _encode_user_content(message.content)
                turns.append({"role": "system", "content": system_content, **in_place})
            else:
                system.append(_encode_user_content(message.content))
            continue
        if isinstance(message, AIMessage) or (
            isinstance(message, ChatMessage) and message.role == "assistant"
        ):
            role = "assistant"
            content: str | list[dict[str, Any]] = (
                encode_assistant(message, ids)
                if isinstance(message, AIMessage)
                else _encode_user_content(message.content)
            )
            if not content:
                continue  # an empty assistant turn is refused; the user turns then merge
        elif isinstance(message, ToolMessage):
            role, content = "user", [encode_tool_result(message, ids)]
        elif isinstance(message, HumanMessage) or (
            isinstance(message, ChatMessage) and message.role == "user"
        ):
            role, content = "user", _encode_user_content(message.content)
        else:
            raise ConfigurationError(
                f"cannot send a {type(message).__name__} to Anthropic (roles: system, user, "
                "assistant, tool)"
            )
        if turns and turns[-1]["role"] == role:  # `system` turns are never merged
            previous = turns[-1]
            previous["content"] = _as_blocks(previous["content"]) + _as_blocks(content)
        else:
            turns.append({"role": role, "content": content})
    return _join_system(system), turns


def _join_system(parts: list[str | list[dict[str, Any]]]) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    if all(isinstance(p, str) for p in parts):
        return "\n\n".join(p for p in parts if isinstance(p, str))
    blocks: list[dict[str, Any]] = []
    for part in parts:
        blocks.extend(_as_blocks(part))
    return blocks


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _encode_user_content(content: str | list[Any]) -> str | list[dict[str, Any]]:
    """User-side content: a string stays a string; blocks keep their `cache_control`."""
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, dict) and isinstance(item.get("source"), dict):
            blocks.append(_native_block(item))  # an Anthropic image / document, as given
            continue
        parts = content_parts([item])
        if not parts:
            continue
        for part in parts:
            encoded = _encode_part(part)
            if encoded is None:
                continue
            if isinstance(item, dict) and "cache_control" in item:
                encoded = {**encoded, "cache_control": item["cache_control"]}
            blocks.append(encoded)
    return blocks


def _encode_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, MediaPart):
        return encode_media(part)
    if isinstance(part, OtherPart):
        return _native_block(part.block)
    return None  # reasoning in a user turn means nothing to the model


def _native_block(block: dict[str, Any]) -> dict[str, Any]:
    """A block passed through: v1 `non_standard` unwrapped, LangChain's merge `index` off."""
    if block.get("type") == "non_standard" and isinstance(block.get("value"), dict):
        block = block["value"]
    if "index" in block:
        block = {k: v for k, v in block.items() if k != "index"}
    return block


def encode_media(part: MediaPart) -> dict[str, Any]:
    """An image or document as an Anthropic `image` / `document` block."""
    if part.kind == "image":
        kind = "image"
    elif part.kind == "file":
        kind = "document"
    else:
        raise ConfigurationError(f"Anthropic does not accept {part.kind} input")
    source: dict[str, Any]
    if part.file_id:
        source = {"type": "file", "file_id": part.file_id}
    elif part.data is not None:
        mime = part.mime_type or ("image/png" if kind == "image" else "application/pdf")
        if kind == "document" and mime.startswith("text/"):
            source = {"type": "text", "media_type": "text/plain", "data": _decode_text(part.data)}
        else:
            source = {"type": "base64", "media_type": mime, "data": part.data}
    elif part.url:
        source = {"type": "url", "url": part.url}
    else:
        raise ConfigurationError(f"an {kind} block needs data, a URL or a file id")
    block: dict[str, Any] = {"type": kind, "source": source}
    if kind == "document" and part.filename:
        block["title"] = part.filename
    return block


def _decode_text(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return data  # already plain text


def encode_tool_result(message: ToolMessage, ids: ToolIdMap | None = None) -> dict[str, Any]:
    """A tool result block: string or block content, `is_error` for failed tools."""
    tool_use_id = (ids or ToolIdMap(TOOL_IDS))(message.tool_call_id)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    content = message.content
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        blocks = [
            b if isinstance(b, dict) else {"type": "text", "text": str(b)}
            for b in _encode_user_content(content)
        ]
        if blocks:
            block["content"] = blocks
    if message.status == "error":
        block["is_error"] = True
    extras = message.additional_kwargs.get(BLOCK_EXTRAS)
    if isinstance(extras, dict):
        block.update(extras)  # `cache_control`: a prompt-cache breakpoint on the result
    return block


def encode_assistant(message: AIMessage, ids: ToolIdMap | None = None) -> list[dict[str, Any]]:
    """An assistant turn: thinking, server-tool blocks, text, then `tool_use` blocks.

    Thinking comes from `additional_kwargs["thinking_blocks"]` (what this package keeps)
    when present, otherwise from reasoning content blocks that carry a signature
    (`thinking` blocks, or v1 `reasoning` blocks with `extras.signature`) and
    `redacted_thinking` blocks, in content order. Reasoning without a signature, or from a
    message another wire format produced (its signatures mean nothing to Claude), is
    dropped.
    """
    ids = ids or ToolIdMap(TOOL_IDS)
    kwargs = message.additional_kwargs
    foreign = message.response_metadata.get("wire_format") not in (None, AnthropicProtocol.name)
    state = kwargs.get(THINKING_BLOCKS)
    blocks: list[dict[str, Any]] = []
    if isinstance(state, list):
        blocks.extend(b for b in state if isinstance(b, dict))
    server = kwargs.get(SERVER_TOOL_BLOCKS)
    if isinstance(server, list):
        blocks.extend(b for b in server if isinstance(b, dict))
    items = message.content if isinstance(message.content, list) else [message.content]
    for item, part in ((i, p) for i in items for p in content_parts([i])):
        if isinstance(part, TextPart):
            if part.text:
                text: dict[str, Any] = {"type": "text", "text": part.text}
                if isinstance(item, dict):
                    text.update((k, item[k]) for k in _KEPT_TEXT_FIELDS if item.get(k))
                blocks.append(text)
        elif isinstance(part, ReasoningPart):
            if isinstance(state, list) or foreign:
                continue
            if part.redacted:
                blocks.append({"type": "redacted_thinking", "data": part.redacted})
            elif part.signature:
                blocks.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
        elif isinstance(part, MediaPart):
            blocks.append(encode_media(part))
        else:
            native = _native_block(part.block)
            if native.get("type") in _REPLAYED_BLOCK_TYPES:
                if not isinstance(server, list):
                    blocks.append(native)
            elif native.get("type") == "redacted_thinking":
                if not isinstance(state, list):
                    blocks.append(native)
            else:
                logger.debug("anthropic: dropped a %r block from an AI message", native.get("type"))
    extras_by_id = kwargs.get(TOOL_CALL_EXTRAS) or {}
    for call in message.tool_calls:
        block = _tool_use(ids(call["id"]), call["name"], call["args"])
        extras = (extras_by_id.get(call["id"]) or {}).get(BLOCK_EXTRAS)
        if isinstance(extras, dict):
            block.update(extras)  # `cache_control`, `caller` (programmatic tool calling)
        blocks.append(block)
    for invalid in message.invalid_tool_calls:
        try:
            args = json.loads(invalid.get("args") or "{}")
        except ValueError:
            args = {}
        if not isinstance(args, dict):
            args = {}
        blocks.append(_tool_use(ids(invalid.get("id")), invalid.get("name"), args))
    return blocks


def _tool_use(call_id: str, name: str | None, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name or "", "input": args}


# --- response decoding ----------------------------------------------------------------------


def decode_usage(usage: dict[str, Any]) -> Usage:
    """Usage with cached tokens counted in `input_tokens`, as LangChain expects."""
    cache_read = token_count(usage.get("cache_read_input_tokens"))
    cache_creation = token_count(usage.get("cache_creation_input_tokens"))
    input_tokens = (
        (token_count(usage.get("input_tokens")) or 0) + (cache_read or 0) + (cache_creation or 0)
    )
    output_tokens = token_count(usage.get("output_tokens")) or 0
    details = usage.get("output_tokens_details")
    reasoning = token_count(details.get("thinking_tokens")) if isinstance(details, dict) else None
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        cache_read=cache_read,
        cache_creation=cache_creation,
        reasoning=reasoning,
    )


class _Block:
    """What one open content block is, and what it has collected so far."""

    __slots__ = ("kind", "parts", "replay")

    def __init__(self, kind: int, replay: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.replay = replay
        self.parts: list[str] = []


class AnthropicStreamDecoder(FrameDecoder):
    """Decodes one Messages response; streamed (`feed`/`close`) or whole (`decode_message`)."""

    __slots__ = (
        "_blocks",
        "_citations",
        "_info",
        "_server",
        "_started",
        "_stop_reason",
        "_thinking",
        "_usage",
        "done",
        "tools",
    )

    def __init__(self) -> None:
        self.tools = ToolCallAssembler()
        self.done = False
        self._started = False
        self._info = ResponseInfo()
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._blocks: dict[int, _Block] = {}
        self._thinking: list[_Block] = []
        self._server: list[_Block] = []
        self._citations: list[Any] = []

    def new_framer(self, content_type: str) -> Framer:
        # JSON: a server that answered a streaming request whole.
        return framer_for(content_type, WholeBodyFramer)

    @property
    def ending(self) -> str:
        if self.done:
            return "message_stop"
        return "stop_reason, no message_stop" if self._stop_reason else "nothing"

    def decode_frames(self, frames: list[Frame], out: list[StreamEvent]) -> None:
        for frame in frames:
            data = frame.data
            if not data or self.done:
                continue
            try:
                event = json.loads(data)
            except ValueError as exc:
                if frame.event == "error":
                    raise StreamErrorEvent(
                        error_type=None, error_message=data[:500], payload=data
                    ) from None
                raise invalid_json(frame, exc) from None
            if not isinstance(event, dict):
                raise InvalidStreamDataError("a stream frame is not a JSON object", data=data)
            kind = event.get("type")
            if kind == "content_block_delta":
                self._delta(event, out)
            elif kind == "ping":
                continue
            elif kind == "content_block_start":
                self._start_block(_block_index(event), event.get("content_block") or {}, out)
            elif kind == "content_block_stop":
                self._stop_block(_block_index(event), out)
            elif kind == "message_start":
                self._message_start(event.get("message") or {}, out)
            elif kind == "message_delta":
                self._message_delta(event)
            elif kind == "message_stop":
                self.done = True
            elif kind == "error" or frame.event == "error" or "error" in event:
                raise stream_error(event)
            elif frame.event == WHOLE_BODY:
                self.decode_message(event, out)
                self.done = True

    def close(self) -> list[StreamEvent]:
        if not self.done:
            raise StreamCutError(
                "the stream ended before message_stop"
                if self._started
                else "the stream ended without sending a single event"
            )
        return self.close_into([])

    def close_into(self, out: list[StreamEvent]) -> list[StreamEvent]:
        """Append the once-per-response events: pending calls, usage, replay state, info,
        finish."""
        self.tools.finish(out)
        if self._usage:
            out.append(decode_usage(self._usage))
        if self._thinking:
            out.append(ProviderState(THINKING_BLOCKS, [_finished(b) for b in self._thinking]))
        if self._server:
            out.append(ProviderState(SERVER_TOOL_BLOCKS, [_finished(b) for b in self._server]))
        if self._citations:
            out.append(ProviderState(CITATIONS, self._citations))
        out.append(self._info)
        finish = normalize_finish(self._stop_reason, self.tools.calls_seen > 0, FINISH_REASONS)
        if finish is not None:
            out.append(finish)
        return out

    def decode_body(self, body: Any, out: list[StreamEvent]) -> None:
        if not isinstance(body, dict):
            raise InvalidStreamDataError("expected a JSON object", data=json.dumps(body))
        self.decode_message(body, out)

    def decode_message(self, message: dict[str, Any], out: list[StreamEvent]) -> None:
        """Decode a whole (non-streamed) message into `out`, as its stream would be."""
        if message.get("type") == "error" or "error" in message:
            raise stream_error(message)
        self._message_start(message, out)
        for index, block in enumerate(message.get("content") or ()):
            if isinstance(block, dict):
                self._start_block(index, block, out)
                self._stop_block(index, out)
        self._message_delta({"delta": message, "usage": None})
        self.done = True

    # --- events ------------------------------------------------------------------------

    def _message_start(self, message: dict[str, Any], out: list[StreamEvent]) -> None:
        self._started = True
        self._info.id = message.get("id") or self._info.id
        model = message.get("model")
        if model:
            self._info.model = model
        usage = message.get("usage")
        if isinstance(usage, dict):
            self._merge_usage(usage)
        out.append(ResponseInfo(self._info.id, self._info.model))

    def _message_delta(self, event: dict[str, Any]) -> None:
        delta = event.get("delta") or {}
        reason = delta.get("stop_reason")
        if reason:
            self._stop_reason = reason
        extra = self._info.extra
        sequence = delta.get("stop_sequence")
        if isinstance(sequence, str):
            extra["stop_sequence"] = sequence
        details = delta.get("stop_details")
        if details:
            extra["stop_details"] = details
        container = delta.get("container")
        if isinstance(container, dict):
            extra["container"] = container
        usage = event.get("usage")
        if isinstance(usage, dict):
            self._merge_usage(usage)

    def _merge_usage(self, usage: dict[str, Any]) -> None:
        for key, value in usage.items():
            if value is not None:
                self._usage[key] = value
        tier = usage.get("service_tier")
        if isinstance(tier, str):
            self._info.extra["service_tier"] = tier

    def _start_block(self, index: int, block: dict[str, Any], out: list[StreamEvent]) -> None:
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _Block(_BLOCK_TEXT)
            text = block.get("text")
            if text:
                out.append(TextDelta(_text(text, "text"), index))
            citations = block.get("citations")
            if citations:
                self._citations.extend(citations)
        elif kind == "tool_use":
            self._blocks[index] = _Block(_BLOCK_TOOL)
            given = block.get("input")
            args = json.dumps(given, ensure_ascii=False) if given else ""
            self.tools.add(out, key=index, id=block.get("id"), name=block.get("name"), args=args)
        elif kind == "thinking":
            thinking = _text(block.get("thinking") or "", "thinking")
            signature = _text(block.get("signature") or "", "signature")
            state = _Block(_BLOCK_THINKING, {"type": "thinking", "signature": signature})
            self._blocks[index] = state
            self._thinking.append(state)
            if thinking:
                state.parts.append(thinking)
            if thinking or signature:
                out.append(ReasoningDelta(thinking, index, signature or None))
        elif kind == "redacted_thinking":
            data = _text(block.get("data") or "", "data")
            state = _Block(_BLOCK_OTHER, {"type": "redacted_thinking", "data": data})
            self._blocks[index] = state
            self._thinking.append(state)
            out.append(ReasoningDelta("", index, redacted=data))
        else:
            kept = {k: v for k, v in block.items() if v is not None}
            state = _Block(_BLOCK_SERVER, kept)
            self._blocks[index] = state
            self._server.append(state)

    def _delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        index = _block_index(event)
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                out.append(TextDelta(_text(text, "text"), index))
        elif kind == "input_json_delta":
            partial = delta.get("partial_json")
            if not partial:
                return
            block = self._blocks.get(index)
            if block is None or block.kind == _BLOCK_TOOL:
                self.tools.add(out, key=index, id=None, name=None, args=partial)
            else:
                block.parts.append(partial)
        elif kind == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking:
                _text(thinking, "thinking")
                block = self._blocks.get(index)
                if block is not None:
                    block.parts.append(thinking)
                out.append(ReasoningDelta(thinking, index))
        elif kind == "signature_delta":
            signature = delta.get("signature")
            if signature:
                _text(signature, "signature")
                block = self._blocks.get(index)
                if block is not None and block.replay is not None:
                    block.replay["signature"] = signature
                out.append(ReasoningDelta("", index, signature))
        elif kind == "citations_delta":
            citation = delta.get("citation")
            if citation is not None:
                self._citations.append(citation)

    def _stop_block(self, index: int, out: list[StreamEvent]) -> None:
        block = self._blocks.get(index)
        if block is not None and block.kind == _BLOCK_TOOL:
            self.tools.complete(out, index)


def _block_index(event: dict[str, Any]) -> int:
    index = event.get("index", 0)
    if type(index) is not int:
        raise TypeError(f"a content block index must be an integer, got {index!r:.40}")
    return index


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise not_text(field, value)
    return value


def _finished(block: _Block) -> dict[str, Any]:
    """A kept block, whole: thinking text joined, a server tool's streamed input parsed."""
    replay = dict(block.replay or {})
    if block.kind == _BLOCK_THINKING:
        return {"type": "thinking", "thinking": "".join(block.parts), **replay}
    if block.parts:
        text = "".join(block.parts)
        try:
            replay["input"] = json.loads(text)
        except ValueError:
            replay["input"] = {}
            logger.warning(
                "anthropic: a %s block has invalid input %.200r", replay.get("type"), text
            )
    return replay


__all__ = [
    "API_VERSION",
    "BLOCK_EXTRAS",
    "CITATIONS",
    "SERVER_TOOL_BLOCKS",
    "SYSTEM_TURN",
    "THINKING_BLOCKS",
    "TOOL_IDS",
    "AnthropicProtocol",
    "AnthropicStreamDecoder",
    "claude_version",
    "decode_usage",
    "default_max_tokens",
    "encode_assistant",
    "encode_media",
    "encode_messages",
    "encode_response_format",
    "encode_thinking",
    "encode_tool",
    "encode_tool_choice",
    "encode_tool_result",
    "supports_native_json_schema",
]
