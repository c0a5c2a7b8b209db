"""OpenAI `/chat/completions`: OpenAI and every OpenAI-compatible server.

Tool messages take text only: the images, documents and audio of a tool result follow
in a user message right after the tool messages, and the tool message says so (see
`encode_messages`); base64 data never becomes prompt text.

Decoding follows what real servers send, not only what OpenAI documents:

- `reasoning_content` (DeepSeek, llama.cpp, vLLM, xAI) or `reasoning` (OpenRouter,
  Ollama, Groq) as reasoning text; Mistral's `content` list with `thinking` parts;
  OpenRouter's `reasoning_details` kept whole and sent back on the next turn.
- tool calls with or without `index`, ids that repeat, change or are empty (see
  `core.toolcalls`), arguments sent as objects instead of strings.
- usage on a final chunk with empty `choices` (only when `stream_options.include_usage`
  is set), on a chunk that still has choices, repeated cumulatively, or inside Groq's
  `x_groq` object: the last wins, emitted once; cached and reasoning token details from
  every known field.
- a first chunk without an id (Azure's content-filter chunk): the first real id is used.
- `{"error": ...}` objects and `event: error` frames inside a 200 stream raise
  `StreamErrorEvent`; a body that ends without `[DONE]` is fine after a `finish_reason`
  and a `StreamCutError` before one.
- Gemini's OpenAI endpoint `extra_content` (thought signatures) on calls and messages,
  kept and sent back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
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
)
from langchain_bhumi.core.events import (
    ProviderState,
    ReasoningDelta,
    RefusalDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    Usage,
)
from langchain_bhumi.core.framing import WHOLE_BODY, Frame, Framer, WholeBodyFramer, framer_for
from langchain_bhumi.core.tool_ids import ToolIdMap
from langchain_bhumi.core.toolcalls import ToolCallAssembler
from langchain_bhumi.protocols.base import (
    NO_REPLAY,
    TOOL_CALL_EXTRAS,
    ChatProtocol,
    ChatRequest,
    ReasoningReplay,
    ToolChoice,
    invalid_call_arguments,
)
from langchain_bhumi.protocols.content import (
    MediaPart,
    OtherPart,
    ReasoningPart,
    TextPart,
    content_parts,
    describe_media,
    text_of,
    tool_result_parts,
)

FINISH_REASONS = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}

# Response fields worth keeping in response metadata (strings, on the final chunk).
# Response fields kept in response metadata, and the key each goes under.
_INFO_FIELDS = {
    "system_fingerprint": "system_fingerprint",
    "service_tier": "service_tier",
    "provider": "upstream_provider",  # OpenRouter: which provider it routed to
}

# Keys under which a provider may send per-message state to be sent back.
REASONING_DETAILS = "reasoning_details"
EXTRA_CONTENT = "extra_content"

CUSTOM_TOOL_CALL = "custom"
"""`tool_call_extras[call_id]` flag: a call to a custom (free-text) tool, whose `input`
argument is its text; sent back as `{"type": "custom", "custom": {"name", "input"}}`."""
_ROLE_KEY = "__openai_role__"  # langchain-openai's: a SystemMessage sent as `developer`


class OpenAIChatProtocol(ChatProtocol):
    """The chat-completions format, client direction."""

    name = "openai_chat"

    def path(self, model: str, *, stream: bool) -> str:
        return "/chat/completions"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def encode_request(self, request: ChatRequest) -> dict[str, Any]:
        ids = ToolIdMap(request.tool_ids or self.tool_ids)
        reasoning = request.replay()
        body: dict[str, Any] = {
            "model": request.model,
            "messages": encode_messages(request.messages, reasoning, request.provider, ids),
        }
        if request.stream:
            body["stream"] = True
            if request.include_usage:
                body["stream_options"] = {"include_usage": True}
        if request.tools:
            body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = encode_tool_choice(request.tool_choice)
        if request.parallel_tool_calls is not None and request.tools:
            body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.response_format is not None:
            body["response_format"] = request.response_format
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("top_k", request.top_k),
            ("reasoning_effort", request.reasoning_effort),
            (request.max_tokens_field, request.max_tokens),
            ("stop", request.stop),
            ("seed", request.seed),
            ("presence_penalty", request.presence_penalty),
            ("frequency_penalty", request.frequency_penalty),
        ):
            if value is not None:
                body[key] = value
        body.update(request.extra_body)
        return body

    def stream_decoder(self) -> OpenAIChatStreamDecoder:
        return OpenAIChatStreamDecoder()


# --- request encoding -------------------------------------------------------------------


def encode_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    """`auto`/`none`/`required` (`any` means `required`), a tool name, or a dict as is."""
    if isinstance(choice, dict):
        return choice
    if choice in ("auto", "none", "required"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "function": {"name": choice}}


def encode_messages(
    messages: Sequence[BaseMessage],
    reasoning: ReasoningReplay = NO_REPLAY,
    provider: str | None = None,
    ids: ToolIdMap | None = None,
) -> list[dict[str, Any]]:
    """A LangChain conversation as chat-completions messages.

    Tool messages take text only, so the images, documents and audio of a tool result go
    in a user message right after the run of tool messages it belongs to (the assistant's
    calls must be answered first), introduced by a line naming the call; the tool message
    keeps the text and says where its media went. Base64 data never becomes text.
    """
    ids = ids or ToolIdMap(None)
    encoded: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            result, media = encode_tool_result(message, ids)
            encoded.append(result)
            attachments.extend(media)
            continue
        if attachments:
            encoded.append({"role": "user", "content": attachments})
            attachments = []
        encoded.append(encode_message(message, reasoning, provider, ids))
    if attachments:
        encoded.append({"role": "user", "content": attachments})
    return encoded


def encode_tool_result(
    message: ToolMessage, ids: ToolIdMap | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`(tool message, user content parts for its media)`; see `encode_messages`."""
    call_id = (ids or ToolIdMap(None))(message.tool_call_id)
    text, media = tool_result_parts(message.content)
    attachments: list[dict[str, Any]] = []
    if media:
        what = describe_media(media)
        note = f"({what} attached in the next message)"
        text = f"{text}\n{note}" if text else note
        name = f" ({message.name})" if message.name else ""
        attachments.append(
            {
                "type": "text",
                "text": f"Attached to the result of tool call {call_id}{name}:",
            }
        )
        attachments.extend(_encode_media(part) for part in media)
    return {"role": "tool", "tool_call_id": call_id, "content": text}, attachments


