"""OpenAI Responses API (`POST /responses`): OpenAI, Azure, and servers that copy it.

Requests are stateless: `store: false`, the whole conversation in `input` every turn, and
`include: ["reasoning.encrypted_content"]`, so that the reasoning items of one answer can
be sent back on the next turn (OpenAI needs them, with their encrypted content, to carry
a reasoning model's state across tool calls). Passing `store=True` in `model_kwargs`
turns the request stateful again and drops the `include`; anything in `model_kwargs`
wins, as for every format. The Responses API has no `stop`, `seed` or `top_k`: those are
dropped with a DEBUG log.

What an answer leaves for the next turn, in the `AIMessage`:

- `additional_kwargs["response_items"]`: every output item that is not a function call
  (reasoning items with `id`, `summary` and `encrypted_content`; built-in tool calls such
  as `web_search_call`; the message items with their ids and `phase`), whole, in output
  order. OpenAI pairs a reasoning item with the item after it by id, so the message items
  go back as they came while the message's text is theirs (edited text goes as a new
  message);
- `additional_kwargs["tool_call_extras"][call_id]["responses"]["item_id"]`: the function
  call's own item id (`fc_...`); the calls follow the kept items.

Both go back only to the provider that produced them, in this format. Calls last matches
every output order seen (reasoning -> [built-in calls, reasoning] -> message -> calls).

Decoding follows what real servers send (`tests/conformance`):

- items are keyed by `output_index`: GitHub Copilot rotates `item_id` on every event,
  so it is only a fallback, for servers that omit `output_index` (llama.cpp);
- arguments may arrive only in `function_call_arguments.done` or the finished item (LM
  Studio), text only in the finished item (a whole response): what no delta carried is
  taken from there, so streamed and whole answers decode to the same events;
- reasoning as summary parts (OpenAI, Azure), raw `reasoning_text` (DeepSeek, LM Studio)
  or neither (only `encrypted_content`); summary parts of one item are joined with a
  blank line;
- a stream ends with `response.completed`, `response.incomplete` (finish `length` or
  `content_filter`) or `response.failed`; `response.failed` and `error` events raise
  `StreamErrorEvent`, and a stream without any of them raises `StreamCutError`;
- event types this client does not use (`web_search_call.*`, `mcp_*`, annotations,
  ...) are skipped; there is no `[DONE]`, and one is ignored if a server sends it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
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
    json_object_frame,
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
from langchain_bhumi.core.tool_ids import ToolIdMap, ToolIdRule
from langchain_bhumi.core.toolcalls import ToolCallAssembler
from langchain_bhumi.protocols.base import (
    TOOL_CALL_EXTRAS,
    ChatProtocol,
    ChatRequest,
    ToolChoice,
    invalid_call_arguments,
)
from langchain_bhumi.protocols.content import (
    MediaPart,
    OtherPart,
    Part,
    TextPart,
    content_parts,
    text_of,
    tool_result_parts,
)

logger = logging.getLogger("langchain_bhumi")

RESPONSE_ITEMS = "response_items"
"""`additional_kwargs` key: output items other than function calls, sent back whole."""
EXTRAS_KEY = "responses"
"""Key of this format's data in a call's `tool_call_extras` entry (`{"item_id": "fc_..."}`)."""
ANNOTATIONS = "annotations"
"""`additional_kwargs` key: the answer's citations (`url_citation`, `file_citation`, ...)."""
ENCRYPTED_REASONING = "reasoning.encrypted_content"

INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
FINISH_REASONS = {"completed": "stop", **INCOMPLETE_REASONS}
REASONING_SEPARATOR = "\n\n"

TOOL_IDS = ToolIdRule(max_length=64)
"""OpenAI refuses a `call_id` that is empty or longer than 64 characters (400
`empty_string`, `string_above_max_length`) and documents no alphabet: other providers'
longer ids (Kimi's `functions.<tool name>:0`, router-made ids) are rewritten, the same way
on the `function_call` and on its `function_call_output`."""


