"""OpenAI `/chat/completions`, server direction: what the proxy's OpenAI frontend speaks.

`decode_request` turns a client's request into LangChain messages and a neutral
`ChatRequest`; `OpenAIChatEncoder` turns normalized events back into
`chat.completion.chunk` SSE (index-keyed tool-call deltas, `id`/`name` once, a finish
chunk, usage when `stream_options.include_usage` asked for it, `[DONE]`) or one
`chat.completion` object. The client direction is in `client.py`.

Requests (the neutral `chat` is what other formats get; `native` what an OpenAI backend
gets instead):

- Messages: `system` and `developer` become `SystemMessage`s (a developer one keeps its
  role for an OpenAI backend); `tool` messages `ToolMessage`s; an assistant's function and
  custom tool calls `tool_calls` (custom input as the `input` argument; arguments sent as
  an object read as given); a deprecated `function_call` and its `role: "function"`
  answer a tool call and its result, paired by an id made from the call's position. An
  assistant's past `refusal` and `audio` are not relayed. A `file` part given by OpenAI
  file id only an OpenAI backend can read (400 for others).
- Tools: function tools as they are; custom tools as function tools taking their text
  as `input` (the grammar in its description) for other formats, and as sent for OpenAI;
  deprecated `functions` as function tools. `tool_choice`: a mode, a function or custom
  tool's name, `allowed_tools` as its mode with only the allowed tools offered (OpenAI
  gets the object as sent); `function_call` when no `tool_choice`.
- `n` must be 1 or null. The output limit is the first of `max_completion_tokens` and
  `max_tokens` that is set. `stream_options.include_usage` decides the usage chunk;
  `audio` output is not relayed (the answer is text). `json_schema` without a schema is
  `json_object`, which a backend without a JSON mode gets as an instruction.
- Penalties, sampling, `seed`, `stop`, `reasoning_effort` are neutral fields; the other
  OpenAI fields (`logprobs`, `logit_bias`, `prediction`, `store`, `metadata`, `user`,
  `prompt_cache_key`, `safety_identifier`, `verbosity`, `service_tier`,
  `web_search_options`, ...) go to `chat.extra_body`, which only an OpenAI backend gets.

Responses: a call to one of the client's custom tools goes out whole, once complete, as
a custom call; a `functions` request's call as `function_call`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from json.encoder import encode_basestring as _string
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)

from langchain_bhumi.core.events import (
    Finish,
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
    proxy_logger,
    shape_errors_are_bad_requests,
)
from langchain_bhumi.protocols.content import check_blocks
from langchain_bhumi.protocols.openai_chat.client import (
    CUSTOM_TOOL_CALL,
    EXTRA_CONTENT,
    REASONING_DETAILS,
)
from langchain_bhumi.protocols.shapes import (
    check_schema,
    optional_bool,
    optional_integer,
    optional_number,
    optional_object,
    optional_string,
    string_list,
    wrong_shape,
)

logger = logging.getLogger("langchain_bhumi")

# Request fields this codec maps; others are kept as extras, which the proxy forwards
# only to a backend that speaks this same format.
_KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "temperature", "top_p", "max_tokens",
        "max_completion_tokens", "stop", "seed", "reasoning_effort", "n",
        "presence_penalty", "frequency_penalty", "functions", "function_call", "audio",
        "modalities",
    }
)  # fmt: skip
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}
_DEVELOPER = {"__openai_role__": "developer"}  # langchain-openai's mark of a developer message


@dataclass(slots=True)
class OpenAIChatIncomingRequest(IncomingRequest):
    """An `IncomingRequest` with the shape the answer's tool calls must take."""

    custom_tools: frozenset[str] = frozenset()
    """Names of the client's custom tools: their calls go back as `custom` calls."""
    legacy_functions: bool = False
    """The client declared `functions` (no `tools`): a call goes back as `function_call`."""