def encode_message(
    message: BaseMessage,
    reasoning: ReasoningReplay = NO_REPLAY,
    provider: str | None = None,
    ids: ToolIdMap | None = None,
) -> dict[str, Any]:
    """One LangChain message as a chat-completions message.

    Provider state on an assistant message (OpenRouter `reasoning_details`, Gemini-compat
    `extra_content`) goes back only to the provider that produced it (`provider`, as
    recorded in the message's `response_metadata["provider"]`): other servers do not know
    those fields, and strict ones reject them. Reasoning text goes back as `reasoning`
    says; tool-call ids, calls and results alike, pass through `ids` (one map per request,
    so each result keeps pairing with its call).
    """
    ids = ids or ToolIdMap(None)
    if isinstance(message, AIMessage):
        return _encode_assistant(message, reasoning, provider, ids)
    if isinstance(message, ToolMessage):
        return encode_tool_result(message, ids)[0]
    if isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, SystemMessage):
        role = "developer" if message.additional_kwargs.get(_ROLE_KEY) == "developer" else "system"
    elif isinstance(message, ChatMessage):
        role = message.role
    elif isinstance(message, FunctionMessage):
        return {"role": "function", "name": message.name, "content": text_of(message.content)}
    else:
        raise ConfigurationError(f"cannot send a {type(message).__name__} to a chat model")
    encoded: dict[str, Any] = {"role": role, "content": _encode_content(message.content)}
    if message.name:
        encoded["name"] = message.name
    return encoded


