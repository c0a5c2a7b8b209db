"""OpenAI `/v1/responses`, server direction: what the proxy's Responses frontend speaks.

`OpenAIResponsesServer.decode_request` turns a Responses request (what the openai SDK's
`client.responses.create` and the codex CLI send) into LangChain messages and a neutral
`ChatRequest`; `OpenAIResponsesEncoder` writes normalized events back as the Responses
event stream, or as one `response` object.

Requests. The proxy is stateless: `previous_response_id`, `conversation`, `background`
and `item_reference` items are refused with a 400 that says to send the whole history
(`store: false`, as codex does). `input` is a string or a list of items:

- `message` items: `system`/`developer` become `SystemMessage`s where they stand (the
  backend's encoder places them), `user` a `HumanMessage` with its parts (`input_text`,
  `input_image`, `input_file`: every client encoder reads them), `assistant` text joins
  the assistant turn being built.
- A run of assistant-side items (`reasoning`, assistant `message`, `function_call`,
  `custom_tool_call`) is one `AIMessage`; `function_call_output` and
  `custom_tool_call_output` become `ToolMessage`s. Reasoning summaries become
  `reasoning_content`; an `encrypted_content` this proxy wrote (`bhumi:v1:...`) restores
  the backend's own state (Anthropic thinking signatures, Gemini thought signatures).
- A Responses backend also gets what only its format carries (`IncomingRequest.native`):
  reasoning items whose `encrypted_content` another Responses server wrote (a reasoning
  model's chain of thought), in place, with the message items and call item ids of their
  turn, which that server pairs them with; hosted-tool items; hosted tools and a hosted
  `tool_choice`; and every field without a neutral one (`text` and `reasoning` whole,
  `prompt_cache_key`, `client_metadata`, `include`, ...), as sent. `store` stays false.
- `instructions` is a leading `SystemMessage`.
- Tools: flat `function` tools become function tools; a `namespace` tool's functions are
  offered as `<namespace>__<name>` and calls to them are split back into `name` and
  `namespace`; a `custom` (freeform) tool is offered as a function with one string
  argument, `input`, and its calls come back as `custom_tool_call`s. Hosted tools
  (`web_search`, `file_search`, `code_interpreter`, `mcp`, ...) cannot run on another
  backend: only a Responses backend gets them. `additional_tools` input items are hoisted.
- `tool_choice` (`auto`/`none`/`required`, a function, a custom tool, `allowed_tools`),
  `parallel_tool_calls`, `reasoning.effort`, `text.format` (JSON schema or JSON mode),
  `max_output_tokens`, `temperature` and `top_p` are translated; `store`, `include`,
  `prompt_cache_key`, `metadata`, `user`, `safety_identifier`, `service_tier`,
  `truncation`, `stream_options` and `client_metadata` reach only a Responses backend.

Responses (streamed): `response.created`, `response.in_progress`, then one output item at
a time in the order the content arrives (reasoning as summary text, the message's
`output_text`, each call), each opened with `response.output_item.added` and closed with
`response.output_item.done` carrying the whole item (codex reads items from `.done`
only), then `response.completed` (or `response.incomplete` for a length or content-filter
stop) with the full `response` object and its usage. A backend failure after the stream
started is an `error` event followed by `response.failed` (codex reads the latter). While
the backend is silent, `keepalive()` repeats `response.in_progress`, which resets a
client's idle timer where SSE comments do not. The backend's state (Anthropic signatures,
a Responses backend's reasoning items with their `encrypted_content`) goes last, in one
reasoning item whose `encrypted_content` is `bhumi:v1:...`; a Responses backend's hosted-
tool calls that the client must run (`tool_search_call` with `execution: "client"`,
`computer_call`, `shell_call`, ...) are output items of their own.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
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
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.toolcalls import parse_arguments
from langchain_bhumi.protocols.base import (
    TOOL_CALL_EXTRAS,
    ChatRequest,
    IncomingRequest,
    RequestDecodeError,
    ResponseEncoder,
    ServerCodec,
    ToolChoice,
    shape_errors_are_bad_requests,
)
from langchain_bhumi.protocols.content import check_blocks
from langchain_bhumi.protocols.openai_responses.client import EXTRAS_KEY, RESPONSE_ITEMS
from langchain_bhumi.protocols.shapes import (
    check_schema,
    optional_object,
    optional_string,
    wrong_shape,
)

logger = logging.getLogger("langchain_bhumi.proxy")

NAMESPACE_SEPARATOR = "__"
"""Joins a `namespace` tool's name and its function's name in what a backend sees."""

STATE_PREFIX = "bhumi:v1:"
"""Marks a reasoning item's `encrypted_content` written by this proxy: base64 JSON of the
backend's wire format and the state it needs back (clients replay it verbatim)."""

