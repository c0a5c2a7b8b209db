"""Gemini `:generateContent` / `:streamGenerateContent`: Google AI Studio and Vertex AI.

Requests:

- `SystemMessage`s become `systemInstruction`; the conversation becomes `contents` with
  roles `user` and `model`, consecutive turns of one role merged into one content.
- Content parts: `text`, `inlineData` (base64 images, PDF, audio, video), `fileData` (a
  URI: Files API, Cloud Storage, YouTube or a public URL), `functionCall` (from
  `AIMessage.tool_calls`, with the `thoughtSignature` Gemini gave the call), and
  `functionResponse` (from `ToolMessage`). Gemini pairs results with calls by position and
  name, so results are named after their call and put in the calls' order; a result that
  is not a JSON object is wrapped as `{"output": ...}` (`{"error": ...}` for a tool
  message with `status="error"`). Call ids are sent back only when Gemini itself gave
  them (Gemini 3 does): some endpoints reject an `id` field they did not produce.
  Images and documents a tool returned go inside `functionResponse.parts` for Gemini 3
  and later (multimodal function responses), else as `inlineData` parts after the
  function responses of the same turn; never as text.
- Tools: OpenAI-style function tools become one `functionDeclarations` tool, with the
  parameter schema converted to Gemini's OpenAPI subset (`parameters`), or sent as JSON
  Schema (`parametersJsonSchema`) when converting would lose meaning (see
  `schema.py`). Other tool dicts (`{"googleSearch": {}}`, `{"codeExecution": {}}`)
  pass through. `tool_choice` maps to `toolConfig.functionCallingConfig` (AUTO, ANY,
  NONE, ANY + `allowedFunctionNames` for a named tool). Gemini has no switch for
  parallel calls: `parallel_tool_calls` is not sent.
- `generationConfig`: temperature, topP, topK, maxOutputTokens, stopSequences, seed,
  `candidateCount: 1` (only the first candidate is read), `responseMimeType` +
  `responseSchema` (or `responseJsonSchema`) for structured output, and `thinkingConfig`
  (`thinking_budget` -> `thinkingBudget`, `reasoning_effort` -> `thinkingLevel`, with
  `includeThoughts` so the reasoning is visible).
- `extra_body` (ChatBhumi `model_kwargs` and call kwargs) is merged in last, dicts key by
  key: `{"safetySettings": [...]}`, `{"generationConfig": {"responseModalities": [...]}}`,
  `{"cachedContent": "cachedContents/..."}`, `{"tools": [{"googleSearch": {}}]}` (added
  to the declared tools).
- The key goes in the `x-goog-api-key` header, never in the URL; a Google OAuth access
  token (`ya29.`...) goes in `Authorization: Bearer` (Vertex AI project endpoints).

Responses, streamed (`alt=sse`, or the JSON array sent without it) or whole:

- `text` parts are answer text, `thought: true` parts reasoning. Each `functionCall` part
  is one whole tool call with its own index (several in one chunk are parallel calls)
  and an invented id unless Gemini sent one; Vertex AI's streamed arguments
  (`partialArgs` + `willContinue`) are assembled into the same whole call.
- `thoughtSignature`s are kept for the next turn: a call's in
  `additional_kwargs["tool_call_extras"][call_id]["google"]["thought_signature"]`, one on
  a text or thought part in `additional_kwargs["extra_content"]["google"]
  ["thought_signature"]` (the shape Gemini's OpenAI-compatible endpoint uses, so a
  conversation can move between the two endpoints).
- `usageMetadata` is cumulative on every chunk: the last one is emitted once, at the
  end. Input tokens are `promptTokenCount` (+ `toolUsePromptTokenCount`), with
  `cachedContentTokenCount` as cache reads; output tokens are `candidatesTokenCount` +
  `thoughtsTokenCount` (Gemini counts thoughts apart from the candidates, LangChain
  counts reasoning inside the output), with `thoughtsTokenCount` as reasoning.
- `finishReason`: STOP -> `stop` (`tool_calls` when calls were made), MAX_TOKENS ->
  `length`, SAFETY / RECITATION / BLOCKLIST / PROHIBITED_CONTENT / SPII / IMAGE_* ->
  `content_filter`; others (MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, OTHER, ...)
  pass through as Gemini names them, with `finishMessage` in `response_metadata
  ["finish_message"]`. Integer enums (`$alt=json;enum-encoding=int`) are read too.
- `promptFeedback.blockReason` raises `ContentBlockedError`; an `{"error": ...}` chunk
  raises `StreamErrorEvent`. `modelVersion` is the model name, `responseId` the id.
- Field names are read in camelCase (what the API sends) or snake_case.

A Gemini stream has no terminator. It counts as cut (`StreamCutError`) when the body ends
in the middle of a frame, when a JSON-array body ends before its closing `]`, or when an
SSE body ends before any candidate sent a `finishReason` (the API always sends one on
the last chunk).
"""

