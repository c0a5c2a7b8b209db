"""Normalized events -> LangChain message chunks and messages.

One `MessageBuilder` per response. `chunk(events)` turns the events of one network read
into one `AIMessageChunk` (or nothing, when the read carried only metadata);
`final_chunk()` carries what must appear exactly once: usage, finish reason, model name,
provider state, with `chunk_position="last"`. `message(events)` builds the non-streamed
`AIMessage` from the same events, so both paths agree.

Representation (`output_version` unset, "v0"): text is the string `content`; reasoning
is `additional_kwargs["reasoning_content"]`; tool calls are `tool_call_chunks` with a
stable integer index, id and name on the first chunk only. With `output_version="v1"`
content is a list of standard blocks whose `index` values are `lc_`-prefixed strings, so
that LangChain merges reasoning, text and each tool call into separate blocks.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
)
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.utils.json import parse_partial_json

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
from langchain_bhumi.protocols.base import TOOL_CALL_ERRORS, TOOL_CALL_EXTRAS

logger = logging.getLogger("langchain_bhumi")

MODEL_PROVIDER = "bhumi"


def usage_metadata(usage: Usage) -> UsageMetadata:
    """LangChain usage metadata: input includes cached tokens; details only when known."""
    total = usage.total_tokens
    result = UsageMetadata(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=total if total is not None else usage.input_tokens + usage.output_tokens,
    )
    input_details = InputTokenDetails()
    if usage.cache_read is not None:
        input_details["cache_read"] = usage.cache_read
    if usage.cache_creation is not None:
        input_details["cache_creation"] = usage.cache_creation
    if usage.input_audio is not None:
        input_details["audio"] = usage.input_audio
    if input_details:
        result["input_token_details"] = input_details
    output_details = OutputTokenDetails()
    if usage.reasoning is not None:
        output_details["reasoning"] = usage.reasoning
    if usage.output_audio is not None:
        output_details["audio"] = usage.output_audio
    if output_details:
        result["output_token_details"] = output_details
    return result


class MessageBuilder:
    """Builds the LangChain side of one response from its events.

    Args:
        v1: Emit standard content blocks (`output_version="v1"`).
        model_name: Fallback model name when the response names none.
    """

    __slots__ = (
        "_done",
        "_finish",
        "_id",
        "_info",
        "_state",
        "_streamed",
        "_usage",
        "_v1",
        "model_name",
        "provider",
        "wire_format",
    )

    def __init__(
        self,
        *,
        v1: bool = False,
        model_name: str | None = None,
        wire_format: str | None = None,
        provider: str | None = None,
    ) -> None:
        self._v1 = v1
        self.model_name = model_name
        self.wire_format = wire_format
        self.provider = provider
        self._id: str | None = None
        self._info: ResponseInfo | None = None
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._state: dict[str, Any] = {}
        self._done: list[ToolCallDone] = []
        self._streamed: set[int] = set()

    # --- streaming -------------------------------------------------------------------

    def chunk(self, events: list[StreamEvent]) -> AIMessageChunk | None:
        """One chunk for the events of one network read, or `None` if nothing to show."""
        content = _Content()
        refusal: list[str] = []
        calls: dict[int, ToolCallChunk] = {}
        for event in events:
            kind = type(event)
            if kind is TextDelta:
                content.text(event)  # type: ignore[arg-type]
            elif kind is ToolCallDelta:
                assert isinstance(event, ToolCallDelta)
                known = calls.get(event.index)
                if known is None:
                    calls[event.index] = ToolCallChunk(
                        name=event.name,
                        args=event.args,
                        id=event.id,
                        index=event.index,
                        type="tool_call_chunk",
                    )
                else:
                    known["args"] = (known["args"] or "") + event.args
            elif kind is ReasoningDelta:
                content.reasoning(event)  # type: ignore[arg-type]
            else:
                self._record(event)
                if kind is RefusalDelta:
                    refusal.append(event.text)  # type: ignore[union-attr]
                elif kind is ToolCallDone and event.error is not None:  # type: ignore[union-attr]
                    self._block_repair(event, calls)  # type: ignore[arg-type]
        self._streamed.update(calls)
        if not (content.order or calls or refusal):
            return None
        text, reasoning = content.v0()
        kwargs: dict[str, Any] = {}
        if reasoning:
            kwargs["reasoning_content"] = reasoning
        if refusal:
            kwargs["refusal"] = "".join(refusal)
        call_chunks = list(calls.values())
        if not self._v1:
            derived = _derived_calls(call_chunks)
            if derived is not None:
                # Exactly what validation would build, without LangChain's partial-JSON
                # parse of every argument piece.
                return _unvalidated_chunk(text, kwargs, call_chunks, derived[0], derived[1])
        metadata: dict[str, Any] = {}
        body: str | list[str | dict[str, Any]] = text
        if self._v1:
            body = content.v1_blocks(indexed=True)
            body.extend(_v1_call_chunk(call) for call in call_chunks)
            metadata["output_version"] = "v1"
        return AIMessageChunk(
            content=body,
            additional_kwargs=kwargs,
            tool_call_chunks=call_chunks,
            response_metadata=metadata,
        )

    def final_chunk(self) -> AIMessageChunk:
        """The last chunk: usage, finish reason, model, provider state; `chunk_position="last"`."""
        metadata = self._response_metadata()
        if self._v1:
            metadata["output_version"] = "v1"
        return AIMessageChunk(
            content=[] if self._v1 else "",
            additional_kwargs=self._state_kwargs(),
            usage_metadata=usage_metadata(self._usage) if self._usage else None,
            response_metadata=metadata,
            chunk_position="last",
        )

    def _block_repair(self, call: ToolCallDone, calls: dict[int, ToolCallChunk]) -> None:
        """Keep LangChain from 'repairing' a streamed call whose arguments are invalid.

        LangChain aggregates streamed arguments with a partial-JSON parser that closes
        open strings and brackets, so arguments cut off by `finish_reason=length` would
        become a plausible dict and an agent would run the tool with them. The chunks
        already sent cannot be taken back, and `+` only ever appends to a call's
        arguments (langchain-core 1.7 and 1.8 alike): so one more argument piece, one to
        three characters, makes the aggregate unparseable and the call lands in
        `invalid_tool_calls`. The arguments as received and the reason travel in the
        final chunk (`TOOL_CALL_ERRORS`), and the encoders send the model its own text.
        """
        if call.index not in self._streamed and call.index not in calls:
            return  # never shown to LangChain: nothing to protect
        suffix = unrepairable_suffix(call.args_text)
        if not suffix:
            return
        known = calls.get(call.index)
        if known is None:
            calls[call.index] = ToolCallChunk(
                name=None, args=suffix, id=None, index=call.index, type="tool_call_chunk"
            )
        else:
            known["args"] = (known["args"] or "") + suffix

    # --- whole response ----------------------------------------------------------------

    def message(self, events: list[StreamEvent]) -> AIMessage:
        """The complete message of a non-streamed response."""
        content = _Content()
        refusal: list[str] = []
        for event in events:
            kind = type(event)
            if kind is TextDelta:
                content.text(event)  # type: ignore[arg-type]
            elif kind is ReasoningDelta:
                content.reasoning(event)  # type: ignore[arg-type]
            elif kind is not ToolCallDelta:
                self._record(event)
                if kind is RefusalDelta:
                    refusal.append(event.text)  # type: ignore[union-attr]
        tool_calls, invalid = self._calls()
        kwargs = self._state_kwargs()
        text, reasoning = content.v0()
        if reasoning:
            kwargs["reasoning_content"] = reasoning
        if refusal:
            kwargs["refusal"] = "".join(refusal)
        metadata = self._response_metadata()
        body: str | list[str | dict[str, Any]] = text
        if self._v1:
            body = content.v1_blocks(indexed=False)
            body.extend({"type": "tool_call", **call} for call in tool_calls)
            body.extend(dict(call) for call in invalid)
            metadata["output_version"] = "v1"
        return AIMessage(
            content=body,
            additional_kwargs=kwargs,
            tool_calls=tool_calls,
            invalid_tool_calls=invalid,
            usage_metadata=usage_metadata(self._usage) if self._usage else None,
            response_metadata=metadata,
        )

    # --- shared ------------------------------------------------------------------------

    @property
    def finished_calls(self) -> list[ToolCallDone]:
        """Tool calls completed so far, with their parsed arguments or parse errors."""
        return self._done

    def _record(self, event: StreamEvent) -> None:
        if isinstance(event, ToolCallDone):
            self._done.append(event)
            if event.error is not None:
                logger.warning(
                    "tool call %s (%s) has invalid arguments: %s; raw arguments: %.200r",
                    event.name,
                    event.id,
                    event.error,
                    event.args_text,
                )
        elif isinstance(event, ResponseInfo):
            self._info = event
            if event.id and self._id is None:
                self._id = event.id
        elif isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            self._finish = event
        elif isinstance(event, ProviderState):
            self._state[event.key] = event.value

    def _calls(self) -> tuple[list[ToolCall], list[InvalidToolCall]]:
        valid: list[ToolCall] = []
        invalid: list[InvalidToolCall] = []
        for call in self._done:
            if call.args is not None and call.error is None:
                valid.append(ToolCall(name=call.name, args=call.args, id=call.id, type="tool_call"))
            else:
                invalid.append(
                    InvalidToolCall(
                        name=call.name,
                        args=call.args_text,
                        id=call.id,
                        error=call.error,
                        type="invalid_tool_call",
                    )
                )
        return valid, invalid

    def _state_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self._state)
        extras = {call.id: call.extras for call in self._done if call.extras}
        if extras:
            kwargs[TOOL_CALL_EXTRAS] = extras
        errors = {
            call.id: {"args": call.args_text, "error": call.error}
            for call in self._done
            if call.error is not None
        }
        if errors:
            kwargs[TOOL_CALL_ERRORS] = errors
        return kwargs

    def _response_metadata(self) -> dict[str, Any]:
        info = self._info
        metadata: dict[str, Any] = {"model_provider": MODEL_PROVIDER}
        if self.wire_format:
            # Lets an encoder tell its own format's opaque data (signatures) from another's.
            metadata["wire_format"] = self.wire_format
        if self.provider:
            metadata["provider"] = self.provider
        if self._id:
            # The provider's response id. Not the message id: servers repeat ids (Ollama
            # draws from 1,000 values, proxies send constants), and LangGraph's
            # add_messages replaces a message whose id it has seen. LangChain gives each
            # message its run id instead, as it does for ChatOpenAI.
            metadata["id"] = self._id
        model = (info.model if info else None) or self.model_name
        if model:
            metadata["model_name"] = model
        if self._finish is not None:
            metadata["finish_reason"] = self._finish.reason
            native = self._finish.native
            if native is not None and native != self._finish.reason:
                metadata["native_finish_reason"] = native
        if info is not None:
            metadata.update(info.extra)
        return metadata


_CHUNK_FIELDS = (
    "content",
    "additional_kwargs",
    "response_metadata",
    "type",
    "name",
    "id",
    "tool_calls",
    "invalid_tool_calls",
    "usage_metadata",
    "tool_call_chunks",
    "chunk_position",
)
_KNOWN_SHAPE = tuple(AIMessageChunk.model_fields) == _CHUNK_FIELDS and tuple(
    ChatGenerationChunk.model_fields
) == ("text", "generation_info", "type", "message")
"""Whether langchain-core's chunk classes have the fields the builders below fill in
(langchain-core 1.7 and 1.8 do); otherwise `model_construct` and validation are used."""

_ALL_CHUNK_FIELDS = frozenset(AIMessageChunk.model_fields)
_ALL_GENERATION_FIELDS = frozenset(ChatGenerationChunk.model_fields)
"""The `__pydantic_fields_set__` of the objects built below: every field was given. Each
object gets its own copy, since setting an extra attribute on a message adds its name."""

_new = object.__new__
_set = object.__setattr__


def _unvalidated_chunk(
    text: str,
    kwargs: dict[str, Any],
    call_chunks: list[ToolCallChunk],
    tool_calls: list[ToolCall],
    invalid: list[InvalidToolCall],
) -> AIMessageChunk:
    """The chunk validation would build from these fields (tests/unit/test_message_builder.py
    checks they are equal), in a fifth of `model_construct`'s time."""
    if not _KNOWN_SHAPE:  # pragma: no cover - a langchain-core with other chunk fields
        return AIMessageChunk.model_construct(
            content=text,
            additional_kwargs=kwargs,
            response_metadata={},
            tool_call_chunks=call_chunks,
            tool_calls=tool_calls,
            invalid_tool_calls=invalid,
            id=None,
        )
    chunk = _new(AIMessageChunk)
    _set(
        chunk,
        "__dict__",
        {
            "content": text,
            "additional_kwargs": kwargs,
            "response_metadata": {},
            "type": "AIMessageChunk",
            "name": None,
            "id": None,
            "tool_calls": tool_calls,
            "invalid_tool_calls": invalid,
            "usage_metadata": None,
            "tool_call_chunks": call_chunks,
            "chunk_position": None,
        },
    )
    _set(chunk, "__pydantic_fields_set__", set(_ALL_CHUNK_FIELDS))
    _set(chunk, "__pydantic_extra__", {})  # messages allow extra fields; each has its own
    _set(chunk, "__pydantic_private__", None)
    return chunk