class OpenAIResponsesProtocol(ChatProtocol):
    """The Responses format, client direction."""

    name = "openai_responses"
    tool_ids = TOOL_IDS

    def path(self, model: str, *, stream: bool) -> str:
        return "/responses"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def encode_request(self, request: ChatRequest) -> dict[str, Any]:
        ids = ToolIdMap(request.tool_ids or self.tool_ids)
        instructions, items = encode_input(request.messages, request.provider, ids)
        body: dict[str, Any] = {"model": request.model}
        if instructions is not None:
            body["instructions"] = instructions
        body["input"] = items
        if request.stream:
            body["stream"] = True
        body["store"] = False
        if request.tools:
            body["tools"] = [encode_tool(tool) for tool in request.tools]
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.tool_choice is not None:
            body["tool_choice"] = encode_tool_choice(request.tool_choice)
        if request.response_format is not None:
            body["text"] = {"format": encode_text_format(request.response_format)}
        if request.reasoning_effort is not None:
            body["reasoning"] = encode_reasoning(request.reasoning_effort)
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("max_output_tokens", request.max_tokens),
        ):
            if value is not None:
                body[key] = value
        _log_unsupported(request)
        body.update(request.extra_body)
        if not body["store"]:
            body["include"] = _merged_include(request.extra_body.get("include"))
        return body

    def stream_decoder(self) -> OpenAIResponsesStreamDecoder:
        return OpenAIResponsesStreamDecoder()


# --- request encoding -------------------------------------------------------------------


def _log_unsupported(request: ChatRequest) -> None:
    for field, value in (
        ("stop", request.stop),
        ("seed", request.seed),
        ("top_k", request.top_k),
        ("thinking_budget", request.thinking_budget),
    ):
        if value is not None:
            logger.debug(
                "openai_responses: the Responses API has no %s; not sent: %r", field, value
            )


def _merged_include(extra: Any) -> list[Any]:
    """`reasoning.encrypted_content` plus whatever the caller asked to include."""
    include: list[Any] = [ENCRYPTED_REASONING]
    if isinstance(extra, list):
        include.extend(value for value in extra if value != ENCRYPTED_REASONING)
    return include


def encode_reasoning(effort: str) -> dict[str, Any]:
    """`reasoning`: the effort, and summaries (`"auto"`) unless reasoning is turned off."""
    reasoning: dict[str, Any] = {"effort": effort}
    if effort != "none":
        reasoning["summary"] = "auto"
    return reasoning


def encode_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A chat-completions function tool in the Responses (flat) shape; others as they are.

    Example:
        ```python
        encode_tool({"type": "function", "function": {"name": "f", "parameters": {}}})
        # {"type": "function", "name": "f", "parameters": {}}
        encode_tool({"type": "web_search"})
        # {"type": "web_search"}
        ```
    """
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        return tool
    flat: dict[str, Any] = {"type": "function", "name": function.get("name", "")}
    for key in ("description", "parameters", "strict"):
        if key in function:
            flat[key] = function[key]
    flat.setdefault("parameters", {"type": "object", "properties": {}})
    return flat


def encode_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    """`auto`/`none`/`required` (`any` means `required`), a tool name as
    `{"type": "function", "name": ...}`; a chat-completions dict is flattened, and any
    other dict (a built-in tool, `allowed_tools`) is sent as is."""
    if isinstance(choice, dict):
        function = choice.get("function")
        if choice.get("type") == "function" and isinstance(function, dict):
            return {"type": "function", "name": function.get("name", "")}
        return choice
    if choice in ("auto", "none", "required"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "name": choice}


def encode_text_format(response_format: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat `response_format` as a Responses `text.format` (flat `json_schema`).

    Example:
        ```python
        encode_text_format(
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {}, "strict": True}}
        )
        # {"type": "json_schema", "name": "a", "schema": {}, "strict": True}
        ```
    """
    nested = response_format.get("json_schema")
    if response_format.get("type") != "json_schema" or not isinstance(nested, dict):
        return response_format  # json_object, text, or already flat
    flat: dict[str, Any] = {"type": "json_schema", "name": nested.get("name", "response")}
    for key in ("description", "schema", "strict"):
        if key in nested:
            flat[key] = nested[key]
    return flat