from __future__ import annotations

import itertools
import json
import logging
import mimetypes
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
    ContentBlockedError,
    InvalidStreamDataError,
    StreamCutError,
)
from langchain_bhumi.core.events import (
    ProviderState,
    ReasoningDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    Usage,
)
from langchain_bhumi.core.framing import Frame, Framer, JSONArrayFramer, framer_for
from langchain_bhumi.core.toolcalls import ToolCallAssembler
from langchain_bhumi.protocols.base import (
    NO_REPLAY,
    TOOL_CALL_EXTRAS,
    ChatProtocol,
    ChatRequest,
    ReasoningReplay,
    ToolChoice,
)
from langchain_bhumi.protocols.content import (
    MediaPart,
    OtherPart,
    Part,
    ReasoningPart,
    TextPart,
    content_parts,
    tool_result_parts,
)
from langchain_bhumi.protocols.gemini.schema import (
    UnsupportedSchema,
    is_empty_object,
    json_schema_for_gemini,
    to_gemini_schema,
)

logger = logging.getLogger("langchain_bhumi")

EXTRA_CONTENT = "extra_content"
"""`additional_kwargs` key of a message-level thought signature:
`{"google": {"thought_signature": ...}}`."""

GOOGLE = "google"
THOUGHT_SIGNATURE = "thought_signature"
NATIVE_ID = "native_id"
"""Tool-call extras flag: the call id came from Gemini, so it is sent back."""

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
# Integer encodings (`enum-encoding=int`) that every published version of the enum agrees
# on; later numbers were reordered between API versions, so they pass through as numbers.
_FINISH_NUMBERS = {1: "STOP", 2: "MAX_TOKENS", 3: "SAFETY", 4: "RECITATION"}
_BLOCK_NUMBERS = {1: "SAFETY", 2: "OTHER", 3: "BLOCKLIST", 4: "PROHIBITED_CONTENT"}
_TOOL_FAILURES = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})

_TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}
_THINKING_LEVELS = {"max": "XHIGH"}  # OpenAI's and Anthropic's top effort; Gemini's is XHIGH
_NATIVE_PART_KEYS = frozenset(
    {
        "text",
        "inlineData",
        "inline_data",
        "fileData",
        "file_data",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
    }
)
# First base64 characters of common file types, for inline data sent without a MIME type.
_MAGIC = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
    ("JVBERi0", "application/pdf"),
)
_DEFAULT_MIME = {
    "image": "image/png",
    "file": "application/pdf",
    "audio": "audio/wav",
    "video": "video/mp4",
}


class GeminiProtocol(ChatProtocol):
    """The Gemini API format (`generateContent`), client direction."""

    name = "gemini"
    default_root = "/v1beta"

    def path(self, model: str, *, stream: bool) -> str:
        """`/models/<model>:generateContent`, or `:streamGenerateContent?alt=sse`.

        A model given as a resource name (`models/...`, `tunedModels/...`,
        `publishers/google/models/...`) is used as is.
        """
        resource = model if "/" in model else f"models/{model}"
        if stream:
            return f"/{resource}:streamGenerateContent?alt=sse"
        return f"/{resource}:generateContent"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """`x-goog-api-key` (never a `key=` query parameter, which would end up in logs);
        `Authorization: Bearer` for a Google OAuth access token (`ya29.`...)."""
        if not api_key:
            return {}
        if api_key.startswith("ya29."):  # a Google OAuth access token (Vertex AI)
            return {"authorization": f"Bearer {api_key}"}
        return {"x-goog-api-key": api_key}

    def encode_request(self, request: ChatRequest) -> dict[str, Any]:
        """The `generateContent` body; `extra_body` merged in last (see the module doc)."""
        system, contents = encode_messages(
            request.messages,
            request.replay(),
            media_in_function_responses=takes_media_in_function_responses(request.model),
        )
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        if request.tools:
            tools = encode_tools(request.tools)
            if tools:
                body["tools"] = tools
        if request.tool_choice is not None:
            body["toolConfig"] = encode_tool_choice(request.tool_choice)
        config = _generation_config(request)
        if config:
            body["generationConfig"] = config
        return _merge(body, request.extra_body)

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()

    def count_tokens_call(
        self, model: str, body: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """`:countTokens` with the whole request as `generateContentRequest`, so the
        system instruction and tools are counted too."""
        resource = model if "/" in model else f"models/{model}"
        return f"/{resource}:countTokens", {"generateContentRequest": {"model": resource, **body}}

    def decode_token_count(self, answer: Any) -> int:
        return int(answer.get("totalTokens", 0))


# --- request encoding -------------------------------------------------------------------


def encode_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    """`toolConfig` for a tool choice: a mode, or ANY restricted to one named tool.

    A dict with `functionCallingConfig` passes through; an OpenAI-style
    `{"type": "function", "function": {"name": ...}}` names the tool.
    """
    if isinstance(choice, dict):
        if "functionCallingConfig" in choice or "function_calling_config" in choice:
            return choice
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"tool_choice {choice!r} names no function")
        choice = name
    mode = _TOOL_CHOICE_MODES.get(choice)
    if mode is not None:
        return {"functionCallingConfig": {"mode": mode}}
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice]}}