class OpenAIChatServer(ServerCodec):
    """The chat-completions format, server direction.

    Example:
        ```python
        codec = OpenAIChatServer()
        incoming = codec.decode_request(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        )
        encoder = codec.response_encoder(incoming, response_id="chatcmpl-1")
        body = encoder.complete(events)
        ```
    """

    name = "openai_chat"

    @shape_errors_are_bad_requests
    def decode_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> OpenAIChatIncomingRequest:
        """The request for a chat-completions body (see the module doc for what each
        field becomes).

        Raises:
            RequestDecodeError: The body is not a request this frontend can serve.
        """
        if not isinstance(body, dict):
            raise RequestDecodeError("the request body must be a JSON object")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise RequestDecodeError("'messages' must be a non-empty list")
        name = model or body.get("model")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError("'model' is required")
        if body.get("n") not in (None, 1):
            raise RequestDecodeError("only n=1 is supported")
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise RequestDecodeError("'stream_options' must be an object")
        # Not relayed to any backend: the answer has text, not audio; no obfuscation.
        unsent = [f"stream_options.{k}" for k in options if k != "include_usage"]
        modalities = body.get("modalities")
        if body.get("audio") is not None:
            unsent.append("audio")
        if isinstance(modalities, list) and "audio" in modalities:
            unsent.append("modalities: audio")
            modalities = [m for m in modalities if m != "audio"]
        tools, native_tools, custom = _decode_tools(body.get("tools"), body.get("functions"))
        choice, narrowed = _decode_tool_choice(
            _first_set(body, "tool_choice", "function_call"), tools
        )
        stop = body.get("stop")
        if stop is not None and not isinstance(stop, str):
            string_list(stop, "stop")
        response_format = optional_object(body, "response_format")
        messages = _decode_messages(body["messages"], unsent)
        if unsent:
            proxy_logger.debug("openai_chat request: not relayed: %s", ", ".join(unsent))
        chat = ChatRequest(
            model=name,
            messages=messages,
            stream=bool(body.get("stream")) if stream is None else stream,
            tools=narrowed,
            tool_choice=choice,
            parallel_tool_calls=optional_bool(body, "parallel_tool_calls"),
            response_format=_neutral_response_format(response_format),
            temperature=optional_number(body, "temperature"),
            top_p=optional_number(body, "top_p"),
            max_tokens=_output_limit(body),
            stop=[stop] if isinstance(stop, str) else stop,
            seed=optional_integer(body, "seed"),
            reasoning_effort=optional_string(body, "reasoning_effort"),
            presence_penalty=optional_number(body, "presence_penalty"),
            frequency_penalty=optional_number(body, "frequency_penalty"),
            extra_body={k: v for k, v in body.items() if k not in _KNOWN_FIELDS},
        )
        native: dict[str, Any] = {}
        if native_tools != narrowed:
            native["tools"] = native_tools
        raw_choice = body.get("tool_choice")
        if isinstance(raw_choice, dict):  # custom, allowed_tools (OpenAI narrows the tools)
            native["tool_choice"] = raw_choice
        if response_format != chat.response_format:
            native["response_format"] = response_format
        if modalities:  # text only: audio was left out above
            native["extra_body"] = {**chat.extra_body, "modalities": modalities}
        return OpenAIChatIncomingRequest(
            chat,
            include_usage=bool(options.get("include_usage")),
            native=native,
            same_format_only=_openai_file_ids(body["messages"]),
            custom_tools=frozenset(custom),
            legacy_functions=bool(body.get("functions")) and not body.get("tools"),
        )

    def response_encoder(self, request: IncomingRequest, *, response_id: str) -> ResponseEncoder:
        """An encoder for the answer: custom tools' calls as `custom` calls, a legacy
        `functions` request's call as `function_call`."""
        custom, legacy = frozenset[str](), False
        if isinstance(request, OpenAIChatIncomingRequest):
            custom, legacy = request.custom_tools, request.legacy_functions
        return OpenAIChatEncoder(
            model=request.chat.model,
            response_id=response_id,
            include_usage=request.include_usage,
            custom_tools=custom,
            legacy_functions=legacy,
        )

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}

    def models_list(self, names: list[str]) -> dict[str, Any]:
        """The `GET /v1/models` answer."""
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "langchain-bhumi"}
            for name in names
        ]
        return {"object": "list", "data": data}


def _output_limit(body: dict[str, Any]) -> int | None:
    """The first of `max_completion_tokens` and `max_tokens` that is not null
    (`max_completion_tokens: null` with `max_tokens: 512` means 512)."""
    limit = optional_integer(body, "max_completion_tokens")
    return limit if limit is not None else optional_integer(body, "max_tokens")


def _first_set(body: dict[str, Any], *keys: str) -> Any:
    """The first of `keys` whose value is not null (`tool_choice: null` with a legacy
    `function_call` means the latter)."""
    return next((body[k] for k in keys if body.get(k) is not None), None)