def encode_input(
    messages: Sequence[BaseMessage], provider: str | None = None, ids: ToolIdMap | None = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """`(instructions, input items)` for a conversation.

    System messages before the first other message become `instructions` (joined by a
    blank line); later ones stay in place as `system` messages. `provider` is the
    registry name the request goes to: output items and item ids kept on assistant
    messages are sent back only to the provider that produced them. Call ids, on calls
    and results alike, pass through `ids` (default: this format's rule, `TOOL_IDS`).
    """
    ids = ids or ToolIdMap(TOOL_IDS)
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage) and not items:
            instructions.append(text_of(message.content))
        else:
            items.extend(encode_message(message, provider, ids))
    return ("\n\n".join(instructions) if instructions else None), items


def encode_message(
    message: BaseMessage, provider: str | None = None, ids: ToolIdMap | None = None
) -> list[dict[str, Any]]:
    """One LangChain message as Responses input items (an assistant turn may be several);
    call ids pass through `ids` (one map per request, so each output finds its call)."""
    ids = ids or ToolIdMap(TOOL_IDS)
    if isinstance(message, AIMessage):
        return _encode_assistant(message, provider, ids)
    if isinstance(message, ToolMessage):
        return [_encode_tool_result(message, ids)]
    if isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, SystemMessage):
        role = "system"
    elif isinstance(message, ChatMessage):
        role = message.role
    elif isinstance(message, FunctionMessage):
        raise ConfigurationError(
            "the Responses API has no legacy function messages; use ToolMessage with the "
            "call's tool_call_id"
        )
    else:
        raise ConfigurationError(f"cannot send a {type(message).__name__} to a chat model")
    return [{"type": "message", "role": role, "content": _encode_content(message.content)}]


def _encode_content(content: str | list[Any]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts = content_parts(content)
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return [encoded for part in parts if (encoded := _encode_part(part)) is not None]


def _encode_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, MediaPart):
        return _encode_media(part)
    if isinstance(part, OtherPart):
        return part.block  # a native block (input_text, input_image, ...) or the caller's
    return None  # reasoning in a user turn means nothing here


def _encode_media(part: MediaPart) -> dict[str, Any]:
    if part.kind == "image":
        image: dict[str, Any] = {"type": "input_image", "detail": part.detail or "auto"}
        if part.file_id:
            image["file_id"] = part.file_id
        else:
            image["image_url"] = part.data_url() or ""
        return image
    if part.kind == "file":
        file: dict[str, Any] = {"type": "input_file"}
        if part.file_id:
            file["file_id"] = part.file_id
        elif part.data is not None:
            file["file_data"] = part.data_url()
            file["filename"] = part.filename or "document.pdf"
        else:
            file["file_url"] = part.url or ""
        return file
    raise ConfigurationError(f"the Responses API cannot take {part.kind} input")


def _encode_tool_result(message: ToolMessage, ids: ToolIdMap) -> dict[str, Any]:
    """A `function_call_output`: a string, or parts when the tool returned images/files."""
    content = message.content
    output: str | list[dict[str, Any]]
    parts = content_parts(content) if isinstance(content, list) else []
    if any(isinstance(p, MediaPart) for p in parts):
        output = [_tool_output_part(part) for part in parts]
    else:
        output = tool_result_parts(content)[0]
    return {"type": "function_call_output", "call_id": ids(message.tool_call_id), "output": output}


def _tool_output_part(part: Part) -> dict[str, Any]:
    if isinstance(part, MediaPart):
        return _encode_media(part)
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    block = part.block if isinstance(part, OtherPart) else {"text": part.text}
    return {"type": "input_text", "text": json.dumps(block, ensure_ascii=False)}