def encode_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tools as one `functionDeclarations` tool; native Gemini tools as they are."""
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        function = tool.get("function")
        if tool.get("type") == "function" and isinstance(function, dict):
            declarations.append(encode_declaration(function))
            continue
        listed = tool.get("functionDeclarations", tool.get("function_declarations"))
        if isinstance(listed, list):
            declarations.extend(listed)
        elif "name" in tool and "type" not in tool:  # a bare function declaration
            declarations.append(encode_declaration(tool))
        else:
            native.append(tool)
    encoded = [{"functionDeclarations": declarations}] if declarations else []
    return encoded + native


def encode_declaration(function: dict[str, Any]) -> dict[str, Any]:
    """One function declaration; parameters converted (or sent as JSON Schema)."""
    declaration: dict[str, Any] = {"name": function["name"]}
    description = function.get("description")
    if description:
        declaration["description"] = description
    for key in ("parametersJsonSchema", "parameters_json_schema"):
        if key in function:  # already JSON Schema for Gemini: sent as given
            declaration["parametersJsonSchema"] = function[key]
            return declaration
    parameters = function.get("parameters")
    if isinstance(parameters, dict) and not is_empty_object(parameters):
        try:
            declaration["parameters"] = to_gemini_schema(parameters)
        except UnsupportedSchema as exc:
            logger.debug("tool %s: parameters sent as JSON Schema (%s)", function["name"], exc)
            declaration["parametersJsonSchema"] = json_schema_for_gemini(parameters)
    return declaration


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"candidateCount": 1}
    for key, value in (
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("topK", request.top_k),
        ("maxOutputTokens", request.max_tokens),
        ("stopSequences", request.stop),
        ("seed", request.seed),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
    ):
        if value is not None:
            config[key] = value
    if request.response_format is not None:
        config.update(_response_format(request.response_format))
    thinking = _thinking_config(request.thinking_budget, request.reasoning_effort)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _response_format(response_format: dict[str, Any]) -> dict[str, Any]:
    kind = response_format.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind != "json_schema":
        raise ConfigurationError(
            f"response_format type {kind!r} is not supported by Gemini; use 'json_schema', "
            "'json_object' or 'text'"
        )
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema")
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    if isinstance(schema, dict) and schema:
        description = spec.get("description")
        if description and "description" not in schema:  # OpenAI keeps it beside the schema
            schema = {**schema, "description": description}
        try:
            config["responseSchema"] = to_gemini_schema(schema, response=True)
        except UnsupportedSchema as exc:
            logger.debug("response schema sent as JSON Schema (%s)", exc)
            config["responseJsonSchema"] = json_schema_for_gemini(schema)
    return config


def _thinking_config(budget: int | None, effort: str | None) -> dict[str, Any]:
    """Gemini refuses a level and a budget together: a budget wins over an effort, except
    the dynamic one (`-1`), which means no budget."""
    thinking: dict[str, Any] = {}
    if budget is not None and not (budget == -1 and effort):
        thinking["thinkingBudget"] = budget
    if effort:
        if effort.lower() in ("none", "off"):
            thinking.setdefault("thinkingBudget", 0)
        elif "thinkingBudget" not in thinking:
            thinking["thinkingLevel"] = _THINKING_LEVELS.get(effort.lower(), effort.upper())
    if thinking and thinking.get("thinkingBudget") != 0:
        thinking["includeThoughts"] = True
    return thinking


def _merge(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `body`: dicts merged key by key, `tools` appended, the rest replaced."""
    for key, value in extra.items():
        known = body.get(key)
        if isinstance(known, dict) and isinstance(value, dict):
            body[key] = _merge(dict(known), value)
        elif key == "tools" and isinstance(known, list) and isinstance(value, list):
            body[key] = known + value
        else:
            body[key] = value
    return body