def _neutral_response_format(response_format: dict[str, Any] | None) -> Any:
    """A `json_schema` format without a schema asks for JSON and nothing more."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            return {"type": "json_object"}
        check_schema(spec["schema"], "response_format.json_schema.schema")
    return response_format


def _decode_tools(
    tools: Any, functions: Any
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None, set[str]]:
    """`(function tools, the tools for an OpenAI backend, custom tool names)`.

    Custom tools (free-text input, optionally a grammar) become function tools with one
    string parameter `input` for other formats; an OpenAI backend gets them as given.
    Legacy `functions` become function tools for every backend.
    """
    if tools is not None and not isinstance(tools, list):
        raise RequestDecodeError("'tools' must be a list")
    if functions is not None and not isinstance(functions, list):
        raise RequestDecodeError("'functions' must be a list")
    neutral: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    custom: set[str] = set()
    for number, tool in enumerate(tools or ()):
        if not isinstance(tool, dict):
            raise RequestDecodeError(f"tools[{number}] must be an object")
        native.append(tool)
        spec = tool.get("custom")
        if tool.get("type") == "custom" and isinstance(spec, dict):
            name = spec.get("name")
            if not isinstance(name, str) or not name:
                raise RequestDecodeError(f"tools[{number}] needs a custom 'name'")
            custom.add(name)
            neutral.append(_custom_as_function(name, spec))
        else:
            if "function" in tool or tool.get("type") == "function":
                _check_function(tool.get("function"), f"tools[{number}].function")
            neutral.append(tool)
    declared = {_tool_name(t) for t in neutral}
    for number, function in enumerate(functions or ()):
        _check_function(function, f"functions[{number}]")
        if function["name"] not in declared:
            as_tool = {"type": "function", "function": function}
            neutral.append(as_tool)
            native.append(as_tool)
    return neutral or None, native or None, custom


def _check_function(function: Any, where: str) -> None:
    """A function tool's definition: a `name`, and a `description` and `parameters` of
    the types every backend reads them as."""
    if not isinstance(function, dict):
        raise wrong_shape(where, "an object with a 'name'", function)
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise wrong_shape(f"{where}.name", "a non-empty string", function.get("name"))
    optional_string(function, "description", where)
    parameters = optional_object(function, "parameters", where)
    if parameters is not None:
        check_schema(parameters, f"{where}.parameters")


def _custom_as_function(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A custom tool as a function tool taking its free-text input as `input`."""
    input_doc = "The tool's input, as free text."
    fmt = spec.get("format")
    grammar = fmt.get("grammar") if isinstance(fmt, dict) else None
    if isinstance(grammar, dict) and grammar.get("definition"):
        input_doc = (
            f"The tool's input: text matching this {grammar.get('syntax', '')} grammar:\n"
            f"{grammar['definition']}"
        )
    function: dict[str, Any] = {
        "name": name,
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "string", "description": input_doc}},
            "required": ["input"],
        },
    }
    if spec.get("description"):
        function["description"] = spec["description"]
    return {"type": "function", "function": function}


def _tool_name(tool: dict[str, Any]) -> str | None:
    for key in ("function", "custom"):
        spec = tool.get(key)
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            return str(spec["name"])
    return None


def _decode_tool_choice(
    choice: Any, tools: list[dict[str, Any]] | None
) -> tuple[ToolChoice | None, list[dict[str, Any]] | None]:
    """`(tool_choice, tools)`: a mode, or a tool name; `allowed_tools` narrows the tools to
    the allowed ones under its mode (the same choice, said another way)."""
    if choice is None or isinstance(choice, str):
        return choice, tools
    if isinstance(choice, dict):
        kind = choice.get("type")
        spec = choice.get(kind) if isinstance(kind, str) else None
        if kind is None and isinstance(choice.get("name"), str):  # legacy `function_call`
            return str(choice["name"]), tools
        if kind in ("function", "custom"):
            name = spec.get("name") if isinstance(spec, dict) else None
            if not isinstance(name, str) or not name:
                raise wrong_shape(f"tool_choice.{kind}", "an object with a string 'name'", spec)
            return name, tools
        if kind == "allowed_tools" and isinstance(spec, dict):
            mode = spec.get("mode")
            allowed = {_tool_name(t) for t in spec.get("tools") or () if isinstance(t, dict)}
            if mode in ("auto", "required") and tools is not None:
                return mode, [t for t in tools if _tool_name(t) in allowed] or None
    raise RequestDecodeError(f"unsupported tool_choice: {json.dumps(choice)[:200]}")