def _encode_assistant(
    message: AIMessage, provider: str | None, ids: ToolIdMap
) -> list[dict[str, Any]]:
    """The answer's kept output items (reasoning, built-in calls, its message items with
    their ids), then its function calls.

    The kept message items go back as they came (ids, `phase`, the split between items)
    while their text is the message's text; when the text was changed, or nothing was
    kept, the text goes as one new `output_text` message instead. Reasoning items that
    nothing follows (an answer cut off while reasoning) are left out: the API rejects them.
    """
    kwargs = message.additional_kwargs
    own = _own_state(message, provider)
    kept = kwargs.get(RESPONSE_ITEMS) if own else None
    items = [item for item in kept if isinstance(item, dict)] if isinstance(kept, list) else []
    text = "".join(p.text for p in content_parts(message.content) if isinstance(p, TextPart))
    if _message_text(items) != text:
        items = [item for item in items if item.get("type") != "message"]
        if text:
            content = [{"type": "output_text", "text": text, "annotations": []}]
            items.append({"type": "message", "role": "assistant", "content": content})
    extras: dict[str, Any] = (kwargs.get(TOOL_CALL_EXTRAS) or {}) if own else {}
    for call in message.tool_calls:
        arguments = json.dumps(call["args"], ensure_ascii=False)
        items.append(_encode_call(call["id"], call["name"], arguments, extras, ids))
    for invalid in message.invalid_tool_calls:
        arguments = invalid_call_arguments(message, invalid)
        items.append(_encode_call(invalid["id"], invalid["name"], arguments, extras, ids))
    while items and items[-1].get("type") == "reasoning":
        logger.debug(
            "openai_responses: dropped reasoning item %s that no item follows", items[-1].get("id")
        )
        items.pop()
    return items


def _own_state(message: AIMessage, provider: str | None) -> bool:
    """Whether `message` came from this format and `provider` (or says nothing of either):
    only then do its kept items and item ids mean anything to the server."""
    metadata = message.response_metadata
    return metadata.get("wire_format") in (None, OpenAIResponsesProtocol.name) and (
        provider is None or metadata.get("provider") in (None, provider)
    )


def _message_text(items: list[dict[str, Any]]) -> str:
    """The `output_text` of the message items among `items`, joined."""
    return "".join(
        part.get("text") or ""
        for item in items
        if item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "output_text"
    )


def _encode_call(
    call_id: str | None,
    name: str | None,
    arguments: str,
    extras: dict[str, Any],
    ids: ToolIdMap,
) -> dict[str, Any]:
    """A `function_call` item under the id `ids` gives it; its own item id (`fc_...`) is
    found in `extras` by the call's original id."""
    item: dict[str, Any] = {
        "type": "function_call",
        "call_id": ids(call_id),
        "name": name or "",
        "arguments": arguments,
    }
    own = (extras.get(call_id or "") or {}).get(EXTRAS_KEY) or {}
    if own.get("item_id"):
        item["id"] = own["item_id"]
    return item


# --- response decoding ------------------------------------------------------------------


def decode_usage(usage: dict[str, Any]) -> Usage:
    """Token usage; `input_tokens` includes cached ones, `output_tokens` reasoning ones."""
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise TypeError("usage details must be objects")
    return Usage(
        input_tokens=token_count(usage.get("input_tokens")) or 0,
        output_tokens=token_count(usage.get("output_tokens")) or 0,
        total_tokens=token_count(usage.get("total_tokens")),
        cache_read=token_count(inputs.get("cached_tokens")),
        cache_creation=token_count(inputs.get("cache_write_tokens")),
        reasoning=token_count(outputs.get("reasoning_tokens")),
    )


def _text(event: dict[str, Any], field: str) -> str | None:
    """A text field of an event or item: its string, or `None` when absent or empty; any
    other type is a frame of an unexpected shape."""
    value = event.get(field)
    if value is None or isinstance(value, str):
        return value or None
    raise not_text(field, value)


Handler = Callable[["OpenAIResponsesStreamDecoder", dict[str, Any], list[StreamEvent]], None]