class _CallRef:
    __slots__ = ("id", "name", "native", "position")

    def __init__(self, call_id: str, name: str, position: int, native: bool) -> None:
        self.id = call_id
        self.name = name
        self.position = position
        self.native = native


def takes_media_in_function_responses(model: str) -> bool:
    """Gemini 3 and later take a tool result's media inside `functionResponse.parts`
    (multimodal function responses); earlier models get them as parts beside it."""
    name = model.rsplit("/", 1)[-1]
    if not name.startswith("gemini-"):
        return False
    major = name.removeprefix("gemini-").split("-", 1)[0].split(".", 1)[0]
    return major.isdigit() and int(major) >= 3


def encode_messages(
    messages: Sequence[BaseMessage],
    reasoning: ReasoningReplay = NO_REPLAY,
    *,
    media_in_function_responses: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`(systemInstruction parts, contents)` for a LangChain conversation; earlier turns'
    reasoning goes back as `thought` parts where `reasoning` says so.

    Images and documents in tool results go inside their `functionResponse.parts` when
    `media_in_function_responses` (Gemini 3), else as parts of the same user turn after
    the function responses; media given by URL always go beside (`fileData`).
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, _CallRef] = {}
    last_calls: list[_CallRef] = []
    results: list[ToolMessage | FunctionMessage] = []

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    def flush_results() -> None:
        if results:
            add("user", _encode_results(results, calls, last_calls, media_in_function_responses))
            results.clear()

    for message in messages:
        if isinstance(message, ToolMessage | FunctionMessage):
            results.append(message)
            continue
        flush_results()
        if isinstance(message, SystemMessage) or (
            isinstance(message, ChatMessage) and message.role in ("system", "developer")
        ):
            system.extend(
                {"text": p.text} for p in content_parts(message.content) if isinstance(p, TextPart)
            )
        elif isinstance(message, AIMessage) or (
            isinstance(message, ChatMessage) and message.role in ("assistant", "model", "ai")
        ):
            parts, refs = _encode_model_turn(message, reasoning)
            for ref in refs:
                calls[ref.id] = ref
            last_calls = refs
            add("model", parts)
        elif isinstance(message, HumanMessage | ChatMessage):
            add("user", _encode_user_parts(message.content))
        else:
            raise ConfigurationError(f"cannot send a {type(message).__name__} to Gemini")
    flush_results()
    return system, contents


def _encode_user_parts(content: str | list[Any]) -> list[dict[str, Any]]:
    return _encode_parts(content_parts(content))


def _encode_parts(pieces: list[Part]) -> list[dict[str, Any]]:
    """Text, media and native Gemini parts, in order (reasoning is the caller's)."""
    parts: list[dict[str, Any]] = []
    for piece in pieces:
        if isinstance(piece, TextPart):
            parts.append({"text": piece.text})
        elif isinstance(piece, MediaPart):
            parts.append(encode_media(piece))
        elif isinstance(piece, OtherPart):
            native = _native_part(piece.block)
            if native is not None:
                parts.append(native)
    return parts


def _native_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """A block that is already a Gemini part passes through; other dialects' blocks
    (server tool results, citations, ...) mean nothing to Gemini and are left out."""
    if "type" not in block and _NATIVE_PART_KEYS.intersection(block):
        return block
    logger.debug("content block of type %r not sent to Gemini", block.get("type"))
    return None


def encode_media(part: MediaPart) -> dict[str, Any]:
    """`inlineData` for base64 data, `fileData` for a URI or a Files API id."""
    if part.data is not None:
        inline_mime = part.mime_type or _sniff_mime(part.data) or _DEFAULT_MIME[part.kind]
        return {"inlineData": {"mimeType": inline_mime, "data": part.data}}
    uri = part.url or part.file_id
    if not uri:
        raise ConfigurationError(f"a {part.kind} block has neither data nor a URL")
    file_data: dict[str, Any] = {"fileUri": uri}
    mime = part.mime_type or mimetypes.guess_type(uri.split("?", 1)[0])[0]
    if mime:
        file_data["mimeType"] = mime
    return {"fileData": file_data}