_RESPONSES = "openai_responses"
_STATELESS = ("previous_response_id", "conversation")
_IGNORED = frozenset(
    {
        "store", "include", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options",
        "metadata", "user", "safety_identifier", "service_tier", "truncation", "stream_options",
        "client_metadata", "max_tool_calls", "top_logprobs", "context_management", "prompt",
        "moderation", "image", "access_programs",
    }
)  # fmt: skip
_HOSTED_ITEMS = frozenset(
    {
        "web_search_call", "file_search_call", "computer_call", "computer_call_output",
        "code_interpreter_call", "image_generation_call", "mcp_list_tools", "mcp_call",
        "mcp_approval_request", "mcp_approval_response", "tool_search_call",
        "tool_search_output", "compaction", "compaction_trigger", "configuration_update",
        "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
        "apply_patch_call", "apply_patch_call_output",
    }
)  # fmt: skip
_CLIENT_RUN = frozenset(
    {"computer_call", "local_shell_call", "shell_call", "apply_patch_call", "mcp_approval_request"}
)
"""Hosted-tool items a Responses server leaves to the client to act on (`tool_search_call`
too when its `execution` is `client`)."""
_EFFORTS = {"none": None, "minimal": "low", "low": "low", "medium": "medium", "high": "high"}


@dataclass(slots=True)
class ToolTable:
    """How the client's tools were offered to the backend, to map calls back."""

    custom: set[str] = field(default_factory=set)
    """Backend names of `custom` (freeform) tools."""
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Backend name -> `(namespace, name)`."""

    def backend_name(self, name: str, namespace: str | None) -> str:
        return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name

    def client_name(self, backend_name: str) -> tuple[str, str | None]:
        """`(name, namespace)` as the client declared the tool."""
        found = self.namespaced.get(backend_name)
        return (found[1], found[0]) if found else (backend_name, None)


@dataclass(slots=True)
class ResponsesIncomingRequest(IncomingRequest):
    """An `IncomingRequest` with what the answer echoes and the tool table."""

    tools: ToolTable = field(default_factory=ToolTable)
    echo: dict[str, Any] = field(default_factory=dict)


class OpenAIResponsesServer(ServerCodec):
    """The Responses API format, server direction."""

    name = "openai_responses"

    @shape_errors_are_bad_requests
    def decode_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> ResponsesIncomingRequest:
        if not isinstance(body, dict):
            raise RequestDecodeError("the request body must be a JSON object")
        name = model or body.get("model")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError("'model' is required")
        for key in _STATELESS:
            if body.get(key):
                raise RequestDecodeError(
                    f"'{key}' needs server-side state, which this proxy does not keep: send the "
                    "whole conversation in 'input' (with 'store': false)"
                )
        if body.get("background"):
            raise RequestDecodeError("'background' responses are not supported by this proxy")
        table = ToolTable()
        items = _input_items(body.get("input"))
        hosted: list[dict[str, Any]] = []
        tools = _decode_tools(body.get("tools"), table, hosted)
        tools.extend(_hoisted_tools(items, table, hosted))
        messages: list[BaseMessage] = []
        instructions = optional_string(body, "instructions")
        if instructions:
            messages.append(SystemMessage(content=instructions))
        own = list(messages)
        for neutral, native in _decode_items(items, table):
            if neutral is not None:
                messages.append(neutral)
            own.append(native)
        if not messages:
            raise RequestDecodeError("'input' must hold at least one message")
        tool_choice, tools = _decode_tool_choice(body.get("tool_choice"), tools, table)
        chat = ChatRequest(
            model=name,
            messages=messages,
            stream=bool(body.get("stream")) if stream is None else stream,
            tools=tools or None,
            tool_choice=tool_choice,
            parallel_tool_calls=_optional_bool(body, "parallel_tool_calls"),
            response_format=_decode_text_format(body.get("text")),
            temperature=_optional_number(body, "temperature"),
            top_p=_optional_number(body, "top_p"),
            max_tokens=_optional_int(body, "max_output_tokens"),
            reasoning_effort=_decode_effort(body.get("reasoning")),
        )
        echo = {key: body[key] for key in _ECHOED if key in body}
        return ResponsesIncomingRequest(
            chat,
            tools=table,
            echo=echo,
            native=_native(body, own, tools, hosted),
            dropped_elsewhere=_dropped_elsewhere(body, hosted),
        )

    def response_encoder(
        self, request: IncomingRequest, *, response_id: str
    ) -> OpenAIResponsesEncoder:
        if isinstance(request, ResponsesIncomingRequest):
            table, echo = request.tools, request.echo
        else:
            table, echo = ToolTable(), {}
        return OpenAIResponsesEncoder(
            model=request.chat.model, response_id=_response_id(response_id), tools=table, echo=echo
        )

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}

    def models_list(self, names: list[str]) -> dict[str, Any]:
        """`GET /v1/models`, as the OpenAI frontend answers it."""
        data = [
            {"id": n, "object": "model", "created": 0, "owned_by": "langchain-bhumi"} for n in names
        ]
        return {"object": "list", "data": data}


_KNOWN_FIELDS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "text", "temperature", "top_p", "max_output_tokens", "reasoning", "stream",
        "previous_response_id", "conversation", "background",
    }
)  # fmt: skip
_NEUTRAL_CHOICES = frozenset({"function", "custom", "allowed_tools"})
_ECHOED = (
    "instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "temperature",
    "top_p", "max_output_tokens", "reasoning", "store", "metadata", "user", "truncation",
    "prompt_cache_key", "safety_identifier",
)  # fmt: skip


def _native(
    body: dict[str, Any],
    messages: list[BaseMessage],
    tools: list[dict[str, Any]],
    hosted: list[dict[str, Any]],
) -> dict[str, Any]:
    """What a Responses backend gets instead of the neutral request: the history with the
    items only this format has (the backend's own reasoning, hosted-tool items) in place,
    the hosted tools, and every field the neutral request has no place for, as sent."""
    extra = {k: v for k, v in body.items() if k not in _KNOWN_FIELDS and k != "store"}
    for key in ("text", "reasoning"):  # whole: `text.verbosity`, `reasoning.summary`, ...
        if isinstance(body.get(key), dict):
            extra[key] = body[key]
    native: dict[str, Any] = {"messages": messages, "extra_body": extra}
    if hosted:
        native["tools"] = [*tools, *hosted]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") not in _NEUTRAL_CHOICES:
        native["tool_choice"] = choice  # a hosted tool, as sent
    return native


def _dropped_elsewhere(body: dict[str, Any], hosted: list[dict[str, Any]]) -> list[str]:
    """What only a Responses backend gets (named in the DEBUG line for other formats)."""
    dropped = sorted(key for key in body if key not in _KNOWN_FIELDS)
    dropped.extend(f"hosted tool {tool.get('type')}" for tool in hosted)
    text = body.get("text")
    if isinstance(text, dict) and "verbosity" in text:
        dropped.append("text.verbosity")
    return dropped


def _response_id(proxy_id: str) -> str:
    return "resp_" + proxy_id.removeprefix("req_")


def _optional_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RequestDecodeError(f"'{key}' must be true or false")


def _optional_number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestDecodeError(f"'{key}' must be a number")
    return float(value)


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestDecodeError(f"'{key}' must be a positive integer")
    return value


def _input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise RequestDecodeError("'input' must be a string or a non-empty list of items")
    for position, item in enumerate(value):
        if not isinstance(item, dict):
            raise RequestDecodeError(f"input[{position}] must be an object")
    return value


# --- items -> messages ------------------------------------------------------------------


class _Turn:
    """An assistant turn being collected from consecutive assistant-side items.

    Besides the neutral message, it keeps what only a Responses backend can take back:
    the backend's own reasoning items (`encrypted_content` another server wrote) and
    hosted-tool items, whole and in order; and when the turn holds such reasoning (it was
    answered by a Responses server, not through this proxy's state), its message items
    and call item ids too, which that server pairs the reasoning with.
    """

    __slots__ = (
        "call_items",
        "calls",
        "foreign",
        "invalid",
        "kept",
        "neutral",
        "origin",
        "reasoning",
        "state",
        "text",
    )

    def __init__(self) -> None:
        self.text: list[dict[str, Any]] = []
        self.reasoning: list[str] = []
        self.calls: list[ToolCall] = []
        self.invalid: list[InvalidToolCall] = []
        self.state: dict[str, Any] = {}
        self.origin: dict[str, str] = {}  # provider and wire format of a restored state
        self.kept: list[dict[str, Any]] = []  # items as sent, for a Responses backend
        self.call_items: dict[str, str] = {}  # call_id -> the call item's own id
        self.foreign = False  # holds reasoning another Responses server encrypted
        self.neutral = False  # holds anything besides hosted-tool items

    def message(self) -> AIMessage:
        """The turn for a backend of another format."""
        return self._message(self.state, self.origin)

    def native_message(self) -> AIMessage:
        """The turn for a Responses backend: with its kept items and call item ids."""
        kept = [item for item in self.kept if self.foreign or item.get("type") != "message"]
        if not kept or (self.origin and self.origin.get("wire_format") != _RESPONSES):
            return self.message()
        state = dict(self.state)
        state[RESPONSE_ITEMS] = [*(state.get(RESPONSE_ITEMS) or ()), *kept]
        if self.foreign and self.call_items:
            extras = dict(state.get(TOOL_CALL_EXTRAS) or {})
            for call_id, item_id in self.call_items.items():
                extras[call_id] = {**extras.get(call_id, {}), EXTRAS_KEY: {"item_id": item_id}}
            state[TOOL_CALL_EXTRAS] = extras
        return self._message(state, self.origin or {"wire_format": _RESPONSES})

    def _message(self, state: dict[str, Any], origin: dict[str, str]) -> AIMessage:
        kwargs: dict[str, Any] = dict(state)
        if self.reasoning:
            kwargs["reasoning_content"] = "\n\n".join(self.reasoning)
        content: str | list[str | dict[str, Any]] = list(self.text)
        if len(self.text) == 1:
            content = str(self.text[0]["text"])
        return AIMessage(
            content=content,
            tool_calls=self.calls,
            invalid_tool_calls=self.invalid,
            additional_kwargs=kwargs,
            response_metadata=dict(origin),
        )


def _decode_items(
    items: list[dict[str, Any]], table: ToolTable
) -> list[tuple[BaseMessage | None, BaseMessage]]:
    """Each message as `(for other formats, for a Responses backend)`; the first is `None`
    for a turn of hosted-tool items alone (other formats get nothing of it)."""
    messages: list[tuple[BaseMessage | None, BaseMessage]] = []
    turn: _Turn | None = None

    def end_turn() -> None:
        nonlocal turn
        if turn is not None:
            messages.append((turn.message() if turn.neutral else None, turn.native_message()))
            turn = None

    for position, item in enumerate(items):
        where = f"input[{position}]"
        kind = optional_string(item, "type", where) or ("message" if "role" in item else None)
        if kind == "message" and item.get("role") == "assistant":
            turn = turn or _Turn()
            turn.text.extend(_assistant_text(item.get("content"), where))
            turn.kept.append(item)
            turn.neutral = True
        elif kind == "message":
            end_turn()
            message = _message(item, where)
            messages.append((message, message))
        elif kind == "reasoning":
            turn = turn or _Turn()
            _reasoning(item, turn)
            turn.neutral = True
        elif kind in ("function_call", "custom_tool_call"):
            turn = turn or _Turn()
            _call(item, kind, turn, table, where)
            turn.neutral = True
        elif kind in ("function_call_output", "custom_tool_call_output"):
            end_turn()
            output = _output(item, where)
            messages.append((output, output))
        elif kind == "item_reference":
            raise RequestDecodeError(
                f"{where}: 'item_reference' needs server-side state, which this proxy does not "
                "keep: send the referenced item itself"
            )
        elif kind == "additional_tools":
            continue  # hoisted into the tool list
        elif kind in _HOSTED_ITEMS:
            turn = turn or _Turn()
            turn.kept.append(item)  # only a Responses backend gets it
            logger.debug("responses frontend: a %s item goes only to a Responses backend", kind)
        else:
            raise RequestDecodeError(f"{where}: unsupported input item type {kind!r}")
    end_turn()
    return messages


def _message(item: dict[str, Any], where: str) -> BaseMessage:
    role = item.get("role")
    content = _content(item.get("content"), where)
    if role in ("system", "developer"):
        return SystemMessage(content=content)
    if role == "user":
        return HumanMessage(content=content)
    raise RequestDecodeError(f"{where}: unknown message role {role!r}")


def _content(content: Any, where: str) -> str | list[Any]:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        check_blocks(content, f"{where}.content")  # protocols.content reads them for all
        return content
    raise wrong_shape(f"{where}.content", "a string or a list of parts", content)


def _assistant_text(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise RequestDecodeError(f"{where}.content must be a string or a list of parts")
    blocks = []
    for number, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        field = "text" if part.get("type") == "output_text" else "refusal"
        text = optional_string(part, field, f"{where}.content[{number}]")
        if text:
            blocks.append({"type": "text", "text": text})
    return blocks


def _reasoning(item: dict[str, Any], turn: _Turn) -> None:
    for part in item.get("summary") or ():
        if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
            turn.reasoning.append(part["text"])
    for part in item.get("content") or ():
        if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
            turn.reasoning.append(part["text"])
    blob = item.get("encrypted_content")
    if not isinstance(blob, str) or not blob:
        return  # summary text alone (this proxy's rendering of reasoning): nothing to replay
    saved = _saved_state(blob)
    if saved is None:  # the Responses server's own: replayed to a Responses backend
        turn.kept.append(item)
        turn.foreign = True
    elif isinstance(saved.get("state"), dict):
        turn.state.update(saved["state"])
        turn.origin = {k: str(saved[k]) for k in ("provider", "wire_format") if saved.get(k)}


def _saved_state(blob: str) -> dict[str, Any] | None:
    """The state this proxy wrote into an `encrypted_content`; `None` for another server's."""
    if not blob.startswith(STATE_PREFIX):
        return None
    try:
        saved = json.loads(base64.b64decode(blob[len(STATE_PREFIX) :]))
    except ValueError:
        return None
    return saved if isinstance(saved, dict) else None


def _call(item: dict[str, Any], kind: str, turn: _Turn, table: ToolTable, where: str) -> None:
    call_id = item.get("call_id")
    name = item.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str) or not name:
        raise RequestDecodeError(f"{where}: a {kind} needs 'call_id' and 'name'")
    backend_name = table.backend_name(name, optional_string(item, "namespace", where))
    item_id = item.get("id")
    if isinstance(item_id, str) and item_id and kind == "function_call":
        turn.call_items[call_id] = item_id
    if kind == "custom_tool_call":
        text = item.get("input")
        turn.calls.append(
            ToolCall(
                name=backend_name, args={"input": str(text or "")}, id=call_id, type="tool_call"
            )
        )
        return
    raw = item.get("arguments") or ""
    if not isinstance(raw, str):
        raw = json.dumps(raw, ensure_ascii=False)
    args, error = parse_arguments(raw)
    if args is not None:
        turn.calls.append(ToolCall(name=backend_name, args=args, id=call_id, type="tool_call"))
    else:
        turn.invalid.append(
            InvalidToolCall(
                name=backend_name, args=raw, id=call_id, error=error, type="invalid_tool_call"
            )
        )


def _output(item: dict[str, Any], where: str) -> ToolMessage:
    call_id = item.get("call_id")
    if not isinstance(call_id, str):
        raise RequestDecodeError(f"{where}: a tool output needs 'call_id'")
    output = item.get("output")
    content: str | list[Any]
    if output is None or isinstance(output, str):
        content = output or ""
    elif isinstance(output, list):
        content = [p for p in output if isinstance(p, dict)]
        check_blocks(output, f"{where}.output")
    else:
        content = json.dumps(output, ensure_ascii=False)
    return ToolMessage(content=content, tool_call_id=call_id)


# --- tools ------------------------------------------------------------------------------


def _decode_tools(
    tools: Any, table: ToolTable, hosted: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The function tools; hosted tools are added to `hosted` (a Responses backend's)."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise RequestDecodeError("'tools' must be a list")
    decoded: list[dict[str, Any]] = []
    for position, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestDecodeError(f"tools[{position}] must be an object")
        decoded.extend(_decode_tool(tool, table, None, f"tools[{position}]", hosted))
    return decoded


def _decode_tool(
    tool: dict[str, Any],
    table: ToolTable,
    namespace: str | None,
    where: str,
    hosted: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    kind = tool.get("type")
    if kind == "namespace":
        inner = tool.get("tools")
        space = tool.get("name")
        if not isinstance(inner, list) or not isinstance(space, str):
            raise RequestDecodeError(f"{where}: a namespace tool needs 'name' and 'tools'")
        found: list[dict[str, Any]] = []
        for number, member in enumerate(inner):
            if isinstance(member, dict):
                found.extend(_decode_tool(member, table, space, f"{where}.tools[{number}]", hosted))
        return found
    if kind not in ("function", "custom"):
        if namespace is None:
            hosted.append(tool)
        return []
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise RequestDecodeError(f"{where}: a {kind} tool needs a 'name'")
    backend_name = table.backend_name(name, namespace)
    if namespace:
        table.namespaced[backend_name] = (namespace, name)
    function: dict[str, Any] = {"name": backend_name}
    description = tool.get("description")
    if kind == "custom":
        table.custom.add(backend_name)
        function["description"] = _custom_description(description, tool.get("format"))
        function["parameters"] = {
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The tool's input text."}},
            "required": ["input"],
        }
        return [{"type": "function", "function": function}]
    if isinstance(description, str) and description:
        function["description"] = description
    parameters = optional_object(tool, "parameters", where)
    if parameters:
        check_schema(parameters, f"{where}.parameters")
    function["parameters"] = parameters or {"type": "object", "properties": {}}
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return [{"type": "function", "function": function}]


def _custom_description(description: Any, fmt: Any) -> str:
    """A freeform tool's description, with its input grammar when it has one."""
    text = description if isinstance(description, str) else ""
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and fmt.get("definition"):
        syntax = fmt.get("syntax") or "lark"
        text += f"\n\nThe input must match this {syntax} grammar:\n{fmt['definition']}"
    return text.strip()


def _hoisted_tools(
    items: list[dict[str, Any]], table: ToolTable, hosted: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    hoisted: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        if item.get("type") == "additional_tools" and isinstance(item.get("tools"), list):
            for number, tool in enumerate(item["tools"]):
                if isinstance(tool, dict):
                    where = f"input[{position}].tools[{number}]"
                    hoisted.extend(_decode_tool(tool, table, None, where, hosted))
    return hoisted


def _decode_tool_choice(
    choice: Any, tools: list[dict[str, Any]], table: ToolTable
) -> tuple[ToolChoice | None, list[dict[str, Any]]]:
    if choice is None or choice in ("auto", "none", "required"):
        return choice, tools
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom") and isinstance(choice.get("name"), str):
            return table.backend_name(choice["name"], choice.get("namespace")), tools
        if kind == "allowed_tools" and isinstance(choice.get("tools"), list):
            allowed = {
                table.backend_name(t.get("name", ""), t.get("namespace"))
                for t in choice["tools"]
                if isinstance(t, dict)
            }
            narrowed = [t for t in tools if t["function"]["name"] in allowed]
            mode = "required" if choice.get("mode") == "required" else "auto"
            return mode, narrowed
        logger.debug("responses frontend: tool_choice %r read as 'auto'", kind)
        return "auto", tools
    raise RequestDecodeError(f"unsupported tool_choice: {json.dumps(choice)[:200]}")


def _decode_text_format(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, dict):
        return None
    fmt = text.get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        given = optional_object(fmt, "schema", "text.format") or {}
        check_schema(given, "text.format.schema")
        schema: dict[str, Any] = {"name": fmt.get("name") or "response", "schema": given}
        for key in ("strict", "description"):
            if key in fmt:
                schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": schema}
    raise RequestDecodeError(f"unsupported text.format type {fmt.get('type')!r}")


def _decode_effort(reasoning: Any) -> str | None:
    if not isinstance(reasoning, dict):
        return None
    effort = reasoning.get("effort")
    if effort is None:
        return None
    return _EFFORTS.get(str(effort), "high")  # xhigh, max


# --- events -> Responses ------------------------------------------------------------------


def encode_usage(usage: Usage | None) -> dict[str, Any] | None:
    """Usage in Responses shape (input includes cached tokens; output includes reasoning)."""
    if usage is None:
        return None
    total = usage.total_tokens
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read or 0,
            "cache_write_tokens": usage.cache_creation or 0,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning or 0},
        "total_tokens": total if total is not None else usage.input_tokens + usage.output_tokens,
    }


def _item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class _Item:
    """One output item while it is open."""

    __slots__ = ("index", "item", "parts", "refusal")

    def __init__(self, index: int, item: dict[str, Any], *, refusal: bool = False) -> None:
        self.index = index
        self.item = item
        self.parts: list[str] = []
        self.refusal = refusal


class OpenAIResponsesEncoder(ResponseEncoder):
    """Normalized events -> the Responses event stream (or one `response` object)."""

    def __init__(
        self,
        *,
        model: str,
        response_id: str,
        tools: ToolTable | None = None,
        echo: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.response_id = response_id
        self.tools = tools or ToolTable()
        self.echo = echo or {}
        self.created = int(time.time())
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._text: _Item | None = None
        self._reasoning: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._state: dict[str, Any] = {}
        self._backend: dict[str, str] = {}

    # --- stream ------------------------------------------------------------------------

    def start(self) -> bytes:
        snapshot = self._response("in_progress")
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def keepalive(self) -> bytes:
        """A repeated `response.in_progress`: resets a client's idle timer (comments do not)."""
        return self._event("response.in_progress", response=self._response("in_progress"))

    def encode(self, events: list[StreamEvent]) -> bytes:
        frames: list[bytes] = []
        for event in events:
            self._feed(event, frames)
        return b"".join(frames)

    def finish(self) -> bytes:
        frames: list[bytes] = []
        self._close_all(frames)
        status, details = self._outcome()
        kind = "response.completed" if status == "completed" else "response.incomplete"
        frames.append(self._event(kind, response=self._response(status, details)))
        return b"".join(frames)

    def error(self, status: int, error_type: str, message: str) -> bytes:
        code = _error_code(status, error_type, message)
        frames: list[bytes] = []
        self._close_all(frames)
        frames.append(
            self._event(
                "error",
                code=code,
                message=message,
                param=None,
                error={"type": error_type, "code": code, "message": message},
            )
        )
        failed = self._response("failed")
        failed["error"] = {"code": code, "message": message}
        frames.append(self._event("response.failed", response=failed))
        return b"".join(frames)

    def complete(self, events: list[StreamEvent]) -> dict[str, Any]:
        sink: list[bytes] = []
        for event in events:
            self._feed(event, sink)
        self._close_all(sink)
        status, details = self._outcome()
        return self._response(status, details)

    # --- events ------------------------------------------------------------------------

    def _feed(self, event: StreamEvent, frames: list[bytes]) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self._text_delta(event.text, frames)
        elif isinstance(event, ToolCallDelta):
            self._call_delta(event, frames)
        elif isinstance(event, ReasoningDelta):
            if event.text:
                self._reasoning_delta(event.text, frames)
        elif isinstance(event, ToolCallDone):
            self._call_done(event, frames)
        elif isinstance(event, RefusalDelta):
            self._text_delta(event.text, frames, refusal=True)
        elif isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            self._finish = event
        elif isinstance(event, ProviderState):
            self._state[event.key] = event.value
        # ResponseInfo: the client sees this proxy's response id and its own model name

    def set_backend(self, *, provider: str, wire_format: str) -> None:
        """Where the answer comes from: kept with the backend's state, so that state goes
        back only to a backend that reads it."""
        self._backend = {"provider": provider, "wire_format": wire_format}

    def _open(self, item: dict[str, Any], frames: list[bytes], *, refusal: bool = False) -> _Item:
        opened = _Item(len(self._output), item, refusal=refusal)
        self._output.append(item)
        frames.append(
            self._event("response.output_item.added", output_index=opened.index, item=dict(item))
        )
        return opened

    def _done(self, opened: _Item, frames: list[bytes]) -> None:
        frames.append(
            self._event("response.output_item.done", output_index=opened.index, item=opened.item)
        )

    def _reasoning_delta(self, text: str, frames: list[bytes]) -> None:
        if self._text is not None:
            self._close_text(frames)
        item = self._reasoning
        if item is None:
            item = self._reasoning = self._open(
                {"id": _item_id("rs"), "type": "reasoning", "summary": []}, frames
            )
            frames.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    item_id=item.item["id"],
                    output_index=item.index,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        item.parts.append(text)
        frames.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=item.item["id"],
                output_index=item.index,
                summary_index=0,
                delta=text,
            )
        )

    def _close_reasoning(self, frames: list[bytes]) -> None:
        item = self._reasoning
        if item is None:
            return
        self._reasoning = None
        text = "".join(item.parts)
        part = {"type": "summary_text", "text": text}
        ids = {"item_id": item.item["id"], "output_index": item.index, "summary_index": 0}
        frames.append(self._event("response.reasoning_summary_text.done", text=text, **ids))
        frames.append(self._event("response.reasoning_summary_part.done", part=part, **ids))
        item.item["summary"] = [part]
        self._done(item, frames)

    def _text_delta(self, text: str, frames: list[bytes], *, refusal: bool = False) -> None:
        self._close_reasoning(frames)
        item = self._text
        if item is None:
            item = self._text = self._open(
                {
                    "id": _item_id("msg"),
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
                frames,
                refusal=refusal,
            )
            part = {"type": "refusal", "refusal": ""} if refusal else _output_text("")
            frames.append(
                self._event(
                    "response.content_part.added",
                    item_id=item.item["id"],
                    output_index=item.index,
                    content_index=0,
                    part=part,
                )
            )
        item.parts.append(text)
        frames.append(
            self._event(
                "response.refusal.delta" if item.refusal else "response.output_text.delta",
                item_id=item.item["id"],
                output_index=item.index,
                content_index=0,
                delta=text,
                **({} if item.refusal else {"logprobs": []}),
            )
        )

    def _close_text(self, frames: list[bytes]) -> None:
        item = self._text
        if item is None:
            return
        self._text = None
        text = "".join(item.parts)
        ids = {"item_id": item.item["id"], "output_index": item.index, "content_index": 0}
        if item.refusal:
            part: dict[str, Any] = {"type": "refusal", "refusal": text}
            frames.append(self._event("response.refusal.done", refusal=text, **ids))
        else:
            part = _output_text(text)
            frames.append(self._event("response.output_text.done", text=text, logprobs=[], **ids))
        frames.append(self._event("response.content_part.done", part=part, **ids))
        item.item["content"] = [part]
        item.item["status"] = "completed"
        self._done(item, frames)

    def _call_delta(self, event: ToolCallDelta, frames: list[bytes]) -> None:
        item = self._calls.get(event.index)
        if item is None:
            self._close_reasoning(frames)
            self._close_text(frames)
            item = self._calls[event.index] = self._open(self._call_item(event), frames)
        if event.args:
            item.parts.append(event.args)
            if item.item["type"] == "function_call":
                frames.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=item.item["id"],
                        output_index=item.index,
                        delta=event.args,
                    )
                )

    def _call_item(self, event: ToolCallDelta) -> dict[str, Any]:
        backend_name = event.name or ""
        name, namespace = self.tools.client_name(backend_name)
        if backend_name in self.tools.custom:
            item: dict[str, Any] = {
                "id": _item_id("ctc"),
                "type": "custom_tool_call",
                "status": "in_progress",
                "call_id": event.id or "",
                "name": name,
                "input": "",
            }
        else:
            item = {
                "id": _item_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": event.id or "",
                "name": name,
            }
        if namespace:
            item["namespace"] = namespace
        return item

    def _call_done(self, event: ToolCallDone, frames: list[bytes]) -> None:
        item = self._calls.get(event.index)
        if item is None:  # a call that never streamed a delta (a whole response)
            delta = ToolCallDelta(event.index, event.id, event.name, "")
            self._call_delta(delta, frames)
            item = self._calls[event.index]
        payload = item.item
        ids = {"item_id": payload["id"], "output_index": item.index}
        if payload["type"] == "custom_tool_call":
            text = event.args.get("input") if event.args else None
            payload["input"] = text if isinstance(text, str) else event.args_text
            frames.append(
                self._event("response.custom_tool_call_input.done", input=payload["input"], **ids)
            )
        else:
            payload["arguments"] = event.args_text or "{}"
            frames.append(
                self._event(
                    "response.function_call_arguments.done", arguments=payload["arguments"], **ids
                )
            )
        payload["status"] = "completed"
        self._done(item, frames)

    def _close_all(self, frames: list[bytes]) -> None:
        self._close_reasoning(frames)
        self._close_text(frames)
        if self._backend.get("wire_format") == _RESPONSES:
            self._client_run_items(frames)
        if self._state:
            self._state_item(frames)

    def _client_run_items(self, frames: list[bytes]) -> None:
        """A Responses backend's hosted-tool calls that the client must run (a client-side
        `tool_search`, a computer or shell action), as the output items they are; its other
        items stay in the state item (the client only sends them back)."""
        kept = self._state.get(RESPONSE_ITEMS)
        if not isinstance(kept, list):
            return
        stays: list[Any] = []
        for item in kept:
            if isinstance(item, dict) and _client_runs(item):
                self._done(self._open(item, frames), frames)
            else:
                stays.append(item)
        if stays:
            self._state[RESPONSE_ITEMS] = stays
        else:
            del self._state[RESPONSE_ITEMS]

    def _state_item(self, frames: list[bytes]) -> None:
        """A reasoning item whose `encrypted_content` carries the backend's state back."""
        blob = json.dumps({**self._backend, "state": self._state}, ensure_ascii=False)
        encoded = STATE_PREFIX + base64.b64encode(blob.encode()).decode()
        item = self._open(
            {
                "id": _item_id("rs"),
                "type": "reasoning",
                "summary": [],
                "encrypted_content": encoded,
            },
            frames,
        )
        self._state = {}
        self._done(item, frames)

    # --- envelopes ---------------------------------------------------------------------

    def _outcome(self) -> tuple[str, dict[str, Any] | None]:
        reason = self._finish.reason if self._finish else None
        if reason == "length":
            return "incomplete", {"reason": "max_output_tokens"}
        if reason == "content_filter":
            return "incomplete", {"reason": "content_filter"}
        return "completed", None

    def _response(self, status: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        echo = self.echo
        done = status in ("completed", "incomplete", "failed")
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": None,
            "incomplete_details": details,
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "model": self.model,
            "output": [dict(item) for item in self._output] if done else [],
            "parallel_tool_calls": echo.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": echo.get("reasoning") or {"effort": None, "summary": None},
            "store": echo.get("store", False),
            "temperature": echo.get("temperature"),
            "text": echo.get("text") or {"format": {"type": "text"}},
            "tool_choice": echo.get("tool_choice", "auto"),
            "tools": echo.get("tools") or [],
            "top_p": echo.get("top_p"),
            "truncation": echo.get("truncation", "disabled"),
            "usage": encode_usage(self._usage) if done else None,
            "user": echo.get("user"),
            "metadata": echo.get("metadata") or {},
        }
        if done:
            body["completed_at"] = int(time.time()) if status == "completed" else None
        return body

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n".encode()


def _client_runs(item: dict[str, Any]) -> bool:
    kind = item.get("type")
    return kind in _CLIENT_RUN or (kind == "tool_search_call" and item.get("execution") == "client")


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _error_code(status: int, error_type: str, message: str) -> str:
    """The `response.error.code` a Responses client acts on (codex: context overflow is
    final, rate limits wait, anything else is retried)."""
    lowered = message.lower()
    if "context" in lowered and ("length" in lowered or "window" in lowered or "exceed" in lowered):
        return "context_length_exceeded"
    if status == 429:
        return "rate_limit_exceeded"
    if status == 400:
        return "invalid_prompt"
    if status in (503, 529):
        return "server_is_overloaded"
    return "server_error"


__all__ = [
    "NAMESPACE_SEPARATOR",
    "STATE_PREFIX",
    "OpenAIResponsesEncoder",
    "OpenAIResponsesServer",
    "ResponsesIncomingRequest",
    "ToolTable",
    "encode_usage",
]