class OpenAIResponsesStreamDecoder(FrameDecoder):
    """Decodes one Responses answer: streamed (`feed`/`close`) or whole (`decode_body`)."""

    __slots__ = (
        "_annotations",
        "_args_seen",
        "_by_item_id",
        "_calls",
        "_finish",
        "_info",
        "_items",
        "_last_key",
        "_open",
        "_reasoning",
        "_seen",
        "_started",
        "_status",
        "_texted",
        "_usage",
        "tools",
    )

    def __init__(self) -> None:
        self.tools = ToolCallAssembler()
        self._started = False
        self._status: str | None = None
        self._finish: str | None = None  # the native reason: "completed" or why incomplete
        self._usage: dict[str, Any] | None = None
        self._info = ResponseInfo()
        self._seen: set[int] = set()
        self._by_item_id: dict[str, int] = {}
        self._last_key = 0
        self._open: int | None = None
        self._texted: set[int] = set()
        self._reasoning: dict[int, tuple[str, int]] = {}
        self._calls: set[int] = set()
        self._args_seen: set[int] = set()
        self._items: dict[int, dict[str, Any]] = {}
        self._annotations: list[Any] = []

    def new_framer(self, content_type: str) -> Framer:
        # JSON: a whole response (the server ignored "stream").
        return framer_for(content_type, WholeBodyFramer)

    @property
    def ending(self) -> str:
        return f"response.{self._status}" if self._status else "nothing"

    # --- frames ----------------------------------------------------------------------

    def decode_frames(self, frames: list[Frame], out: list[StreamEvent]) -> None:
        handlers = _HANDLERS
        for frame in frames:
            if not frame.data or self._status is not None:
                continue
            event = json_object_frame(frame, done_marker=True)
            if event is None:
                continue
            self._started = True
            if frame.event == WHOLE_BODY:
                self.decode_body(event, out)
                continue
            kind = event.get("type") or frame.event
            handler = handlers.get(kind)
            if handler is not None:
                handler(self, event, out)
            elif event.get("error") and "response" not in event:
                raise stream_error(event, failed=event)  # an error object without a `type`

    def decode_body(self, body: Any, out: list[StreamEvent]) -> None:
        """Decode a whole Response object: its output items in order, then its status."""
        if not isinstance(body, dict):
            raise InvalidStreamDataError("expected a JSON object", data=json.dumps(body))
        response: dict[str, Any] = body
        if response.get("error") and not response.get("output"):
            raise stream_error(response, failed=response)
        self._started = True
        self._lifecycle({"response": response}, out)
        for key, item in enumerate(response.get("output") or ()):
            if isinstance(item, dict):
                self._seen.add(key)
                self._item_done(key, item, out)
        self._terminal(response, response.get("status") or "completed")

    def close(self) -> list[StreamEvent]:
        if self._status is None:
            raise StreamCutError(
                "the stream ended before response.completed, response.incomplete or response.failed"
                if self._started
                else "the stream ended without sending a single event"
            )
        return self.close_into([])

    def close_into(self, out: list[StreamEvent]) -> list[StreamEvent]:
        """The final events: pending calls, usage, kept items, identity and finish."""
        self.tools.finish(out)
        if self._usage is not None:
            out.append(decode_usage(self._usage))
        if self._items:
            out.append(ProviderState(RESPONSE_ITEMS, [self._items[k] for k in sorted(self._items)]))
        if self._annotations:
            out.append(ProviderState(ANNOTATIONS, self._annotations))
        out.append(self._info)
        if self._finish is not None:
            finish = normalize_finish(self._finish, self.tools.calls_seen > 0, FINISH_REASONS)
            if finish is not None:
                out.append(finish)
        return out

    # --- keys: output_index first; item ids only for servers that send no index ------

    def _key(self, event: dict[str, Any]) -> int:
        index = event.get("output_index")
        if isinstance(index, int):
            return index
        item_id = event.get("item_id")
        if item_id is not None:
            key = self._by_item_id.get(item_id)
            if key is not None:
                return key
        return self._last_key

    def _item_key(self, event: dict[str, Any], item: dict[str, Any], *, added: bool) -> int:
        """The key of an added or finished item: its `output_index`; without one, the key
        its id was given when added, else (no id) the item still open, else a new key."""
        index = event.get("output_index")
        item_id = item.get("id")
        if isinstance(index, int):
            key = index
        else:
            known = self._by_item_id.get(item_id) if isinstance(item_id, str) else None
            if known is not None:
                key = known
            elif not added and self._open is not None:
                key = self._open
            else:
                key = len(self._seen)
        if isinstance(item_id, str):
            self._by_item_id[item_id] = key
        self._seen.add(key)
        self._last_key = key
        self._open = key if added else None
        return key

    # --- event handlers (dispatched by `type` through `_HANDLERS`) -------------------

    def _text_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = event.get("output_index")
        if not isinstance(key, int):
            key = self._key(event)
        delta = _text(event, "delta")
        if delta:
            out.append(TextDelta(delta, key))
            self._texted.add(key)

    def _args_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = self._key(event)
        delta = _text(event, "delta")
        if delta:
            self.tools.add(out, key=key, id=None, name=None, args=delta)
            self._args_seen.add(key)

    def _summary_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        self._reasoning_piece(event, "summary", event.get("summary_index", 0), out)

    def _reasoning_text_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        self._reasoning_piece(event, "content", event.get("content_index", 0), out)

    def _reasoning_piece(
        self, event: dict[str, Any], kind: str, part: Any, out: list[StreamEvent]
    ) -> None:
        text = _text(event, "delta")
        if text:
            self._reasoning_text(self._key(event), (kind, part), text, out)

    def _reasoning_text(
        self, key: int, part: tuple[str, int], text: str, out: list[StreamEvent]
    ) -> None:
        last = self._reasoning.get(key)
        if last is not None and last != part:
            out.append(ReasoningDelta(REASONING_SEPARATOR, key))
        self._reasoning[key] = part
        out.append(ReasoningDelta(text, key))

    def _reasoning_part_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        """`reasoning_summary_text.done` / `reasoning_text.done`: the text, if no delta did."""
        key = self._key(event)
        summary = event.get("type") == "response.reasoning_summary_text.done"
        part = (
            ("summary", event.get("summary_index", 0))
            if summary
            else ("content", event.get("content_index", 0))
        )
        text = _text(event, "text")
        if text and self._reasoning.get(key) != part:
            self._reasoning_text(key, part, text, out)

    def _refusal_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        delta = _text(event, "delta")
        if delta:
            out.append(RefusalDelta(delta))
            self._texted.add(self._key(event))

    def _text_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        """`output_text.done` / `refusal.done`: the text, if no delta carried it."""
        key = self._key(event)
        if key in self._texted:
            return
        if event.get("type") == "response.refusal.done":
            refusal = _text(event, "refusal")
            if refusal:
                out.append(RefusalDelta(refusal))
                self._texted.add(key)
        else:
            text = _text(event, "text")
            if text:
                out.append(TextDelta(text, key))
                self._texted.add(key)

    def _args_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = self._key(event)
        arguments = event.get("arguments")
        if key not in self._args_seen and isinstance(arguments, str) and arguments:
            self.tools.add(out, key=key, id=None, name=None, args=arguments)
            self._args_seen.add(key)

    def _item_added(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            return
        key = self._item_key(event, item, added=True)
        if item.get("type") == "function_call":
            self._start_call(key, item, out)

    def _item_done_event(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        item = event.get("item")
        if isinstance(item, dict):
            self._item_done(self._item_key(event, item, added=False), item, out)

    def _lifecycle(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        """`response.created` / `in_progress` / `queued`: the response id and model."""
        response = event.get("response")
        if not isinstance(response, dict):
            return
        info = self._info
        response_id = _text(response, "id")
        model = _text(response, "model")
        if info.id is None and response_id:
            info.id = response_id
            out.append(ResponseInfo(response_id, model))
        if model:
            info.model = model

    def _completed(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        response = event.get("response")
        response = response if isinstance(response, dict) else {}
        self._lifecycle({"response": response}, out)
        self._reconcile(response, out)
        status = event.get("type", "response.completed").rpartition(".")[2]
        self._terminal(response, status)

    def _failed(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        response = event.get("response")
        raise stream_error(event, failed=response if isinstance(response, dict) else event)

    # --- items -----------------------------------------------------------------------

    def _start_call(self, key: int, item: dict[str, Any], out: list[StreamEvent]) -> None:
        self._calls.add(key)
        arguments = item.get("arguments")
        args = arguments if isinstance(arguments, str) and arguments else None
        if args is not None:
            self._args_seen.add(key)
        self.tools.add(
            out,
            key=key,
            id=_text(item, "call_id"),
            name=_text(item, "name"),
            args=args,
            extras=_call_extras(item),
        )

    def _item_done(self, key: int, item: dict[str, Any], out: list[StreamEvent]) -> None:
        """A finished output item: whatever no delta carried, and what is kept for replay."""
        kind = item.get("type")
        if kind == "message":
            self._message_done(key, item, out)
        elif kind == "function_call":
            if key not in self._calls:
                self._start_call(key, item, out)
            else:
                self._args_done({"output_index": key, "arguments": item.get("arguments")}, out)
                extras = _call_extras(item)
                if extras is not None:
                    self.tools.add(out, key=key, id=None, name=None, args=None, extras=extras)
            self.tools.complete(out, key)
        else:
            if kind == "reasoning" and key not in self._reasoning:
                texts = [t for t in _reasoning_texts(item) if t]
                if texts:
                    self._reasoning[key] = ("item", 0)
                    out.append(ReasoningDelta(REASONING_SEPARATOR.join(texts), key))
            self._items[key] = item

    def _message_done(self, key: int, item: dict[str, Any], out: list[StreamEvent]) -> None:
        streamed = key in self._texted
        for part in item.get("content") or ():
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "output_text":
                annotations = part.get("annotations")
                if annotations:
                    self._annotations.extend(annotations)
                text = _text(part, "text")
                if not streamed and text:
                    out.append(TextDelta(text, key))
            elif kind == "refusal" and not streamed:
                refusal = _text(part, "refusal")
                if refusal:
                    out.append(RefusalDelta(refusal))
        self._texted.add(key)
        self._items[key] = item

    def _reconcile(self, response: dict[str, Any], out: list[StreamEvent]) -> None:
        """Items of the final `output` that no item event announced (minimal servers)."""
        output = response.get("output")
        if not isinstance(output, list) or len(output) <= len(self._seen):
            return
        for key, item in enumerate(output):
            if key not in self._seen and isinstance(item, dict):
                self._seen.add(key)
                self._item_done(key, item, out)

    def _terminal(self, response: dict[str, Any], status: str) -> None:
        usage = response.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        tier = response.get("service_tier")
        if isinstance(tier, str) and tier:
            self._info.extra["service_tier"] = tier
        if status == "failed":
            raise stream_error({"response": response}, failed=response)
        self._status = status
        if status == "completed":
            self._finish = status
        elif status == "incomplete":
            details = response.get("incomplete_details") or {}
            native = details.get("reason") if isinstance(details, dict) else None
            self._finish = native if isinstance(native, str) and native else "incomplete"


def _call_extras(item: dict[str, Any]) -> dict[str, Any] | None:
    item_id = item.get("id")
    return {EXTRAS_KEY: {"item_id": item_id}} if isinstance(item_id, str) and item_id else None


def _reasoning_texts(item: dict[str, Any]) -> list[str]:
    """A reasoning item's summary texts, then its raw reasoning texts."""
    texts: list[str] = []
    for field in ("summary", "content"):
        for part in item.get(field) or ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


_D = OpenAIResponsesStreamDecoder
_HANDLERS: dict[str, Handler] = {
    "response.output_text.delta": _D._text_delta,
    "response.function_call_arguments.delta": _D._args_delta,
    "response.reasoning_summary_text.delta": _D._summary_delta,
    "response.reasoning_text.delta": _D._reasoning_text_delta,
    "response.refusal.delta": _D._refusal_delta,
    "response.output_item.added": _D._item_added,
    "response.output_item.done": _D._item_done_event,
    "response.function_call_arguments.done": _D._args_done,
    "response.output_text.done": _D._text_done,
    "response.refusal.done": _D._text_done,
    "response.reasoning_summary_text.done": _D._reasoning_part_done,
    "response.reasoning_text.done": _D._reasoning_part_done,
    "response.created": _D._lifecycle,
    "response.in_progress": _D._lifecycle,
    "response.queued": _D._lifecycle,
    "response.completed": _D._completed,
    "response.incomplete": _D._completed,
    "response.failed": _D._failed,
    "error": _D._failed,
}
"""Event type -> handler. Types not listed (`content_part.*`, `web_search_call.*`,
annotations, ...) carry nothing the final message needs."""
del _D