def _sniff_mime(data: str) -> str | None:
    for prefix, mime in _MAGIC:
        if data.startswith(prefix):
            return mime
    return None


def _encode_model_turn(
    message: AIMessage | ChatMessage, reasoning: ReasoningReplay
) -> tuple[list[dict[str, Any]], list[_CallRef]]:
    parts: list[dict[str, Any]] = []
    kwargs = message.additional_kwargs
    pieces = content_parts(message.content)
    has_calls = isinstance(message, AIMessage) and bool(
        message.tool_calls or message.invalid_tool_calls
    )
    if reasoning.when == "always" or (reasoning.when == "tool_calls" and has_calls):
        thoughts = [p.text for p in pieces if isinstance(p, ReasoningPart) and p.text]
        if not thoughts and kwargs.get("reasoning_content"):
            thoughts = [str(kwargs["reasoning_content"])]
        parts.extend({"text": text, "thought": True} for text in thoughts)
    parts.extend(_encode_parts(pieces))
    last_text = next((p for p in reversed(parts) if "text" in p and not p.get("thought")), None)

    refs: list[_CallRef] = []
    if isinstance(message, AIMessage):
        extras_by_id: dict[str, Any] = kwargs.get(TOOL_CALL_EXTRAS) or {}
        pending: list[tuple[str | None, str | None, dict[str, Any]]] = [
            (c["id"], c["name"], c["args"]) for c in message.tool_calls
        ]
        pending.extend(
            (c["id"], c["name"], _parse_invalid_args(c["args"])) for c in message.invalid_tool_calls
        )
        for call_id, name, args in pending:
            if not name:
                continue
            extras = extras_by_id.get(call_id or "") or {}
            function_call: dict[str, Any] = {"name": name, "args": args}
            from_model = bool(extras.get(NATIVE_ID)) and bool(call_id)
            if from_model:
                function_call["id"] = call_id
            part: dict[str, Any] = {"functionCall": function_call}
            signature = _signature(extras)
            if signature:
                part["thoughtSignature"] = signature
            parts.append(part)
            if call_id:
                refs.append(_CallRef(call_id, name, len(refs), from_model))

    signature = _signature(kwargs.get(EXTRA_CONTENT))
    if signature:
        if last_text is not None:
            last_text["thoughtSignature"] = signature
        else:
            parts.append({"text": "", "thoughtSignature": signature})
    return parts, refs


def _signature(extras: Any) -> str | None:
    """A thought signature from `{"google": {"thought_signature": ...}}`."""
    if not isinstance(extras, dict):
        return None
    google = extras.get(GOOGLE)
    if isinstance(google, dict):
        value = google.get(THOUGHT_SIGNATURE)
        if isinstance(value, str) and value:
            return value
    return None


def _parse_invalid_args(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _encode_results(
    results: list[ToolMessage | FunctionMessage],
    calls: dict[str, _CallRef],
    last_calls: list[_CallRef],
    media_inside: bool,
) -> list[dict[str, Any]]:
    """`functionResponse` parts for a run of tool results, in the order of their calls,
    then the media that do not go inside them (see `encode_messages`)."""
    beside: list[dict[str, Any]] = []
    claimed = {id(ref) for ref in (calls.get(_result_id(m)) for m in results) if ref}
    unclaimed = iter([ref for ref in last_calls if id(ref) not in claimed])
    ordered: list[tuple[int, int, dict[str, Any]]] = []
    for arrival, message in enumerate(results):
        ref = calls.get(_result_id(message))
        if ref is None and isinstance(message, ToolMessage):
            ref = next(unclaimed, None)  # an unknown id: pair by position
        name = ref.name if ref is not None else message.name
        if not name:
            raise ConfigurationError(
                f"cannot send the result of tool call {_result_id(message)!r} to Gemini: no "
                "earlier AI message has that call, and Gemini pairs results with calls by "
                "function name (set ToolMessage.name)"
            )
        text, media = tool_result_parts(message.content)
        failed = isinstance(message, ToolMessage) and message.status == "error"
        response: dict[str, Any] = {"name": name, "response": _tool_response(text, failed)}
        if ref is not None and ref.native:
            response = {"id": ref.id, **response}
        inside = [encode_media(p) for p in media if media_inside and p.data is not None]
        if inside:
            response["parts"] = inside
        beside.extend(encode_media(p) for p in media if not media_inside or p.data is None)
        position = ref.position if ref is not None else len(last_calls) + arrival
        ordered.append((position, arrival, {"functionResponse": response}))
    ordered.sort(key=lambda item: (item[0], item[1]))
    return [part for _, _, part in ordered] + beside


def _result_id(message: ToolMessage | FunctionMessage) -> str:
    return message.tool_call_id if isinstance(message, ToolMessage) else ""


def _tool_response(text: str, failed: bool) -> dict[str, Any]:
    """The tool result as the JSON object Gemini wants: a JSON object result as is,
    anything else wrapped as `{"output": ...}` (`{"error": ...}` for a failed tool)."""
    value: Any = text
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, dict) and not failed:
            return value
    return {"error" if failed else "output": value}