def generation_chunk(message: AIMessageChunk) -> ChatGenerationChunk:
    """`ChatGenerationChunk(message=message)`, without re-validating the message (for text
    content; other content goes through validation, whose text rules it needs)."""
    if not _KNOWN_SHAPE or not isinstance(message.content, str):
        return ChatGenerationChunk(message=message)
    generation = _new(ChatGenerationChunk)
    _set(
        generation,
        "__dict__",
        {
            "text": message.text,
            "generation_info": None,
            "type": "ChatGenerationChunk",
            "message": message,
        },
    )
    _set(generation, "__pydantic_fields_set__", set(_ALL_GENERATION_FIELDS))
    _set(generation, "__pydantic_extra__", None)
    _set(generation, "__pydantic_private__", None)
    return generation


def _derived_calls(
    chunks: list[ToolCallChunk],
) -> tuple[list[ToolCall], list[InvalidToolCall]] | None:
    """The `tool_calls` / `invalid_tool_calls` LangChain's validator derives from these
    chunks, when that needs no JSON parsing; `None` when it does.

    Empty arguments give a call with `{}`; arguments whose first non-blank character is
    not `{` can never parse to an object, so they give an invalid call without an error.
    Only a piece that starts an object needs LangChain's own partial parse.
    """
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for chunk in chunks:
        args = chunk["args"]
        if not args:
            valid.append(
                ToolCall(name=chunk["name"] or "", args={}, id=chunk["id"], type="tool_call")
            )
        elif args.lstrip()[:1] == "{":
            return None
        else:
            invalid.append(
                InvalidToolCall(
                    name=chunk["name"],
                    args=args,
                    id=chunk["id"],
                    error=None,
                    type="invalid_tool_call",
                )
            )
    return valid, invalid


