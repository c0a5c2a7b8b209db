"""OpenAI `/chat/completions`, server direction: what the proxy's OpenAI frontend speaks.

`decode_request` turns a client's request into LangChain messages and a neutral
`ChatRequest`; `OpenAIChatEncoder` turns normalized events back into
`chat.completion.chunk` SSE (index-keyed tool-call deltas, `id`/`name` once, a finish
chunk, usage when `stream_options.include_usage` asked for it, `[DONE]`) or one
`chat.completion` object. The client direction is in `client.py`.
"""

from __future__ import annotations

import json
import time
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
)
from langchain_bhumi.protocols.openai_chat.client import EXTRA_CONTENT, REASONING_DETAILS

# Request fields this codec understands; others are kept as extras, which the proxy
# forwards only to a backend that speaks this same format.
_KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "temperature", "top_p", "max_tokens",
        "max_completion_tokens", "stop", "seed", "reasoning_effort", "n",
    }
)  # fmt: skip
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


class OpenAIChatServer(ServerCodec):
    """The chat-completions format, server direction."""

    name = "openai_chat"

    def decode_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> IncomingRequest:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise RequestDecodeError("'messages' must be a non-empty list")
        name = model or body.get("model")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError("'model' is required")
        if body.get("n", 1) != 1:
            raise RequestDecodeError("only n=1 is supported")
        stop = body.get("stop")
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise RequestDecodeError("'stream_options' must be an object")
        chat = ChatRequest(
            model=name,
            messages=[decode_message(m) for m in body["messages"]],
            stream=bool(body.get("stream")) if stream is None else stream,
            tools=[t for t in _list(body, "tools") if isinstance(t, dict)] or None,
            tool_choice=_decode_tool_choice(body.get("tool_choice")),
            parallel_tool_calls=body.get("parallel_tool_calls"),
            response_format=body.get("response_format"),
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=[stop] if isinstance(stop, str) else stop,
            seed=body.get("seed"),
            reasoning_effort=body.get("reasoning_effort"),
            extra_body={k: v for k, v in body.items() if k not in _KNOWN_FIELDS},
        )
        return IncomingRequest(chat, include_usage=bool(options.get("include_usage")))

    def response_encoder(self, request: IncomingRequest, *, response_id: str) -> ResponseEncoder:
        return OpenAIChatEncoder(
            model=request.chat.model, response_id=response_id, include_usage=request.include_usage
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


def _decode_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name:
            return str(name)
    raise RequestDecodeError(f"unsupported tool_choice: {json.dumps(choice)[:200]}")


def _list(body: dict[str, Any], field: str) -> list[Any]:
    value = body.get(field) or []
    if not isinstance(value, list):
        raise RequestDecodeError(f"'{field}' must be a list")
    return value


def decode_message(message: Any) -> BaseMessage:
    """One chat-completions message as a LangChain message."""
    if not isinstance(message, dict):
        raise RequestDecodeError("each message must be an object")
    role = message.get("role")
    content = message.get("content")
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        raise RequestDecodeError("a message's 'name' must be a string")
    if role in ("system", "developer"):
        return SystemMessage(content=_content(content), name=name)
    if role == "user":
        return HumanMessage(content=_content(content), name=name)
    if role == "tool":
        return ToolMessage(
            content=_content(content), tool_call_id=str(message.get("tool_call_id") or "")
        )
    if role == "assistant":
        return _decode_assistant(message)
    if isinstance(role, str) and role:
        return ChatMessage(role=role, content=_content(content))
    raise RequestDecodeError(f"unknown message role {role!r}")


def _content(content: Any) -> str | list[Any]:
    if content is None:
        return ""
    if isinstance(content, str) or (
        isinstance(content, list) and all(isinstance(p, str | dict) for p in content)
    ):
        return content
    raise RequestDecodeError("message content must be a string or a list of parts")


def _decode_assistant(message: dict[str, Any]) -> AIMessage:
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    extras: dict[str, Any] = {}
    for call in _list(message, "tool_calls"):
        function = call.get("function") or {} if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise RequestDecodeError("each tool call must be an object with a 'function' object")
        if not isinstance(function.get("name", ""), str | None):
            raise RequestDecodeError("a tool call's function 'name' must be a string")
        call_id = str(call.get("id") or "")
        raw = function.get("arguments") or ""
        if not isinstance(raw, str):  # some clients send the arguments as an object
            raw = json.dumps(raw, ensure_ascii=False)
        args, error = parse_arguments(raw)
        if args is not None:
            calls.append(
                ToolCall(name=function.get("name") or "", args=args, id=call_id, type="tool_call")
            )
        else:
            invalid.append(
                InvalidToolCall(
                    name=function.get("name"),
                    args=raw,
                    id=call_id,
                    error=error,
                    type="invalid_tool_call",
                )
            )
        if call.get(EXTRA_CONTENT):
            extras[call_id] = call[EXTRA_CONTENT]
    kwargs: dict[str, Any] = {}
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        kwargs["reasoning_content"] = reasoning
    for key in (REASONING_DETAILS, EXTRA_CONTENT):
        if message.get(key):
            kwargs[key] = message[key]
    if extras:
        kwargs[TOOL_CALL_EXTRAS] = extras
    content = message.get("content")
    return AIMessage(
        content=_content(content),
        tool_calls=calls,
        invalid_tool_calls=invalid,
        additional_kwargs=kwargs,
        name=message.get("name"),
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
    """Normalized events -> chat-completions chunks (or one completion)."""

    def __init__(self, *, model: str, response_id: str, include_usage: bool) -> None:
        self.model = model
        self.response_id = response_id
        self.include_usage = include_usage
        self.created = int(time.time())
        self._usage: Usage | None = None
        self._finish: str | None = None
        self._calls = 0
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
            elif kind is RefusalDelta:
                text = _string(event.text)  # type: ignore[union-attr]
                frames.append(f'{head}{{"refusal": {text}}}{tail}')
            elif kind is Usage:
                self._usage = event  # type: ignore[assignment]
            elif kind is Finish:
                self._finish = event.reason  # type: ignore[union-attr]
        return "".join(frames).encode()

    def _finish_reason(self) -> str:
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
        calls: list[dict[str, Any]] = []
        for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ReasoningDelta):
                reasoning.append(event.text)
            elif isinstance(event, RefusalDelta):
                refusal.append(event.text)
            elif isinstance(event, ToolCallDone):
                calls.append(
                    {
                        "id": event.id,
                        "type": "function",
                        "function": {"name": event.name, "arguments": event.args_text or "{}"},
                    }
                )
            elif isinstance(event, Usage):
                self._usage = event
            elif isinstance(event, Finish):
                self._finish = event.reason
        self._calls = len(calls)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if refusal:
            message["refusal"] = "".join(refusal)
        if calls:
            message["tool_calls"] = calls
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