# --- response decoding ------------------------------------------------------------------


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _name_of(value: Any, numbers: dict[int, str]) -> str | None:
    if value is None or value == 0 or value == "FINISH_REASON_UNSPECIFIED":
        return None
    if isinstance(value, int):
        return numbers.get(value, str(value))
    return str(value)


def decode_usage(usage: dict[str, Any]) -> Usage | None:
    """Token usage from `usageMetadata`; `None` when it carries no token counts."""
    prompt = _get(usage, "promptTokenCount", "prompt_token_count")
    candidates = _get(usage, "candidatesTokenCount", "candidates_token_count")
    thoughts = _get(usage, "thoughtsTokenCount", "thoughts_token_count")
    tool_prompt = _get(usage, "toolUsePromptTokenCount", "tool_use_prompt_token_count")
    cached = _get(usage, "cachedContentTokenCount", "cached_content_token_count")
    total = _get(usage, "totalTokenCount", "total_token_count")
    if prompt is None and candidates is None and thoughts is None and total is None:
        return None
    thoughts = token_count(thoughts)
    return Usage(
        input_tokens=(token_count(prompt) or 0) + (token_count(tool_prompt) or 0),
        output_tokens=(token_count(candidates) or 0) + (thoughts or 0),
        total_tokens=token_count(total),
        cache_read=token_count(cached),
        reasoning=thoughts,
    )


class _StreamedCall:
    """A call whose arguments arrive as `partialArgs` (Vertex AI)."""

    __slots__ = ("args", "continuing", "key")

    def __init__(self, key: int, args: Any) -> None:
        self.key = key
        self.args: dict[str, Any] = dict(args) if isinstance(args, dict) else {}
        self.continuing: str | None = None

    def apply(self, partial_args: list[Any]) -> None:
        for arg in partial_args:
            if not isinstance(arg, dict):
                continue
            path = _get(arg, "jsonPath", "json_path")
            if not isinstance(path, str):
                continue
            tokens = _parse_json_path(path)
            if not tokens:
                continue
            value: Any
            text = _get(arg, "stringValue", "string_value")
            if text is not None:
                value = str(text)
            elif _get(arg, "numberValue", "number_value") is not None:
                value = _number(_get(arg, "numberValue", "number_value"))
            elif _get(arg, "boolValue", "bool_value") is not None:
                value = bool(_get(arg, "boolValue", "bool_value"))
            elif _get(arg, "nullValue", "null_value") is not None:
                value = None
            else:
                continue
            _set_path(self.args, tokens, value, append=self.continuing == path)
            self.continuing = path if _get(arg, "willContinue", "will_continue") else None


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _parse_json_path(path: str) -> list[str | int]:
    """`$.a.b[0]['c d']` -> `["a", "b", 0, "c d"]` (the RFC 9535 forms Gemini uses)."""
    if not path.startswith("$"):
        return []
    tokens: list[str | int] = []
    i, n = 1, len(path)
    while i < n:
        char = path[i]
        if char == ".":
            end = i + 1
            while end < n and path[end] not in ".[":
                end += 1
            tokens.append(path[i + 1 : end])
            i = end
        elif char == "[":
            end = path.find("]", i)
            if end < 0:
                return []
            inner = path[i + 1 : end].strip()
            if inner[:1] in ("'", '"') and inner[-1:] == inner[:1]:
                tokens.append(inner[1:-1])
            elif inner.isdigit():
                tokens.append(int(inner))
            else:
                return []
            i = end + 1
        else:
            return []
    return tokens