def exact_invalid_calls(message: AIMessage) -> AIMessage:
    """`message` (a streamed answer summed) with each invalid call as received: the
    arguments without the repair blocker (`MessageBuilder._block_repair`) and the reason,
    from `additional_kwargs["tool_call_errors"]`; with `output_version="v1"`, the call's
    content block too. What a non-streamed call gives for the same answer."""
    errors = message.additional_kwargs.get(TOOL_CALL_ERRORS)
    if not errors:
        return message
    message.invalid_tool_calls = [_exact(call, errors) for call in message.invalid_tool_calls]
    if isinstance(message.content, list):
        message.content = [
            _exact_block(block, errors) if isinstance(block, dict) else block
            for block in message.content
        ]
    return message


def _exact(call: InvalidToolCall, errors: dict[str, Any]) -> InvalidToolCall:
    record = errors.get(call.get("id") or "")
    if not isinstance(record, dict):
        return call
    return InvalidToolCall(
        name=call.get("name"),
        args=record.get("args"),
        id=call.get("id"),
        error=record.get("error"),
        type="invalid_tool_call",
    )


def _exact_block(block: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """A streamed call's `tool_call_chunk` block, as the `invalid_tool_call` block a
    non-streamed answer has, when the call is invalid."""
    if block.get("type") != "tool_call_chunk" or block.get("id") not in errors:
        return block
    call = InvalidToolCall(
        name=block.get("name"), args=None, id=block["id"], error=None, type="invalid_tool_call"
    )
    return dict(_exact(call, errors))


def unrepairable_suffix(raw: str) -> str:
    """The shortest text that, appended to `raw`, makes LangChain's `parse_partial_json`
    give up (return no dict); `""` when it already gives up on `raw`.

    The parser closes an open string and open brackets, but stops at a closing bracket
    that does not match; so: close the string if one is open, then add a mismatched one.
    """
    try:
        if not isinstance(parse_partial_json(raw), dict):
            return ""
    except ValueError:
        return ""
    in_string = escaped = False
    stack: list[str] = []
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack and stack[-1] == char:
            stack.pop()
    suffix = ('""' if escaped else '"') if in_string else ""
    return suffix + ("]" if stack and stack[-1] == "}" else "}")


class _Content:
    """Text and reasoning pieces, by content block, in order of first appearance."""

    __slots__ = ("order", "pieces", "redacted", "signatures")

    def __init__(self) -> None:
        self.order: list[tuple[str, int]] = []
        self.pieces: dict[tuple[str, int], list[str]] = {}
        self.signatures: dict[int, str] = {}
        self.redacted: dict[int, str] = {}

    def _add(self, key: tuple[str, int], text: str) -> None:
        pieces = self.pieces.get(key)
        if pieces is None:
            self.order.append(key)
            self.pieces[key] = [text]
        else:
            pieces.append(text)

    def text(self, event: TextDelta) -> None:
        if event.text:
            self._add(("text", event.block), event.text)

    def reasoning(self, event: ReasoningDelta) -> None:
        if event.redacted is not None:
            self._add(("redacted", event.block), "")
            self.redacted[event.block] = event.redacted
            return
        self._add(("reasoning", event.block), event.text)
        if event.signature:
            self.signatures[event.block] = event.signature

    def v0(self) -> tuple[str, str]:
        """All text, and all reasoning text, each joined across blocks."""
        text = [p for key in self.order if key[0] == "text" for p in self.pieces[key]]
        reasoning = [p for key in self.order if key[0] == "reasoning" for p in self.pieces[key]]
        return "".join(text), "".join(reasoning)

    def v1_blocks(self, *, indexed: bool) -> list[str | dict[str, Any]]:
        """Standard blocks; `indexed` adds the `lc_` merge keys streaming chunks need."""
        blocks: list[str | dict[str, Any]] = []
        for kind, number in self.order:
            joined = "".join(self.pieces[(kind, number)])
            if kind == "text":
                block: dict[str, Any] = {"type": "text", "text": joined}
                prefix = "lc_txt_"
            elif kind == "redacted":
                data = self.redacted[number]
                block = {
                    "type": "non_standard",
                    "value": {"type": "redacted_thinking", "data": data},
                }
                prefix = "lc_rd_"
            else:
                block = {"type": "reasoning", "reasoning": joined}
                if number in self.signatures:
                    block["extras"] = {"signature": self.signatures[number]}
                prefix = "lc_rs_"
            if indexed:
                block["index"] = f"{prefix}{number}"
            blocks.append(block)
        return blocks


def _v1_call_chunk(call: ToolCallChunk) -> dict[str, Any]:
    return {
        "type": "tool_call_chunk",
        "id": call["id"],
        "name": call["name"],
        "args": call["args"],
        "index": f"lc_tc_{call['index']}",
    }
