"""Gemini `generateContent`, server direction: what the proxy's Gemini frontend speaks.

`GeminiServer.decode_request` turns a `:generateContent` / `:streamGenerateContent` body
into LangChain messages and a neutral `ChatRequest`; `GeminiEncoder` turns normalized
events back into `GenerateContentResponse` chunks (SSE for `alt=sse`, otherwise one JSON
array streamed element by element) or one whole response. It is the inverse of the
client direction in `client.py`, and keeps its conventions, so that a conversation that
went through the proxy replays to a Gemini backend exactly.

Requests (camelCase or snake_case field names, as the API accepts). A Gemini backend gets
`contents`, `systemInstruction`, the tools, `toolConfig` and every field below without a
neutral one exactly as the client sent them (`IncomingRequest.native`); the neutral
`chat` is what other formats get:

- `systemInstruction` (a content, its `parts` optional; or the SDKs' shorthands: a part,
  parts, a string): its text parts as one `SystemMessage`, one part a line.
- `contents`: consecutive contents of one role are one turn (SDK chat helpers record a
  streamed answer as one model content per chunk). A `model` turn becomes one
  `AIMessage`: text, `thought: true` parts as reasoning blocks (`{"type": "reasoning"}`,
  with the part's `thoughtSignature` in `extras.signature`), media, and `functionCall`
  parts as tool calls. A `user` turn becomes `ToolMessage`s for its `functionResponse`
  parts, then one `HumanMessage` for the rest (`text`, `inlineData` and `fileData` as
  standard image/audio/video/file blocks; other part kinds pass through as they are).
- Call ids: a `functionCall` keeps its own `id` when it has one (this frontend always
  sends one, and clients such as gemini-cli echo it in the `functionResponse`);
  otherwise it gets a deterministic id from its position, `call_<content>_<part>`, so
  the same history always decodes the same way. A client id that repeats one already
  used in the request is replaced by the positional id (Anthropic rejects duplicates).
- Pairing: the `functionResponse` parts of a user turn answer the calls of the model
  turn just before it: first by `id`; the rest by name and position (the i-th remaining
  response named X answers the i-th remaining call named X). A response that answers
  nothing (no such call left), or whose id names a call of another name, raises
  `RequestDecodeError`: a wrong pairing is never invented. ToolMessages come in the
  calls' order, before any other part of the turn.
- A tool result `{"output": X}` becomes the ToolMessage content `X` (a string as is,
  anything else as JSON) and `{"error": X}` the same with `status="error"`: the exact
  inverse of what the client direction sends. Any other response object is the content
  as JSON; `functionResponse.parts` (multimodal results) follow as media blocks.
- Thought signatures land where the client direction reads them: a call's in
  `additional_kwargs["tool_call_extras"][id]["google"]["thought_signature"]` (with the
  `native_id` flag when the client sent the id, so it is sent back), the first one on
  any other part in `additional_kwargs["extra_content"]["google"]["thought_signature"]`.
- A `fileData` URI of the Files API or Cloud Storage is readable only with Gemini's key:
  other formats get a 400 naming the part.
- `tools`: `functionDeclarations` become OpenAI-style function tools with a JSON Schema
  (`parametersJsonSchema` as is, `parameters` converted back by `from_gemini_schema`).
  Native tools (`googleSearch`, `codeExecution`, `urlContext`, ...) only a Gemini backend
  gets: other formats could not run them.
- `toolConfig.functionCallingConfig`: AUTO -> `"auto"`, NONE -> `"none"`, ANY ->
  `"required"`, ANY with one allowed name -> that name; `allowedFunctionNames` in any
  other case -> the function tools narrowed to the allowed ones (the same choice, said
  another way); VALIDATED -> `"auto"`.
- `generationConfig`: temperature, topP, topK, maxOutputTokens, stopSequences, seed;
  `candidateCount` other than 1 is refused; `responseMimeType: application/json` with
  `responseSchema` (converted back) or `responseJsonSchema` -> a `json_schema`
  `response_format`, without a schema -> `json_object`; `thinkingConfig.thinkingBudget`
  -> `thinking_budget` (`-1`, dynamic, means unset), `thinkingLevel` ->
  `reasoning_effort`, `includeThoughts` decides whether reasoning is sent back (as the
  real API does); `presencePenalty`, `frequencyPenalty` -> the penalties. The other
  generation fields (`responseModalities`, `speechConfig`, `mediaResolution`,
  `responseLogprobs`, `logprobs`, ...) only a Gemini backend gets; an answer in another
  modality than text (`responseModalities`, `responseFormat`) is a 400 for other formats.
- Everything else (`safetySettings`, `labels`, `serviceTier`, ...) only a Gemini backend
  gets (keys in camelCase). `cachedContent` names a prompt cached in a Gemini project:
  other formats get a 400 rather than a prompt without it.

Responses:

- Chunks are `{"candidates": [{"content": {"role": "model", "parts": [...]}, "index": 0}],
  "modelVersion": <the model the client asked for>, "responseId": ...}`; the last one
  also has `finishReason` and `usageMetadata`. One chunk per batch of events (none for a
  batch without parts), adjacent text merged into one part.
- Text as `text` parts as it arrives; reasoning as `{"text": ..., "thought": true}`
  parts (only when the request set `includeThoughts`), with `thoughtSignature` when the
  backend signed it. A tool call is one whole `functionCall` part (`id`, `name`, `args`,
  and `thoughtSignature` when the backend gave one), sent when its arguments are
  complete (`ToolCallDone`), never as fragments: Louter's empty `{}` arguments came from
  translating fragments. Every call carries its `id` (the backend's, or the one the
  assembler invented), so clients can echo it and pairing on the next turn is exact.
- A call whose arguments are not a JSON object is not sent (there are no right
  arguments to send): the response ends with `finishReason: MALFORMED_FUNCTION_CALL`
  (what Gemini itself says for a model's broken call, and what gemini-cli retries on),
  or `MAX_TOKENS` when the backend stopped for length, with a `finishMessage` naming the
  call and the parse error. Well-formed calls of the same response are still sent.
- `finishReason`: stop -> STOP, length -> MAX_TOKENS, tool_calls -> STOP (Gemini says
  STOP with calls), content_filter -> SAFETY (or the backend's own Gemini name, such as
  RECITATION); a Gemini name passes through; anything else is OTHER; no finish -> STOP.
- `usageMetadata`: `promptTokenCount` = input tokens (cached included),
  `cachedContentTokenCount` = cache reads, `candidatesTokenCount` = output tokens minus
  reasoning, `thoughtsTokenCount` = reasoning (Gemini counts thoughts apart from the
  candidates), `totalTokenCount`; zero cached/thought counts are left out, as the API
  does. The client direction reads these back to the same `Usage`.
- A message-level signature (`ProviderState("extra_content")`, which a Gemini backend
  reports at the end) goes out as `{"text": "", "thoughtSignature": ...}` in the last
  chunk, as Gemini sends it; in a whole response it rides on the last text part.
- Framing: SSE `data: {...}\\r\\n\\r\\n` (what Google sends) with `text/event-stream`;
  without `alt=sse`, `[` then elements separated by `,\\r\\n` then `]`, with
  `application/json`. An error mid-stream is one more element or event,
  `{"error": {"code", "message", "status"}}`, which ends the stream (and the array).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
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
    ToolCallDone,
    Usage,
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
from langchain_bhumi.protocols.gemini.client import (
    EXTRA_CONTENT,
    FINISH_REASONS,
    GOOGLE,
    NATIVE_ID,
    THOUGHT_SIGNATURE,
    _get,
    _signature,
)
from langchain_bhumi.protocols.gemini.schema import (
    UnsupportedSchema,
    from_gemini_schema,
    lowercase_types,
)
from langchain_bhumi.protocols.shapes import check_schema, wrong_shape

logger = logging.getLogger("langchain_bhumi")

GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
"""`supportedGenerationMethods` of every model this frontend lists."""

_KNOWN_FIELDS = frozenset(
    {
        "contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
        "tool_config", "generationConfig", "generation_config", "model",
    }
)  # fmt: skip
_GENERATION_FIELDS = frozenset(
    {
        "temperature", "topP", "top_p", "topK", "top_k", "maxOutputTokens",
        "max_output_tokens", "stopSequences", "stop_sequences", "seed", "candidateCount",
        "candidate_count", "responseMimeType", "response_mime_type", "responseSchema",
        "response_schema", "responseJsonSchema", "response_json_schema",
        "_responseJsonSchema", "thinkingConfig", "thinking_config", "presencePenalty",
        "presence_penalty", "frequencyPenalty", "frequency_penalty",
    }
)  # fmt: skip
_FUNCTION_MODES = {
    "AUTO": "auto",
    "VALIDATED": "auto",
    "NONE": "none",
    "ANY": "required",
}
_FINISH_TO_GEMINI = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
    "function_call": "STOP",
}
_GEMINI_FINISH_NAMES = frozenset(FINISH_REASONS) | frozenset(
    {
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "MISSING_THOUGHT_SIGNATURE",
        "LANGUAGE",
        "OTHER",
    }
)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
_STATUS_VALUES = frozenset(_STATUS_NAMES.values()) | {"FAILED_PRECONDITION", "UNKNOWN"}
_MEDIA_KINDS = ("image", "audio", "video")
_GEMINI_FILE_URIS = ("https://generativelanguage.googleapis.com/", "gs://")
_DEFAULT_INPUT_LIMIT = 1_048_576
_DEFAULT_OUTPUT_LIMIT = 65_536


def status_name(status: int, error_type: str | None = None) -> str:
    """The `google.rpc.Code` name Google reports with an HTTP status.

    `error_type` wins when it already is such a name (an error relayed from a Gemini
    backend); otherwise the usual mapping (429 -> RESOURCE_EXHAUSTED, 503 ->
    UNAVAILABLE, ...), other 4xx -> INVALID_ARGUMENT, other 5xx -> INTERNAL.
    """
    if error_type and error_type in _STATUS_VALUES:
        return error_type
    name = _STATUS_NAMES.get(status)
    if name is not None:
        return name
    return "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"


def encode_usage(usage: Usage) -> dict[str, Any]:
    """`usageMetadata` for `usage` (see the module doc for the accounting)."""
    reasoning = usage.reasoning or 0
    total = usage.total_tokens
    encoded: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(usage.output_tokens - reasoning, 0),
        "totalTokenCount": total if total is not None else usage.input_tokens + usage.output_tokens,
    }
    if usage.cache_read:
        encoded["cachedContentTokenCount"] = usage.cache_read
    if reasoning:
        encoded["thoughtsTokenCount"] = reasoning
    return encoded


def gemini_finish_reason(finish: Finish | None) -> str:
    """The `finishReason` for a normalized finish (see the module doc)."""
    if finish is None:
        return "STOP"
    native = finish.native
    if finish.reason == "content_filter" and native in FINISH_REASONS:
        return str(native)
    mapped = _FINISH_TO_GEMINI.get(finish.reason)
    if mapped is not None:
        return mapped
    upper = finish.reason.upper()
    return upper if upper in _GEMINI_FINISH_NAMES else "OTHER"


@dataclass(slots=True)
class GeminiIncomingRequest(IncomingRequest):
    """An `IncomingRequest` that also says whether the client asked to see thoughts
    (`generationConfig.thinkingConfig.includeThoughts`)."""

    include_thoughts: bool = False


class GeminiServer(ServerCodec):
    """The Gemini API format (`generateContent`), server direction."""

    name = "gemini"

    @shape_errors_are_bad_requests
    def decode_request(
        self,
        body: dict[str, Any],
        *,
        model: str | None = None,
        stream: bool | None = None,
        sse: bool = True,
    ) -> GeminiIncomingRequest:
        """The neutral request for a `generateContent` body.

        Args:
            body: The JSON body. A `:countTokens` body that wraps the request in
                `generateContentRequest` is unwrapped.
            model: The model named in the URL (`models/` prefix optional).
            stream: True for `:streamGenerateContent`.
            sse: False for a streamed answer framed as a JSON array (no `alt=sse`); the
                proxy may also set `IncomingRequest.sse` afterwards.

        Raises:
            RequestDecodeError: When the body is not a request this frontend can serve.
        """
        if not isinstance(body, dict):
            raise RequestDecodeError("the request body must be a JSON object")
        inner = _get(body, "generateContentRequest", "generate_content_request")
        if isinstance(inner, dict) and "contents" not in body:
            body = inner
        name = model or body.get("model")
        if not isinstance(name, str) or not name:
            raise RequestDecodeError("the model is missing from the URL")
        name = name.removeprefix("models/")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise RequestDecodeError("'contents' must be a non-empty list")

        # `extra`: what a Gemini backend gets as sent (merged over what its encoder makes
        # of `chat`, so `contents` and `systemInstruction` arrive exactly as the client
        # sent them); `unsent`: what other formats lack.
        instruction = _get(body, "systemInstruction", "system_instruction")
        extra: dict[str, Any] = {"contents": contents}
        if isinstance(instruction, dict) and "text" not in instruction:  # a content
            extra["systemInstruction"] = instruction
        unsent: list[str] = []
        system = _system_texts(instruction)
        conversation = decode_contents(contents)
        tools, native_tools = _decode_tools(body.get("tools"), unsent)
        tool_choice, tools = _decode_tool_config(
            _get(body, "toolConfig", "tool_config"), tools, extra, unsent
        )
        chat = ChatRequest(
            model=name,
            # One system text for other formats (local chat templates take one).
            messages=[SystemMessage("\n".join(system)), *conversation] if system else conversation,
            stream=bool(stream),
            tools=tools or None,
            tool_choice=tool_choice,
        )
        refused: dict[str, str] = {}
        include_thoughts = _decode_generation_config(
            _get(body, "generationConfig", "generation_config"), chat, extra, unsent, refused
        )
        for key, value in body.items():
            if key not in _KNOWN_FIELDS:
                extra[_camel(key)] = value
                unsent.append(_camel(key))
        refused.update(_gemini_only_files(contents))
        cached = extra.get("cachedContent")
        if cached:
            refused["cachedContent"] = (
                f"{cached} is a prompt cached in a Gemini project; another backend would "
                "answer without it"
            )
        native: dict[str, Any] = {"extra_body": extra}
        if chat.response_format is not None:
            native["response_format"] = None  # the schema goes as given, in `extra`
        if native_tools:
            native["tools"] = native_tools
        return GeminiIncomingRequest(
            chat,
            sse=sse,
            native=native,
            same_format_only=refused,
            dropped_elsewhere=unsent,
            include_thoughts=include_thoughts,
        )

    def response_encoder(self, request: IncomingRequest, *, response_id: str) -> GeminiEncoder:
        """An SSE encoder, or a JSON-array one when `request.sse` is false."""
        include_thoughts = (
            request.include_thoughts if isinstance(request, GeminiIncomingRequest) else True
        )
        encoder_class = GeminiEncoder if request.sse else GeminiJSONArrayEncoder
        return encoder_class(
            model=request.chat.model, response_id=response_id, include_thoughts=include_thoughts
        )

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        """`{"error": {"code": status, "message": ..., "status": "INVALID_ARGUMENT"|...}}`."""
        return {
            "error": {"code": status, "message": message, "status": status_name(status, error_type)}
        }

    def count_tokens_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """`:countTokens` counts `generateContentRequest` when given, else the body."""
        inner = _get(body, "generateContentRequest", "generate_content_request")
        return inner if isinstance(inner, dict) else body

    def count_tokens_response(self, total: int) -> dict[str, Any]:
        """The `:countTokens` answer."""
        return {"totalTokens": total}

    def model_info(
        self,
        name: str,
        *,
        input_token_limit: int = _DEFAULT_INPUT_LIMIT,
        output_token_limit: int = _DEFAULT_OUTPUT_LIMIT,
    ) -> dict[str, Any]:
        """One `Model` resource (`GET /v1beta/models/{name}`)."""
        bare = name.removeprefix("models/")
        return {
            "name": f"models/{bare}",
            "displayName": bare,
            "supportedGenerationMethods": list(GENERATION_METHODS),
            "inputTokenLimit": input_token_limit,
            "outputTokenLimit": output_token_limit,
        }

    def models_list(self, names: list[str]) -> dict[str, Any]:
        """The `GET /v1beta/models` answer for the client-visible model names."""
        return {"models": [self.model_info(name) for name in names]}


# --- request decoding -------------------------------------------------------------------


def _camel(key: str) -> str:
    if key.startswith("_"):
        return key
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest) if rest else key


def _system_texts(instruction: Any) -> list[str]:
    """The text parts of `systemInstruction`: a content (`parts` optional, `role`
    ignored), a list of parts, a part, or a string (the SDKs' shorthands)."""
    if instruction is None:
        return []
    parts: Any = instruction
    if isinstance(instruction, dict) and "text" not in instruction:
        parts = instruction.get("parts")
    if parts is None:
        return []
    if not isinstance(parts, list):
        parts = [parts]
    texts: list[str] = []
    for index, part in enumerate(parts):
        if isinstance(part, str):
            text: Any = part
        elif isinstance(part, dict):
            text = part.get("text")
            if text is None:
                proxy_logger.debug(
                    "gemini: systemInstruction.parts[%d] is not text; left out", index
                )
                continue
        else:
            raise RequestDecodeError("'systemInstruction' must be a content, parts or text")
        if not isinstance(text, str):
            raise RequestDecodeError(f"systemInstruction.parts[{index}].text must be a string")
        if text:
            texts.append(text)
    return texts


@dataclass(slots=True)
class _AwaitedCall:
    """A model turn's function call, waiting for its `functionResponse` in a later turn."""

    id: str
    name: str
    position: int
    answered: bool = False


def decode_contents(contents: list[Any]) -> list[BaseMessage]:
    """LangChain messages for a Gemini `contents` list (see the module doc).

    Raises:
        RequestDecodeError: On a malformed content or a `functionResponse` that answers
            no call of the model turn before it.
    """
    messages: list[BaseMessage] = []
    used_ids: set[str] = set()
    open_calls: list[_AwaitedCall] = []
    for role, parts in _turns(contents):
        if role == "model":
            message, open_calls = _model_turn(parts, used_ids)
            messages.append(message)
        else:
            messages.extend(_user_turn(parts, open_calls))
    return messages


# A part with where it sits: (content index, part index, part).
_Located = tuple[int, int, dict[str, Any]]


def _turns(contents: list[Any]) -> list[tuple[str, list[_Located]]]:
    """Consecutive contents of one role, merged, with their parts' positions."""
    turns: list[tuple[str, list[_Located]]] = []
    for index, content in enumerate(contents):
        if not isinstance(content, dict):
            raise RequestDecodeError(f"contents[{index}] must be an object")
        role = content.get("role") or "user"
        if role in ("user", "function", "tool"):
            role = "user"
        elif role != "model":
            raise RequestDecodeError(
                f"contents[{index}].role must be 'user' or 'model', got {role!r}"
            )
        parts = content.get("parts")
        if parts is None:
            parts = []
        if not isinstance(parts, list):
            raise RequestDecodeError(f"contents[{index}].parts must be a list")
        located: list[_Located] = []
        for position, part in enumerate(parts):
            if not isinstance(part, dict):
                raise RequestDecodeError(f"contents[{index}].parts[{position}] must be an object")
            _check_part(part, _where(index, position))
            located.append((index, position, part))
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(located)
        else:
            turns.append((role, located))
    return turns


def _check_part(part: dict[str, Any], where: str) -> None:
    """The string fields of a part that every turn reads: `text`, `thoughtSignature`."""
    for camel, snake in (("text", "text"), ("thoughtSignature", "thought_signature")):
        value = _get(part, camel, snake)
        if value is not None and not isinstance(value, str):
            raise wrong_shape(f"{where}.{camel}", "a string", value)


def _media_block(part: dict[str, Any], where: str) -> dict[str, Any] | None:
    inline = _get(part, "inlineData", "inline_data")
    if inline is not None:
        if not isinstance(inline, dict) or not isinstance(inline.get("data"), str):
            raise RequestDecodeError(f"{where}.inlineData needs base64 'data'")
        mime = _get(inline, "mimeType", "mime_type")
        _check_mime(mime, f"{where}.inlineData")
        block: dict[str, Any] = {"type": _kind(mime), "base64": inline["data"]}
        if mime:
            block["mime_type"] = mime
        return block
    file_data = _get(part, "fileData", "file_data")
    if file_data is not None:
        uri = _get(file_data, "fileUri", "file_uri") if isinstance(file_data, dict) else None
        if not isinstance(uri, str) or not uri:
            raise RequestDecodeError(f"{where}.fileData needs a 'fileUri'")
        mime = _get(file_data, "mimeType", "mime_type")
        _check_mime(mime, f"{where}.fileData")
        block = {"type": _kind(mime), "url": uri}
        if mime:
            block["mime_type"] = mime
        return block
    return None


def _check_mime(mime: Any, where: str) -> None:
    if mime is not None and not isinstance(mime, str):
        raise wrong_shape(f"{where}.mimeType", "a string", mime)


def _gemini_only_files(contents: list[Any]) -> dict[str, str]:
    """`fileData` parts that only a Gemini backend can read: Files API and Cloud Storage
    URIs (another provider has no access to them), by where they are."""
    found: dict[str, str] = {}
    for index, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        for position, part in enumerate(parts if isinstance(parts, list) else ()):
            file_data = _get(part, "fileData", "file_data") if isinstance(part, dict) else None
            uri = _get(file_data, "fileUri", "file_uri") if isinstance(file_data, dict) else None
            if isinstance(uri, str) and uri.startswith(_GEMINI_FILE_URIS):
                found[_where(index, position)] = f"{uri} is readable only with Gemini's key"
    return found


def _kind(mime: Any) -> str:
    major = mime.split("/", 1)[0] if isinstance(mime, str) else ""
    return major if major in _MEDIA_KINDS else "file"


def _where(content_index: int, part_index: int) -> str:
    return f"contents[{content_index}].parts[{part_index}]"


def _model_turn(parts: list[_Located], used_ids: set[str]) -> tuple[AIMessage, list[_AwaitedCall]]:
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    plain = True  # only text: the content is one string
    thought: list[str] = []
    tool_calls: list[ToolCall] = []
    calls: list[_AwaitedCall] = []
    extras_by_id: dict[str, Any] = {}
    message_signature: str | None = None

    def end_thought(signature: str | None) -> None:
        if thought or signature:
            block: dict[str, Any] = {"type": "reasoning", "reasoning": "".join(thought)}
            if signature:
                block["extras"] = {"signature": signature}
            blocks.append(block)
            thought.clear()

    for content_index, part_index, part in parts:
        where = _where(content_index, part_index)
        signature = _get(part, "thoughtSignature", "thought_signature") or None
        call = _get(part, "functionCall", "function_call")
        if call is not None:
            end_thought(None)
            tool_call, extras = _decode_call(
                call, signature, where, content_index, part_index, used_ids
            )
            tool_calls.append(tool_call)
            call_id = tool_call["id"] or ""
            calls.append(_AwaitedCall(call_id, tool_call["name"], len(calls)))
            if extras:
                extras_by_id[call_id] = extras
            continue
        if _get(part, "functionResponse", "function_response") is not None:
            raise RequestDecodeError(f"{where}: a functionResponse belongs in a user turn")
        if signature and message_signature is None:
            message_signature = signature
        text = part.get("text")
        if part.get("thought"):
            plain = False
            if isinstance(text, str):
                thought.append(text)
            if signature:
                end_thought(signature)
            continue
        end_thought(None)
        if isinstance(text, str):
            if text:
                texts.append(text)
                blocks.append({"type": "text", "text": text})
            continue
        media = _media_block(part, where)
        if media is not None:
            plain = False
            blocks.append(media)
        elif set(part) - {"thoughtSignature", "thought_signature"}:
            plain = False
            blocks.append(part)  # executableCode, codeExecutionResult, ...: native, as is
    end_thought(None)

    kwargs: dict[str, Any] = {}
    if extras_by_id:
        kwargs[TOOL_CALL_EXTRAS] = extras_by_id
    if message_signature:
        kwargs[EXTRA_CONTENT] = {GOOGLE: {THOUGHT_SIGNATURE: message_signature}}
    content: str | list[str | dict[str, Any]] = "".join(texts) if plain else list(blocks)
    # Marked as Gemini's: its thought signatures mean nothing to another format's encoder.
    message = AIMessage(
        content=content,
        tool_calls=tool_calls,
        additional_kwargs=kwargs,
        response_metadata={"wire_format": "gemini"},
    )
    return message, calls


def _decode_call(
    call: Any,
    signature: str | None,
    where: str,
    content_index: int,
    part_index: int,
    used_ids: set[str],
) -> tuple[ToolCall, dict[str, Any]]:
    if not isinstance(call, dict):
        raise RequestDecodeError(f"{where}.functionCall must be an object")
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise RequestDecodeError(f"{where}.functionCall needs a 'name'")
    args = call.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise RequestDecodeError(f"{where}.functionCall.args must be an object")
    extras: dict[str, Any] = {}
    given = call.get("id")
    if isinstance(given, str) and given and given not in used_ids:
        call_id = given
        extras[NATIVE_ID] = True
    else:
        call_id = base = f"call_{content_index}_{part_index}"
        suffix = 0
        while call_id in used_ids:
            suffix += 1
            call_id = f"{base}_{suffix}"
    used_ids.add(call_id)
    if signature:
        extras[GOOGLE] = {THOUGHT_SIGNATURE: signature}
    return ToolCall(name=name, args=args, id=call_id, type="tool_call"), extras


def _user_turn(parts: list[_Located], open_calls: list[_AwaitedCall]) -> list[BaseMessage]:
    responses: list[tuple[str, dict[str, Any]]] = []
    blocks: list[str | dict[str, Any]] = []
    for content_index, part_index, part in parts:
        where = _where(content_index, part_index)
        response = _get(part, "functionResponse", "function_response")
        if response is not None:
            if not isinstance(response, dict):
                raise RequestDecodeError(f"{where}.functionResponse must be an object")
            responses.append((where, response))
            continue
        if _get(part, "functionCall", "function_call") is not None:
            raise RequestDecodeError(f"{where}: a functionCall belongs in a model turn")
        if part.get("thought"):
            continue  # the model's reasoning means nothing in a user turn
        text = part.get("text")
        if isinstance(text, str):
            if text:
                blocks.append({"type": "text", "text": text})
            continue
        media = _media_block(part, where)
        if media is not None:
            blocks.append(media)
        elif set(part) - {"thoughtSignature", "thought_signature"}:
            blocks.append(part)
    messages: list[BaseMessage] = _answer(responses, open_calls) if responses else []
    if blocks:
        first = blocks[0]
        if len(blocks) == 1 and isinstance(first, dict) and first.get("type") == "text":
            messages.append(HumanMessage(content=str(first["text"])))
        else:
            messages.append(HumanMessage(content=blocks))
    return messages


def _answer(
    responses: list[tuple[str, dict[str, Any]]], open_calls: list[_AwaitedCall]
) -> list[BaseMessage]:
    """ToolMessages for a turn's function responses, paired with the open calls."""
    if not open_calls:
        where = responses[0][0]
        raise RequestDecodeError(
            f"{where}: a functionResponse must follow a model turn with functionCall parts"
        )
    by_id = {call.id: call for call in open_calls if not call.answered}
    paired: list[tuple[_AwaitedCall, dict[str, Any]]] = []
    rest: list[tuple[str, dict[str, Any]]] = []
    for where, response in responses:
        response_id = response.get("id")
        call = by_id.pop(response_id, None) if isinstance(response_id, str) else None
        if call is None:
            rest.append((where, response))
            continue
        name = response.get("name")
        if name and name != call.name:
            raise RequestDecodeError(
                f"{where}: functionResponse {name!r} has the id of a call to {call.name!r}"
            )
        call.answered = True
        paired.append((call, response))
    for where, response in rest:
        name = response.get("name")
        waiting = [c for c in open_calls if not c.answered and (not name or c.name == name)]
        if not waiting or (not name and len(waiting) > 1):
            calls = ", ".join(c.name for c in open_calls) or "none"
            left = ", ".join(c.name for c in open_calls if not c.answered) or "none"
            raise RequestDecodeError(
                f"{where}: cannot pair functionResponse {name!r} with a functionCall of the "
                f"model turn before it (its calls: {calls}; unanswered: {left})"
            )
        call = waiting[0]
        call.answered = True
        by_id.pop(call.id, None)
        paired.append((call, response))
    paired.sort(key=lambda item: item[0].position)
    return [_tool_message(call, response) for call, response in paired]


def _tool_message(call: _AwaitedCall, response: dict[str, Any]) -> ToolMessage:
    value = response.get("response")
    status = "success"
    text: str
    if isinstance(value, dict) and len(value) == 1 and ("output" in value or "error" in value):
        if "error" in value:
            status = "error"
        inner = next(iter(value.values()))
        text = inner if isinstance(inner, str) else json.dumps(inner, ensure_ascii=False)
    else:
        text = json.dumps({} if value is None else value, ensure_ascii=False)
    content: str | list[str | dict[str, Any]] = text
    media_parts = response.get("parts")
    if isinstance(media_parts, list) and media_parts:
        blocks: list[str | dict[str, Any]] = [{"type": "text", "text": text}]
        for index, part in enumerate(media_parts):
            media = (
                _media_block(part, f"functionResponse.parts[{index}]")
                if isinstance(part, dict)
                else None
            )
            if media is not None:
                blocks.append(media)
        content = blocks
    return ToolMessage(content=content, tool_call_id=call.id, name=call.name, status=status)


def _decode_tools(
    tools: Any, unsent: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`(function tools, the tools for a Gemini backend)`: the declarations as function
    tools for other formats; for Gemini, the declarations as given (their schema flavour,
    `behavior`, `response` kept) in one tool, then each native tool (`googleSearch`, ...)
    as its own, which other formats lack (named in `unsent`)."""
    if tools is None:
        return [], []
    if not isinstance(tools, list):
        raise RequestDecodeError("'tools' must be a list")
    functions: list[dict[str, Any]] = []
    given: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestDecodeError(f"tools[{index}] must be an object")
        declarations = _get(tool, "functionDeclarations", "function_declarations")
        if declarations is not None:
            if not isinstance(declarations, list):
                raise RequestDecodeError(f"tools[{index}].functionDeclarations must be a list")
            functions.extend(
                _decode_declaration(d, f"tools[{index}].functionDeclarations[{n}]")
                for n, d in enumerate(declarations)
            )
            given.extend(declarations)
        for key, value in tool.items():
            if key not in ("functionDeclarations", "function_declarations"):
                native.append({_camel(key): value})
                unsent.append(f"tools[{index}].{_camel(key)}")
    return functions, ([{"functionDeclarations": given}] if given else []) + native


def _decode_declaration(declaration: Any, where: str) -> dict[str, Any]:
    if not isinstance(declaration, dict):
        raise RequestDecodeError(f"{where} must be an object")
    name = declaration.get("name")
    if not isinstance(name, str) or not name:
        raise RequestDecodeError(f"{where} needs a 'name'")
    function: dict[str, Any] = {"name": name}
    description = declaration.get("description")
    if isinstance(description, str) and description:
        function["description"] = description
    given = _get(declaration, "parametersJsonSchema", "parameters_json_schema")
    if given is not None:
        check_schema(given, f"{where}.parametersJsonSchema")
    schema = lowercase_types(given)
    if schema is None:
        gemini_schema = declaration.get("parameters")
        if gemini_schema is not None:
            check_schema(gemini_schema, f"{where}.parameters", type_numbers=True)
            try:
                schema = from_gemini_schema(gemini_schema)
            except UnsupportedSchema as exc:
                raise RequestDecodeError(f"{where}.parameters: {exc}") from None
    if schema is None:
        schema = {"type": "object", "properties": {}}
    elif not isinstance(schema, dict):
        raise RequestDecodeError(f"{where}: the parameter schema must be an object")
    function["parameters"] = schema
    return {"type": "function", "function": function}


def _decode_tool_config(
    config: Any, tools: list[dict[str, Any]], extra: dict[str, Any], unsent: list[str]
) -> tuple[ToolChoice | None, list[dict[str, Any]]]:
    """`(tool_choice, tools)`; see the module doc."""
    if config is None:
        return None, tools
    if not isinstance(config, dict):
        raise RequestDecodeError("'toolConfig' must be an object")
    calling = _get(config, "functionCallingConfig", "function_calling_config")
    unsent.extend(
        f"toolConfig.{_camel(k)}"
        for k in config
        if k not in ("functionCallingConfig", "function_calling_config")
    )
    choice: ToolChoice | None = None
    if calling is not None:
        if not isinstance(calling, dict):
            raise RequestDecodeError("'toolConfig.functionCallingConfig' must be an object")
        mode = calling.get("mode")
        if mode is not None and not isinstance(mode, str):
            raise wrong_shape("toolConfig.functionCallingConfig.mode", "a string", mode)
        mode = mode.upper() if isinstance(mode, str) else mode
        names = _get(calling, "allowedFunctionNames", "allowed_function_names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RequestDecodeError("'allowedFunctionNames' must be a list of names")
        if mode in (None, "MODE_UNSPECIFIED"):
            choice = None
        elif isinstance(mode, str) and mode in _FUNCTION_MODES:
            choice = _FUNCTION_MODES[mode]
        else:
            raise RequestDecodeError(f"unknown functionCallingConfig mode {mode!r}")
        if mode == "VALIDATED":
            unsent.append("functionCallingConfig mode VALIDATED (sent as AUTO)")
        unsent.extend(
            f"functionCallingConfig.{_camel(k)}"
            for k in calling
            if _camel(k) not in ("mode", "allowedFunctionNames")
        )
        if names and mode != "NONE":
            known = {t["function"]["name"] for t in tools}
            missing = [n for n in names if n not in known]
            if missing:
                raise RequestDecodeError(
                    f"allowedFunctionNames names undeclared functions: {', '.join(missing)}"
                )
            if len(names) == 1 and mode == "ANY":
                choice = names[0]
            else:  # the same choice, said by offering only the allowed functions
                allowed = set(names)
                tools = [t for t in tools if t["function"]["name"] in allowed]
    kept = {_camel(k): v for k, v in config.items()}
    if isinstance(calling, dict):
        kept["functionCallingConfig"] = {_camel(k): v for k, v in calling.items()}
    extra["toolConfig"] = kept
    return choice, tools


def _decode_generation_config(
    config: Any,
    chat: ChatRequest,
    extra: dict[str, Any],
    unsent: list[str],
    refused: dict[str, str],
) -> bool:
    """Fill `chat` from `generationConfig`; return whether the client wants thoughts.

    What has no neutral field goes to `extra` (and is named in `unsent`); an answer in
    another modality than text (`responseModalities`, `responseFormat`) only a Gemini
    backend can give (`refused` for others).
    """
    if config is None:
        return False
    if not isinstance(config, dict):
        raise RequestDecodeError("'generationConfig' must be an object")
    count = _get(config, "candidateCount", "candidate_count")
    if count not in (None, 1):
        raise RequestDecodeError("only candidateCount 1 is supported")
    chat.temperature = _number(config, "temperature", "temperature")
    chat.top_p = _number(config, "topP", "top_p")
    top_k = _number(config, "topK", "top_k")
    chat.top_k = int(top_k) if top_k is not None else None
    max_tokens = _number(config, "maxOutputTokens", "max_output_tokens")
    chat.max_tokens = int(max_tokens) if max_tokens is not None else None
    seed = _number(config, "seed", "seed")
    chat.seed = int(seed) if seed is not None else None
    chat.presence_penalty = _number(config, "presencePenalty", "presence_penalty")
    chat.frequency_penalty = _number(config, "frequencyPenalty", "frequency_penalty")
    stop = _get(config, "stopSequences", "stop_sequences")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise RequestDecodeError("'stopSequences' must be a list of strings")
        chat.stop = stop or None
    chat.response_format = _response_format(config, extra, unsent)

    include_thoughts = False
    thinking = _get(config, "thinkingConfig", "thinking_config")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise RequestDecodeError("'thinkingConfig' must be an object")
        budget = _get(thinking, "thinkingBudget", "thinking_budget")
        if budget is not None:
            if not isinstance(budget, int) or isinstance(budget, bool):
                raise RequestDecodeError("'thinkingBudget' must be an integer")
            chat.thinking_budget = budget if budget >= 0 else None  # -1: dynamic
        level = _get(thinking, "thinkingLevel", "thinking_level")
        if isinstance(level, str) and level and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
            chat.reasoning_effort = level.lower()
        include_thoughts = bool(_get(thinking, "includeThoughts", "include_thoughts"))
        extra.setdefault("generationConfig", {})["thinkingConfig"] = {
            _camel(k): v for k, v in thinking.items()
        }
    rest = {_camel(k): v for k, v in config.items() if k not in _GENERATION_FIELDS}
    if rest:
        extra.setdefault("generationConfig", {}).update(rest)
        unsent.extend(f"generationConfig.{k}" for k in rest)
    other = _other_modalities(rest)
    if other:
        refused["generationConfig"] = f"an answer in {', '.join(other)}"
    return include_thoughts


def _other_modalities(config: dict[str, Any]) -> list[str]:
    """The output modalities other than text a `generationConfig` asks for."""
    modalities = config.get("responseModalities")
    asked = [str(m).upper() for m in modalities] if isinstance(modalities, list) else []
    formats = config.get("responseFormat")
    for entry in formats if isinstance(formats, list) else ():
        if isinstance(entry, dict):
            asked.extend(k.upper() for k in entry)
    return sorted({m for m in asked if m not in ("TEXT", "MODALITY_UNSPECIFIED")})


def _number(config: dict[str, Any], camel: str, snake: str) -> float | None:
    value = _get(config, camel, snake)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestDecodeError(f"generationConfig.{camel} must be a number")
    return value


def _response_format(
    config: dict[str, Any], extra: dict[str, Any], unsent: list[str]
) -> dict[str, Any] | None:
    mime = _get(config, "responseMimeType", "response_mime_type")
    given = _get(config, "responseJsonSchema", "response_json_schema")
    if given is None:
        given = config.get("_responseJsonSchema")
    if given is not None:
        check_schema(given, "generationConfig.responseJsonSchema")
    schema = lowercase_types(given)
    gemini_schema = _get(config, "responseSchema", "response_schema")
    if gemini_schema is not None:
        check_schema(gemini_schema, "generationConfig.responseSchema", type_numbers=True)
    if mime in (None, "text/plain") and schema is None and gemini_schema is None:
        return None
    # A Gemini backend gets the format as given (schema flavour kept).
    generation = extra.setdefault("generationConfig", {})
    generation["responseMimeType"] = mime or "application/json"
    if gemini_schema is not None:
        generation["responseSchema"] = gemini_schema
    if given is not None:
        generation["responseJsonSchema"] = given
    if mime not in (None, "application/json"):  # text/x.enum and the like: Gemini's own
        unsent.append(f"generationConfig.responseMimeType {mime}")
        return None
    if schema is None and gemini_schema is not None:
        try:
            schema = from_gemini_schema(gemini_schema)
        except UnsupportedSchema as exc:
            raise RequestDecodeError(f"generationConfig.responseSchema: {exc}") from None
    if schema is None:
        return {"type": "json_object"}
    if not isinstance(schema, dict):
        raise RequestDecodeError("the response schema must be an object")
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


# --- response encoding ------------------------------------------------------------------


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""`json.dumps` with these options builds an encoder per call; one is enough."""


def _dumps(value: Any) -> bytes:
    return _COMPACT(value).encode()


class GeminiEncoder(ResponseEncoder):
    """Normalized events -> `GenerateContentResponse` chunks as SSE (or one response).

    See the module doc for what each event becomes.
    """

    media_type: ClassVar[str] = "text/event-stream"

    def __init__(self, *, model: str, response_id: str, include_thoughts: bool = True) -> None:
        self.model = model
        self.response_id = response_id
        self.include_thoughts = include_thoughts
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._signature: str | None = None
        self._malformed: list[str] = []

    # --- framing (overridden for the JSON array) ---------------------------------------

    def _frame(self, chunk: dict[str, Any]) -> bytes:
        return b"data: " + _dumps(chunk) + b"\r\n\r\n"

    def _end(self) -> bytes:
        return b""

    # --- the ResponseEncoder interface -------------------------------------------------

    def keepalive(self) -> bytes:
        """A blank line: no event in SSE, whitespace in the JSON array. Not an SSE comment,
        which the google-genai Python SDK tries to parse as JSON (and fails)."""
        return b"\r\n"

    def encode(self, events: list[StreamEvent]) -> bytes:
        parts = self._parts(events)
        if not parts:
            return b""
        return self._frame(self._chunk(parts))

    def finish(self) -> bytes:
        parts: list[dict[str, Any]] = []
        if self._signature:
            parts.append({"text": "", "thoughtSignature": self._signature})
        return self._frame(self._chunk(parts, final=True)) + self._end()

    def error(self, status: int, error_type: str, message: str) -> bytes:
        body = {
            "error": {"code": status, "message": message, "status": status_name(status, error_type)}
        }
        return self._frame(body) + self._end()

    def complete(self, events: list[StreamEvent]) -> dict[str, Any]:
        parts = self._parts(events)
        if self._signature:
            target = next(
                (p for p in reversed(parts) if "text" in p and not p.get("thought")), None
            )
            if target is not None and "thoughtSignature" not in target:
                target["thoughtSignature"] = self._signature
            else:
                parts.append({"text": "", "thoughtSignature": self._signature})
        return self._chunk(parts, final=True)

    # --- pieces ------------------------------------------------------------------------

    def _chunk(self, parts: list[dict[str, Any]], *, final: bool = False) -> dict[str, Any]:
        candidate: dict[str, Any] = {}
        if parts:
            candidate["content"] = {"role": "model", "parts": parts}
        chunk: dict[str, Any] = {"candidates": [candidate]}
        if final:
            reason, message = self._finish_reason()
            candidate["finishReason"] = reason
            if message:
                candidate["finishMessage"] = message
            if self._usage is not None:
                chunk["usageMetadata"] = encode_usage(self._usage)
        candidate["index"] = 0
        chunk["modelVersion"] = self.model
        chunk["responseId"] = self.response_id
        return chunk

    def _finish_reason(self) -> tuple[str, str | None]:
        if not self._malformed:
            return gemini_finish_reason(self._finish), None
        truncated = self._finish is not None and self._finish.reason == "length"
        message = "Malformed function call: " + "; ".join(self._malformed)
        return ("MAX_TOKENS" if truncated else "MALFORMED_FUNCTION_CALL"), message

    def _parts(self, events: list[StreamEvent]) -> list[dict[str, Any]]:
        """The parts of one batch; usage, finish and signatures are kept for the end."""
        parts: list[dict[str, Any]] = []
        run: list[str] = []  # adjacent text (or thought) pieces, merged into one part
        run_thought = False
        for event in events:
            kind = type(event)
            if kind is TextDelta or kind is RefusalDelta:
                text: str = event.text  # type: ignore[union-attr]
                if text:
                    if run_thought and run:
                        parts.append({"text": "".join(run), "thought": True})
                        run = []
                    run_thought = False
                    run.append(text)
            elif kind is ReasoningDelta:
                assert isinstance(event, ReasoningDelta)
                if not self.include_thoughts:
                    continue
                if not run_thought and run:
                    parts.append({"text": "".join(run)})
                    run = []
                run_thought = True
                if event.text:
                    run.append(event.text)
                if event.signature:
                    parts.append(
                        {"text": "".join(run), "thought": True, "thoughtSignature": event.signature}
                    )
                    run = []
            elif kind is ToolCallDone:
                assert isinstance(event, ToolCallDone)
                if run:
                    parts.append(
                        {"text": "".join(run), "thought": True}
                        if run_thought
                        else {"text": "".join(run)}
                    )
                    run = []
                part = self._call_part(event)
                if part is not None:
                    parts.append(part)
            elif kind is Usage:
                self._usage = event  # type: ignore[assignment]
            elif kind is Finish:
                self._finish = event  # type: ignore[assignment]
            elif kind is ProviderState:
                assert isinstance(event, ProviderState)
                if event.key == EXTRA_CONTENT:
                    self._signature = _signature(event.value) or self._signature
        if run:
            parts.append(
                {"text": "".join(run), "thought": True} if run_thought else {"text": "".join(run)}
            )
        return parts

    def _call_part(self, call: ToolCallDone) -> dict[str, Any] | None:
        if call.args is None or not call.name:
            raw = call.args_text if len(call.args_text) <= 200 else call.args_text[:200] + "..."
            problem = call.error or "the call has no name"
            self._malformed.append(f"{call.name or '?'}({raw}): {problem}")
            logger.warning(
                "gemini frontend: tool call %s not sent (%s); finishing with "
                "MALFORMED_FUNCTION_CALL",
                call.name or "?",
                problem,
            )
            return None
        part: dict[str, Any] = {
            "functionCall": {"id": call.id, "name": call.name, "args": call.args}
        }
        signature = _signature(call.extras)
        if signature:
            part["thoughtSignature"] = signature
        return part


class GeminiJSONArrayEncoder(GeminiEncoder):
    """The same chunks as one JSON array (`:streamGenerateContent` without `alt=sse`):
    `[` first, `,\\r\\n` between elements, `]` at the end, each element sent as soon as
    it is complete."""

    media_type: ClassVar[str] = "application/json; charset=UTF-8"

    def __init__(self, *, model: str, response_id: str, include_thoughts: bool = True) -> None:
        super().__init__(model=model, response_id=response_id, include_thoughts=include_thoughts)
        self._opened = False
        self._elements = 0

    def start(self) -> bytes:
        self._opened = True
        return b"["

    def _frame(self, chunk: dict[str, Any]) -> bytes:
        prefix = b"" if self._opened else b"["
        self._opened = True
        if self._elements:
            prefix += b",\r\n"
        self._elements += 1
        return prefix + _dumps(chunk)

    def _end(self) -> bytes:
        return b"]"


__all__ = [
    "GeminiEncoder",
    "GeminiIncomingRequest",
    "GeminiJSONArrayEncoder",
    "GeminiServer",
    "decode_contents",
    "encode_usage",
    "gemini_finish_reason",
    "status_name",
]