def _set_path(root: dict[str, Any], tokens: list[str | int], value: Any, *, append: bool) -> None:
    target: Any = root
    for token, following in itertools.pairwise(tokens):
        child = _child(target, token)
        if not isinstance(child, dict | list):
            child = [] if isinstance(following, int) else {}
            _put(target, token, child)
        target = child
    last = tokens[-1]
    known = _child(target, last)
    if append and isinstance(known, str) and isinstance(value, str):
        value = known + value
    _put(target, last, value)


def _child(container: Any, token: str | int) -> Any:
    if isinstance(container, dict) and isinstance(token, str):
        return container.get(token)
    if isinstance(container, list) and isinstance(token, int) and token < len(container):
        return container[token]
    return None


def _put(container: Any, token: str | int, value: Any) -> None:
    if isinstance(container, dict) and isinstance(token, str):
        container[token] = value
    elif isinstance(container, list) and isinstance(token, int):
        container.extend([None] * (token + 1 - len(container)))
        container[token] = value


class GeminiStreamDecoder(FrameDecoder):
    """Decodes one Gemini response: streamed (`feed`/`close`) or whole (`decode_chunk`)."""

    __slots__ = (
        "_calls",
        "_done_marker",
        "_finish",
        "_framer",
        "_info",
        "_open_call",
        "_signatures",
        "_started",
        "_usage",
        "tools",
    )

    def __init__(self) -> None:
        self.tools = ToolCallAssembler()
        self._framer: JSONArrayFramer | None = None
        self._started = False
        self._done_marker = False
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._info = ResponseInfo()
        self._signatures: list[str] = []
        self._calls = 0
        self._open_call: _StreamedCall | None = None

    def new_framer(self, content_type: str) -> Framer:
        framer = framer_for(content_type, JSONArrayFramer)  # JSON: no `alt=sse`
        if isinstance(framer, JSONArrayFramer):
            self._framer = framer
        return framer

    @property
    def ending(self) -> str:
        if self._framer is not None and self._framer.complete:
            return "the end of the JSON array"
        return "finishReason" if self._finish is not None else "nothing"

    def decode_frames(self, frames: list[Frame], out: list[StreamEvent]) -> None:
        for frame in frames:
            data = frame.data
            if not data:
                continue
            try:
                chunk = json.loads(data)
            except ValueError as exc:
                if data.strip() == "[DONE]":  # proxies that speak OpenAI's terminator
                    self._done_marker = True
                    continue
                if frame.event == "error":
                    raise stream_error(data) from None
                raise invalid_json(frame, exc) from None
            if not isinstance(chunk, dict):
                raise InvalidStreamDataError("a stream frame is not a JSON object", data=data)
            if "error" in chunk or frame.event == "error":
                raise stream_error(chunk)
            self.decode_chunk(chunk, out)

    def close(self) -> list[StreamEvent]:
        framer = self._framer
        if framer is not None and framer.started and not framer.complete:
            raise StreamCutError("the JSON array body ended before its closing ']'")
        if not self._started:
            raise StreamCutError("the stream ended without sending a single chunk")
        ended = self._done_marker or (framer is not None and framer.complete)
        if self._finish is None and not ended:
            raise StreamCutError(
                "the stream ended before a finishReason (a Gemini stream has no other end marker)"
            )
        return self.close_into([])

    def decode_body(self, body: Any, out: list[StreamEvent]) -> None:
        """A `generateContent` body (or a whole streamed JSON array)."""
        for chunk in body if isinstance(body, list) else [body]:
            if not isinstance(chunk, dict):
                raise InvalidStreamDataError("expected a JSON object", data=json.dumps(body))
            if "error" in chunk:
                raise stream_error(chunk)
            self.decode_chunk(chunk, out)

    def close_into(self, out: list[StreamEvent]) -> list[StreamEvent]:
        """Append the final events: pending calls, usage, signatures, info, finish."""
        self._end_calls(out)
        if self._usage is not None:
            usage = decode_usage(self._usage)
            if usage is not None:
                out.append(usage)
        if self._signatures:
            state = {GOOGLE: {THOUGHT_SIGNATURE: self._signatures[0]}}
            out.append(ProviderState(EXTRA_CONTENT, state))
        out.append(self._info)
        finish = normalize_finish(self._finish, self.tools.calls_seen > 0, FINISH_REASONS)
        if finish is not None:
            out.append(finish)
        return out

    def decode_chunk(self, chunk: dict[str, Any], out: list[StreamEvent]) -> None:
        """Decode one response chunk (or a whole response) into `out`."""
        info = self._info
        model = _get(chunk, "modelVersion", "model_version")
        if not self._started:
            self._started = True
            info.id = _get(chunk, "responseId", "response_id") or None
            info.model = model or None
            out.append(ResponseInfo(info.id, info.model))
        elif model:
            info.model = model
        feedback = _get(chunk, "promptFeedback", "prompt_feedback")
        if isinstance(feedback, dict):
            reason = _name_of(_get(feedback, "blockReason", "block_reason"), _BLOCK_NUMBERS)
            if reason is not None:
                message = _get(feedback, "blockReasonMessage", "block_reason_message")
                raise ContentBlockedError(
                    block_reason=reason,
                    message=message,
                    payload=chunk,
                    hint="Change the input, or relax the filters with "
                    "model_kwargs={'safetySettings': [...]}",
                )
        usage = _get(chunk, "usageMetadata", "usage_metadata")
        if usage:
            self._usage = usage
        for candidate in chunk.get("candidates") or ():
            if candidate.get("index") not in (None, 0):
                continue  # candidateCount is 1; any other candidate is not read
            content = candidate.get("content")
            if content:
                parts = content.get("parts")
                if parts:
                    self._decode_parts(parts, out)
            reason = _name_of(_get(candidate, "finishReason", "finish_reason"), _FINISH_NUMBERS)
            if reason is not None:
                self._finish = reason
                message = _get(candidate, "finishMessage", "finish_message")
                if message:
                    info.extra["finish_message"] = message
                if reason in _TOOL_FAILURES:
                    logger.warning("Gemini finished with %s: %s", reason, message or "")
                self._end_calls(out)

    def _decode_parts(self, parts: list[Any], out: list[StreamEvent]) -> None:
        for part in parts:
            signature = part.get("thoughtSignature") or part.get("thought_signature")
            call = part.get("functionCall")
            if call is None:
                call = part.get("function_call")
            if call is not None:
                self._function_call(call, signature, out)
                continue
            text = part.get("text")
            if text:
                if not isinstance(text, str):
                    raise not_text("text", text)
                out.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
            if signature:
                self._signatures.append(signature)

    def _function_call(
        self, call: dict[str, Any], signature: str | None, out: list[StreamEvent]
    ) -> None:
        name = call.get("name") or None
        partial = _get(call, "partialArgs", "partial_args")
        more = bool(_get(call, "willContinue", "will_continue"))
        args = call.get("args")
        streamed = self._open_call
        if streamed is not None:
            if name is None:  # the open call continues (or ends, without willContinue)
                if isinstance(args, dict):
                    streamed.args.update(args)
                if partial:
                    streamed.apply(partial)
                if not more:
                    self._end_streamed_call(out)
                return
            self._end_streamed_call(out)  # a new call starts while one is open
        if name is None and not partial and args is None:
            return  # an empty end marker with no call open
        key = self._calls
        self._calls += 1
        call_id = call.get("id") or None
        extras: dict[str, Any] | None = None
        if signature or call_id:
            extras = {}
            if signature:
                extras[GOOGLE] = {THOUGHT_SIGNATURE: signature}
            if call_id:
                extras[NATIVE_ID] = True
        if more or partial:
            streamed = self._open_call = _StreamedCall(key, args)
            if partial:
                streamed.apply(partial)
            self.tools.add(out, key=key, id=call_id, name=name, args="", extras=extras)
            if not more:
                self._end_streamed_call(out)
            return
        text = "" if args is None else json.dumps(args, ensure_ascii=False)
        self.tools.add(out, key=key, id=call_id, name=name, args=text, extras=extras)
        self.tools.complete(out, key)

    def _end_streamed_call(self, out: list[StreamEvent]) -> None:
        streamed = self._open_call
        if streamed is None:
            return
        self._open_call = None
        text = json.dumps(streamed.args, ensure_ascii=False)
        self.tools.add(out, key=streamed.key, id=None, name=None, args=text)
        self.tools.complete(out, streamed.key)

    def _end_calls(self, out: list[StreamEvent]) -> None:
        self._end_streamed_call(out)
        self.tools.finish(out)


__all__ = [
    "GeminiProtocol",
    "GeminiStreamDecoder",
    "decode_usage",
    "encode_messages",
    "encode_tool_choice",
    "encode_tools",
]