def _openai_file_ids(messages: list[Any]) -> dict[str, str]:
    """`file` parts given by OpenAI file id, which another provider cannot read."""
    found: dict[str, str] = {}
    for position, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        for number, part in enumerate(content if isinstance(content, list) else ()):
            file = part.get("file") if isinstance(part, dict) else None
            if isinstance(file, dict) and file.get("file_id"):
                found[f"messages[{position}].content[{number}]"] = (
                    f"an OpenAI file id ({file['file_id']}) means nothing to another provider"
                )
    return found


def _decode_messages(messages: list[Any], unsent: list[str]) -> list[BaseMessage]:
    """The conversation; a legacy `function_call` and its `role: function` answer become a
    tool call and its result, paired by an id made from the call's position. What no
    backend gets (an assistant's past `refusal` and `audio`) is added to `unsent`."""
    decoded: list[BaseMessage] = []
    legacy_ids: dict[str, str] = {}  # function name -> id of its last unanswered call
    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        if not isinstance(message, dict):
            raise RequestDecodeError(f"{where} must be an object")
        role = message.get("role")
        if role == "function":
            name = message.get("name")
            if not isinstance(name, str) or not name:
                raise RequestDecodeError(f"{where}: a function message needs a 'name'")
            call_id = legacy_ids.pop(name, f"call_fn_{position}")
            content = _content(message.get("content"), where)
            decoded.append(ToolMessage(content=content, tool_call_id=call_id, name=name))
        elif role == "assistant":
            legacy_id = f"call_fn_{position}"
            decoded.append(_decode_assistant(message, where, unsent, legacy_id))
            legacy = message.get("function_call")
            if isinstance(legacy, dict):
                legacy_ids[str(legacy.get("name") or "")] = legacy_id
        else:
            decoded.append(decode_message(message, where))
    return decoded


def decode_message(message: Any, where: str = "message") -> BaseMessage:
    """One chat-completions message (other than an assistant's) as a LangChain message:
    `developer` as a `SystemMessage` that keeps its role for OpenAI backends. `where`
    names the message in errors (`messages[2]`)."""
    if not isinstance(message, dict):
        raise RequestDecodeError(f"{where} must be an object")
    role = message.get("role")
    if role == "assistant":
        return _decode_assistant(message, where, [], "call_fn_0")
    content = _content(message.get("content"), where)
    name = optional_string(message, "name", where)
    if role == "system":
        return SystemMessage(content=content, name=name)
    if role == "developer":
        return SystemMessage(content=content, name=name, additional_kwargs=_DEVELOPER)
    if role == "user":
        return HumanMessage(content=content, name=name)
    if role == "tool":
        call_id = optional_string(message, "tool_call_id", where)
        return ToolMessage(content=content, tool_call_id=call_id or "")
    if isinstance(role, str) and role:
        return ChatMessage(role=role, content=content)
    raise RequestDecodeError(f"{where}: unknown message role {role!r}")


def _content(content: Any, where: str) -> str | list[Any]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        check_blocks(content, f"{where}.content")
        return content
    raise wrong_shape(f"{where}.content", "a string or a list of parts", content)