def _encode_content(content: str | list[Any]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts = content_parts(content)
    if all(isinstance(p, TextPart) for p in parts):  # one string: blocks one a line
        return "\n".join(p.text for p in parts if isinstance(p, TextPart))
    encoded: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            encoded.append({"type": "text", "text": part.text})
        elif isinstance(part, MediaPart):
            encoded.append(_encode_media(part))
        elif isinstance(part, OtherPart):
            encoded.append(part.block)
    return encoded


def _encode_media(part: MediaPart) -> dict[str, Any]:
    if part.kind == "image":
        image: dict[str, Any] = {"url": part.data_url() or ""}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.kind == "audio" and part.data is not None:
        fmt = (part.mime_type or "audio/wav").split("/")[-1].replace("mpeg", "mp3")
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": fmt}}
    if part.kind == "file":
        file: dict[str, Any] = {}
        if part.file_id:
            file["file_id"] = part.file_id
        elif part.data is not None:
            file["file_data"] = part.data_url()
            file["filename"] = part.filename or "document.pdf"
        else:
            raise ConfigurationError("chat completions accept files inline or by id, not by URL")
        return {"type": "file", "file": file}
    raise ConfigurationError(f"chat completions cannot send {part.kind} content this way")


def _encode_assistant(
    message: AIMessage, reasoning: ReasoningReplay, provider: str | None, ids: ToolIdMap
) -> dict[str, Any]:
    parts = content_parts(message.content)
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    encoded: dict[str, Any] = {"role": "assistant", "content": text or None}
    if message.name:
        encoded["name"] = message.name
    own_state = provider is None or message.response_metadata.get("provider") == provider
    extras_by_id: dict[str, Any] = (
        message.additional_kwargs.get(TOOL_CALL_EXTRAS) or {} if own_state else {}
    )
    all_extras: dict[str, Any] = message.additional_kwargs.get(TOOL_CALL_EXTRAS) or {}
    calls: list[dict[str, Any]] = []
    pending: list[tuple[str | None, str | None, str]] = [
        (c["id"], c["name"], json.dumps(c["args"], ensure_ascii=False)) for c in message.tool_calls
    ]
    pending.extend(
        (c["id"], c["name"], invalid_call_arguments(message, c)) for c in message.invalid_tool_calls
    )
    for call_id, name, arguments in pending:
        if (all_extras.get(call_id or "") or {}).get(CUSTOM_TOOL_CALL):
            given = json.loads(arguments).get("input") if arguments.startswith("{") else None
            custom = {"name": name, "input": given if isinstance(given, str) else ""}
            calls.append({"id": ids(call_id), "type": "custom", "custom": custom})
            continue
        encoded_call = _encode_call(ids(call_id), name, arguments)
        extra = extras_by_id.get(call_id or "") or {}
        if extra.get("google"):  # Gemini's OpenAI endpoint: thought signatures ride here
            encoded_call[EXTRA_CONTENT] = {"google": extra["google"]}
        calls.append(encoded_call)
    if calls:
        encoded["tool_calls"] = calls
    kwargs = message.additional_kwargs
    if own_state and kwargs.get(REASONING_DETAILS):
        encoded[REASONING_DETAILS] = kwargs[REASONING_DETAILS]
    if own_state and kwargs.get(EXTRA_CONTENT):
        encoded[EXTRA_CONTENT] = kwargs[EXTRA_CONTENT]
    if reasoning.when != "never":
        thought = kwargs.get("reasoning_content") or "".join(
            p.text for p in parts if isinstance(p, ReasoningPart)
        )
        sent = reasoning.text_for(thought, has_calls=bool(calls))
        if sent is not None:
            encoded[reasoning.field] = sent
    return encoded


def _encode_call(call_id: str, name: str | None, arguments: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name or "", "arguments": arguments},
    }


# --- response decoding ------------------------------------------------------------------


def decode_usage(usage: dict[str, Any]) -> Usage:
    """Token usage from every field name the OpenAI-compatible servers use."""
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    cache_read = prompt.get("cached_tokens")
    if cache_read is None:
        cache_read = usage.get("prompt_cache_hit_tokens")  # DeepSeek
    return Usage(
        input_tokens=token_count(usage.get("prompt_tokens")) or 0,
        output_tokens=token_count(usage.get("completion_tokens")) or 0,
        total_tokens=token_count(usage.get("total_tokens")),
        cache_read=token_count(cache_read),
        cache_creation=token_count(
            prompt.get("cache_write_tokens") or prompt.get("cache_creation_tokens")
        ),
        reasoning=token_count(completion.get("reasoning_tokens")),
        input_audio=token_count(prompt.get("audio_tokens")),
        output_audio=token_count(completion.get("audio_tokens")),
    )


class OpenAIChatStreamDecoder(FrameDecoder):
    """Decodes one chat-completions response; streamed (`feed`/`close`) or whole."""

    __slots__ = (
        "_custom_open",
        "_extra_content",
        "_finish",
        "_info",
        "_reasoning_details",
        "_started",
        "_usage",
        "done",
        "tools",
    )

    def __init__(self) -> None:
        self.tools = ToolCallAssembler()
        self.done = False
        self._started = False
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._info = ResponseInfo()
        self._reasoning_details: dict[Any, dict[str, Any]] = {}
        self._extra_content: dict[str, Any] | None = None
        self._custom_open: list[Any] = []  # keys of streamed custom calls not closed yet

    def new_framer(self, content_type: str) -> Framer:
        # JSON: a server that answered a streaming request whole.
        return framer_for(content_type, WholeBodyFramer)

    @property
    def ending(self) -> str:
        if self.done:
            return "[DONE]"
        return "finish_reason, no [DONE]" if self._finish is not None else "nothing"

    def decode_frames(self, frames: list[Frame], out: list[StreamEvent]) -> None:
        for frame in frames:
            data = frame.data
            if not data or self.done:
                continue
            if data == "[DONE]" or data.strip() == "[DONE]":
                self.done = True
                continue
            try:
                chunk = json.loads(data)
            except ValueError as exc:
                if frame.event == "error":
                    raise stream_error(data) from None
                raise invalid_json(frame, exc) from None
            if frame.event == "error" or (isinstance(chunk, dict) and chunk.get("error")):
                raise stream_error(chunk)
            if not isinstance(chunk, dict):
                raise InvalidStreamDataError("a stream frame is not a JSON object", data=data)
            whole = frame.event == WHOLE_BODY
            self.decode_chunk(chunk, out, whole=whole)
            self.done = self.done or whole

    def close(self) -> list[StreamEvent]:
        if not self.done and self._finish is None:
            raise StreamCutError(
                "the stream ended before [DONE] or a finish_reason"
                if self._started
                else "the stream ended without sending a single chunk"
            )
        return self.close_into([])

    def decode_body(self, body: Any, out: list[StreamEvent]) -> None:
        if not isinstance(body, dict):
            raise InvalidStreamDataError("expected a JSON object", data=json.dumps(body))
        self.decode_chunk(body, out, whole=True)
        self.done = True

    def close_into(self, out: list[StreamEvent]) -> list[StreamEvent]:
        self._close_custom_inputs(out)
        self.tools.finish(out)
        if self._usage is not None:
            out.append(decode_usage(self._usage))
        if self._reasoning_details:
            out.append(ProviderState(REASONING_DETAILS, list(self._reasoning_details.values())))
        if self._extra_content:
            out.append(ProviderState(EXTRA_CONTENT, self._extra_content))
        out.append(self._info)
        finish = normalize_finish(self._finish, self.tools.calls_seen > 0, FINISH_REASONS)
        if finish is not None:
            out.append(finish)
        return out

    def decode_chunk(self, chunk: dict[str, Any], out: list[StreamEvent], *, whole: bool) -> None:
        """Decode one chunk (or a whole response when `whole`) into `out`."""
        chunk_id = chunk.get("id") or None
        if not self._started:
            self._started = True
            self._info.id = chunk_id
            out.append(ResponseInfo(chunk_id, chunk.get("model")))
        elif chunk_id and self._info.id is None:  # Azure opens with an id-less filter chunk
            self._info.id = chunk_id
            out.append(ResponseInfo(chunk_id, None))
        model = chunk.get("model")
        if model:
            self._info.model = model
        for field, key in _INFO_FIELDS.items():
            value = chunk.get(field)
            if value and isinstance(value, str):
                self._info.extra[key] = value
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")  # Groq, older
        if usage:
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is not supported; only the first choice is read
            delta = choice.get("message" if whole else "delta") or choice.get("delta") or {}
            if delta:
                self._decode_delta(delta, out, whole)
            reason = choice.get("finish_reason")
            if reason:
                self._finish = reason
                self._close_custom_inputs(out)
                self.tools.finish(out)

    def _decode_delta(self, delta: dict[str, Any], out: list[StreamEvent], whole: bool) -> None:
        content = delta.get("content")
        if content:
            if isinstance(content, str):
                out.append(TextDelta(content))
            elif isinstance(content, list):
                _decode_content_list(content, out)
            else:
                raise not_text("content", content)
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            out.append(ReasoningDelta(reasoning))
        details = delta.get(REASONING_DETAILS)
        if details:
            self._merge_reasoning_details(details)
        refusal = delta.get("refusal")
        if refusal:
            if not isinstance(refusal, str):
                raise not_text("refusal", refusal)
            out.append(RefusalDelta(refusal))
        calls = delta.get("tool_calls")
        if calls:
            add = self.tools.add
            for position, call in enumerate(calls):
                function = call.get("function") or {}
                args = function.get("arguments")
                if args is not None and not isinstance(args, str):
                    args = json.dumps(args, ensure_ascii=False)
                key = call.get("index")
                custom = call.get("custom")
                if isinstance(custom, dict):  # a custom tool: its text as the `input` argument
                    function, args = custom, self._custom_input(key, custom, whole)
                add(
                    out,
                    key=position if whole and key is None else key,
                    id=call.get("id"),
                    name=function.get("name"),
                    args=args,
                    extras=call.get(EXTRA_CONTENT),
                )
        legacy = delta.get("function_call")
        if legacy:
            args = legacy.get("arguments")
            self.tools.add(out, key=-1, id=None, name=legacy.get("name"), args=args)
        extra = delta.get(EXTRA_CONTENT)
        if extra:
            self._extra_content = extra

    def _custom_input(self, key: Any, custom: dict[str, Any], whole: bool) -> str | None:
        """A custom call's text as arguments `{"input": ...}`: whole, or (streamed in
        pieces) the opening and each piece escaped, closed by `_close_custom_inputs`."""
        text = custom.get("input")
        piece = json.dumps(text if isinstance(text, str) else "", ensure_ascii=False)
        if whole:
            return '{"input": ' + piece + "}"
        if key not in self._custom_open:
            self._custom_open.append(key)
            return '{"input": ' + piece[:-1]
        return piece[1:-1] or None

    def _close_custom_inputs(self, out: list[StreamEvent]) -> None:
        for key in self._custom_open:
            self.tools.add(out, key=key, id=None, name=None, args='"}')
        self._custom_open.clear()

    def _merge_reasoning_details(self, details: list[Any]) -> None:
        for position, detail in enumerate(details):
            if not isinstance(detail, dict):
                continue
            key = detail.get("index", f"#{len(self._reasoning_details) + position}")
            known = self._reasoning_details.get(key)
            if known is None:
                self._reasoning_details[key] = dict(detail)
                continue
            for name, value in detail.items():
                if name in ("text", "summary", "data") and isinstance(value, str):
                    known[name] = known.get(name, "") + value
                elif value is not None:
                    known[name] = value


def _decode_content_list(content: list[Any], out: list[StreamEvent]) -> None:
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            if not isinstance(part["text"], str):
                raise not_text("content[].text", part["text"])
            out.append(TextDelta(part["text"]))
        elif kind == "thinking":
            thinking = part.get("thinking")
            if isinstance(thinking, str):
                out.append(ReasoningDelta(thinking))
            elif isinstance(thinking, list):
                text = "".join(p.get("text", "") for p in thinking if isinstance(p, dict))
                if text:
                    out.append(ReasoningDelta(text))