def _decode_assistant(
    message: dict[str, Any], where: str, unsent: list[str], legacy_id: str
) -> AIMessage:
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    extras: dict[str, Any] = {}
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise wrong_shape(f"{where}.tool_calls", "a list", raw_calls)
    legacy = message.get("function_call")
    if isinstance(legacy, dict):  # deprecated `function_call`: a call with an id of ours
        raw_calls = [*raw_calls, {"id": legacy_id, "type": "function", "function": legacy}]
    for number, call in enumerate(raw_calls):
        at = f"{where}.tool_calls[{number}]"
        if not isinstance(call, dict):
            raise wrong_shape(at, "an object", call)
        call_id = optional_string(call, "id", at) or ""
        custom = call.get("custom")
        if call.get("type") == "custom" and isinstance(custom, dict):
            name = optional_string(custom, "name", f"{at}.custom")
            raw = json.dumps({"input": custom.get("input") or ""}, ensure_ascii=False)
            extras[call_id] = {CUSTOM_TOOL_CALL: True}
        else:
            function = optional_object(call, "function", at) or {}
            name = optional_string(function, "name", f"{at}.function")
            raw = function.get("arguments") or ""
            if not isinstance(raw, str):  # some clients send the arguments as an object
                raw = json.dumps(raw, ensure_ascii=False)
            if call.get(EXTRA_CONTENT):
                extras[call_id] = call[EXTRA_CONTENT]
        name = name or ""
        args, error = parse_arguments(raw)
        if args is not None:
            calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
        else:
            invalid.append(
                InvalidToolCall(
                    name=name, args=raw, id=call_id, error=error, type="invalid_tool_call"
                )
            )
    kwargs: dict[str, Any] = {}
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        kwargs["reasoning_content"] = reasoning
    for key in (REASONING_DETAILS, EXTRA_CONTENT):
        if message.get(key):
            kwargs[key] = message[key]
    if extras:
        kwargs[TOOL_CALL_EXTRAS] = extras
    content = _content(message.get("content"), where)
    if isinstance(content, list):
        kept = [p for p in content if not (isinstance(p, dict) and p.get("type") == "refusal")]
        if len(kept) < len(content):
            unsent.append(f"{where}: refusal parts")
        content = kept
    unsent.extend(f"{where}.{k}" for k in ("refusal", "audio") if message.get(k))
    return AIMessage(
        content=content,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        additional_kwargs=kwargs,
        name=optional_string(message, "name", where),
    )


def encode_usage(usage: Usage) -> dict[str, Any]:
    """Usage in chat-completions shape."""
    total = usage.total_tokens
    encoded: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": total if total is not None else usage.input_tokens + usage.output_tokens,
    }
    if usage.cache_read is not None:
        encoded["prompt_tokens_details"] = {"cached_tokens": usage.cache_read}
    if usage.reasoning is not None:
        encoded["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning}
    return encoded


_DELTA_MARK = "\x00delta\x00"
"""Stands for the delta while the constant part of a chunk is rendered."""


class OpenAIChatEncoder(ResponseEncoder):
    """Normalized events -> chat-completions chunks (or one completion).

    Args:
        model: The model name the client asked for, echoed in every chunk.
        response_id: The completion id.
        include_usage: Send a usage chunk at the end (`stream_options.include_usage`).
        custom_tools: Names of the client's custom tools: a call to one goes out whole,
            once complete, as `{"type": "custom", "custom": {"name", "input"}}`.
        legacy_functions: The client declared `functions`: the call goes out as a
            `function_call` (one per answer, as that API allows), finish `function_call`.
    """

    def __init__(
        self,
        *,
        model: str,
        response_id: str,
        include_usage: bool,
        custom_tools: frozenset[str] = frozenset(),
        legacy_functions: bool = False,
    ) -> None:
        self.model = model
        self.response_id = response_id
        self.include_usage = include_usage
        self.custom_tools = custom_tools
        self.legacy_functions = legacy_functions
        self.created = int(time.time())
        self._usage: Usage | None = None
        self._finish: str | None = None
        self._calls = 0
        self._held: set[int] = set()  # calls sent whole once done (custom, legacy)
        # The bytes around a delta are the same in every chunk: built once, so a delta
        # costs one string escape instead of a JSON dump of the whole chunk.
        head, tail = self._frame_text(_DELTA_MARK).split(json.dumps(_DELTA_MARK))
        self._head = "data: " + head
        self._tail = tail + "\n\n"

    def _frame(
        self, delta: dict[str, Any] | str | None, finish: str | None = None, **extra: Any
    ) -> bytes:
        return b"data: " + self._frame_text(delta, finish, **extra).encode() + b"\n\n"

    def _frame_text(
        self, delta: dict[str, Any] | str | None, finish: str | None = None, **extra: Any
    ) -> str:
        chunk: dict[str, Any] = {
            "id": self.response_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return json.dumps(chunk, ensure_ascii=False)

    def start(self) -> bytes:
        return self._frame({"role": "assistant", "content": ""})

    def encode(self, events: list[StreamEvent]) -> bytes:
        head, tail = self._head, self._tail
        frames: list[str] = []
        for event in events:
            kind = type(event)
            if kind is TextDelta and event.text:  # type: ignore[union-attr]
                text = _string(event.text)  # type: ignore[union-attr]
                frames.append(f'{head}{{"content": {text}}}{tail}')
            elif kind is ReasoningDelta and event.text:  # type: ignore[union-attr]
                text = _string(event.text)  # type: ignore[union-attr]
                frames.append(f'{head}{{"reasoning_content": {text}}}{tail}')
            elif kind is ToolCallDelta:
                assert isinstance(event, ToolCallDelta)
                if event.index in self._held or (
                    event.id is not None
                    and (self.legacy_functions or event.name in self.custom_tools)
                ):
                    self._held.add(event.index)
                    continue
                if event.id is None:
                    args = _string(event.args)
                    call = f'{{"index": {event.index}, "function": {{"arguments": {args}}}}}'
                    frames.append(f'{head}{{"tool_calls": [{call}]}}{tail}')
                    continue
                self._calls += 1
                first = {
                    "index": event.index,
                    "function": {"arguments": event.args, "name": event.name or ""},
                    "id": event.id,
                    "type": "function",
                }
                frames.append(head + json.dumps({"tool_calls": [first]}, ensure_ascii=False) + tail)
            elif kind is ToolCallDone and event.index in self._held:  # type: ignore[union-attr]
                assert isinstance(event, ToolCallDone)
                self._held.discard(event.index)
                delta = self._whole_call(event, event.index)
                if delta is not None:
                    frames.append(head + json.dumps(delta, ensure_ascii=False) + tail)
            elif kind is RefusalDelta:
                text = _string(event.text)  # type: ignore[union-attr]
                frames.append(f'{head}{{"refusal": {text}}}{tail}')
            elif kind is Usage:
                self._usage = event  # type: ignore[assignment]
            elif kind is Finish:
                self._finish = event.reason  # type: ignore[union-attr]
        return "".join(frames).encode()

    def _whole_call(self, call: ToolCallDone, index: int) -> dict[str, Any] | None:
        """A custom or legacy call as one delta (`None`: a legacy answer's second call)."""
        if self.legacy_functions:
            if self._calls:
                logger.warning(
                    "openai_chat frontend: a functions request can take one call; %s dropped",
                    call.name,
                )
                return None
            self._calls += 1
            return {"function_call": {"name": call.name, "arguments": call.args_text or "{}"}}
        self._calls += 1
        return {"tool_calls": [{"index": index, **_custom_call(call)}]}

    def _finish_reason(self) -> str:
        if self._calls and self.legacy_functions:
            return "function_call"
        if self._finish in _FINISH:
            return self._finish
        return "tool_calls" if self._calls else "stop"

    def finish(self) -> bytes:
        frames = [self._frame({}, self._finish_reason())]
        if self.include_usage and self._usage is not None:
            frames.append(self._frame(None, usage=encode_usage(self._usage)))
        frames.append(b"data: [DONE]\n\n")
        return b"".join(frames)

    def error(self, status: int, error_type: str, message: str) -> bytes:
        body = {"error": {"message": message, "type": error_type, "code": status}}
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

    def complete(self, events: list[StreamEvent]) -> dict[str, Any]:
        text: list[str] = []
        reasoning: list[str] = []
        refusal: list[str] = []
        done: list[ToolCallDone] = []
        for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ReasoningDelta):
                reasoning.append(event.text)
            elif isinstance(event, RefusalDelta):
                refusal.append(event.text)
            elif isinstance(event, ToolCallDone):
                done.append(event)
            elif isinstance(event, Usage):
                self._usage = event
            elif isinstance(event, Finish):
                self._finish = event.reason
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if refusal:
            message["refusal"] = "".join(refusal)
        if done and self.legacy_functions:
            self._calls = 0
            for call in done:
                message.update(self._whole_call(call, 0) or {})
        elif done:
            self._calls = len(done)
            message["tool_calls"] = [
                _custom_call(c) if c.name in self.custom_tools else _function_call(c) for c in done
            ]
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish_reason()}],
        }
        if self._usage is not None:
            body["usage"] = encode_usage(self._usage)
        return body


def _function_call(call: ToolCallDone) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.args_text or "{}"},
    }


def _custom_call(call: ToolCallDone) -> dict[str, Any]:
    """A call to a custom tool in the client's shape: the `input` argument as its text."""
    text = call.args.get("input") if call.args else None
    if not isinstance(text, str):
        text = call.args_text  # the model answered with other arguments: pass them as text
    return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": text}}
