"""Tool calls a model wrote as text, recovered as real calls (opt-in).

Small local models often answer a request that offered tools with the call written out,
when the server's template or parser misses it: the agent then ends its loop and shows
JSON to the user. `find_text_tool_calls` recognises the common written forms:

- a bare JSON object (or one per line) at the start of the answer, as Qwen2.5 models
  write when the server's template lacks tool tags: `{"name": ..., "arguments": {...}}`;
- a fenced code block (```` ```json ````, plain ```` ``` ````, ```` ```tool_call ````)
  holding such objects;
- Hermes / Qwen tags: `<tool_call>{...}</tool_call>`;
- Mistral: `[TOOL_CALLS][{...}, ...]` and the newer `[TOOL_CALLS]name[ARGS]{...}`;
- Llama 3.1: `<|python_tag|>{"name": ..., "parameters": {...}}` (`;` between calls) and
  `<function=name>{...}</function>`;
- FireFunction: `functools[{...}, ...]`.

A call object is `{"name": ..., "arguments" | "parameters": {...}}` (arguments may be a
JSON string) or OpenAI's `{"function": {"name": ..., "arguments": ...}}`. Never silently
wrong: a form is recovered only when every call in it names a tool that was offered;
anything else stays text, as the model wrote it. Arguments that are not a JSON object
make an invalid call with the reason, as for native calls.

`TextToolCallFilter` applies this to a response's events, streamed or whole, so both
paths give the same message: text that may start a call form is held back until it is
clear (a code block in another language, or JSON that is not a call, is let through as
soon as it ends); at the end of a response that made no native calls the held text
becomes tool calls, and the text around the forms stays the answer. The original text is
kept in the response info (`text_tool_calls`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from langchain_bhumi.core.events import (
    Finish,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
)
from langchain_bhumi.core.toolcalls import new_call_id, parse_arguments

logger = logging.getLogger("langchain_bhumi")

METADATA_KEY = "text_tool_calls"
"""Response-info key holding `{"text": original answer, "forms": [...]}` after a recovery."""

_TAGS = (
    ("<tool_call>", "</tool_call>", "hermes"),
    ("<function=", "</function>", "llama_function"),
)
_OPENERS = ("[TOOL_CALLS]", "<|python_tag|>", "functools[", "```")
MARKERS: Final = tuple(tag for tag, _, _ in _TAGS) + _OPENERS
"""Text that starts a call form anywhere in an answer."""

_FENCE_INFOS = frozenset({"", "json", "tool_call", "tool_calls", "function_call", "jsonc"})
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")
_END_TOKENS = ("<|eom_id|>", "<|eot_id|>")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class TextToolCall:
    """One call found in text: parsed arguments, or `None` and the reason."""

    name: str
    args: dict[str, Any] | None
    args_text: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Recovered:
    """The calls found in an answer and the answer text without them."""

    calls: list[TextToolCall]
    text: str
    forms: list[str]


class _Incomplete:
    """More text is needed to tell whether a form starts here."""


INCOMPLETE: Final = _Incomplete()

CODE_BLOCK_OPEN = "code_block_open"
"""`_Form.kind` of the opening line of a code block that holds no call, while its end has
not arrived: a stream lets the block through up to its closing fence."""


@dataclass(frozen=True, slots=True)
class _Form:
    """A complete form at `[start, end)`: its calls, or `None` when it is not a call."""

    start: int
    end: int
    calls: list[TextToolCall] | None
    kind: str


# --- parsing ------------------------------------------------------------------------------


def find_text_tool_calls(text: str, tool_names: Collection[str]) -> Recovered | None:
    """The tool calls written in `text` to tools named in `tool_names`, or `None`.

    Example:
        ```python
        found = find_text_tool_calls(
            'Checking.\\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
            "</tool_call>",
            {"get_weather"},
        )
        found.calls  # [TextToolCall(name='get_weather', args={'city': 'Paris'}, ...)]
        found.text  # 'Checking.'
        ```
    """
    forms: list[_Form] = []
    position = 0
    while True:
        start = _next_candidate(text, position, at_start=not text[:position].strip())
        if start < 0:
            break
        form = form_at(text, start, tool_names, final=True)
        if form is None or isinstance(form, _Incomplete):
            position = start + 1
            continue
        if form.calls is not None:
            forms.append(form)
        position = max(form.end, start + 1)
    if not forms:
        return None
    kept: list[str] = []
    cursor = 0
    for form in forms:
        kept.append(text[cursor : form.start])
        cursor = form.end
    kept.append(text[cursor:])
    pieces = [piece.strip() for piece in kept]
    remaining = "\n".join(piece for piece in pieces if piece)
    if kept[0].strip():  # the answer keeps its own leading whitespace
        remaining = kept[0][: len(kept[0]) - len(kept[0].lstrip())] + remaining
    calls = [call for form in forms for call in form.calls or ()]
    return Recovered(calls=calls, text=remaining, forms=[form.kind for form in forms])


def _next_candidate(text: str, position: int, *, at_start: bool) -> int:
    """Where the next form may start at or after `position` (`-1`: nowhere)."""
    found = [i for i in (text.find(m, position) for m in MARKERS) if i >= 0]
    if at_start:
        stripped = len(text) - len(text[position:].lstrip()) if position < len(text) else -1
        if 0 <= stripped < len(text) and text[stripped] in "{[":
            found.append(stripped)
    return min(found) if found else -1


def form_at(
    text: str, start: int, tool_names: Collection[str], *, final: bool
) -> _Form | _Incomplete | None:
    """The call form starting at `start`: a `_Form` (its calls, or `None` calls for a
    complete block that is not one), `INCOMPLETE` when `final` is false and more text is
    needed, or `None` when no form starts there."""
    rest = text[start:]
    if not final and len(rest) < _LONGEST_MARKER and any(m.startswith(rest) for m in MARKERS):
        return INCOMPLETE  # a marker cut by the end of what has arrived
    for opener, closer, kind in _TAGS:
        if rest.startswith(opener):
            return _tag_form(text, start, opener, closer, kind, tool_names, final=final)
    if rest.startswith("[TOOL_CALLS]"):
        return _mistral_form(text, start, tool_names, final=final)
    if rest.startswith("<|python_tag|>"):
        return _values_form(text, start, start + 14, "python_tag", tool_names, final=final)
    if rest.startswith("functools["):
        return _values_form(text, start, start + 9, "functools", tool_names, final=final)
    if rest.startswith("```"):
        return _fence_form(text, start, tool_names, final=final)
    if rest[:1] in ("{", "["):
        return _values_form(text, start, start, "json", tool_names, final=final)
    return None


def _tag_form(
    text: str,
    start: int,
    opener: str,
    closer: str,
    kind: str,
    names: Collection[str],
    *,
    final: bool,
) -> _Form | _Incomplete:
    body_start = start + len(opener)
    close = text.find(closer, body_start)
    if close < 0:
        if not final:
            return INCOMPLETE
        body, end = text[body_start:], len(text)
    else:
        body, end = text[body_start:close], close + len(closer)
    if kind == "llama_function":  # <function=name>{arguments}</function>
        name, sep, arguments = body.partition(">")
        call = _named_call(name.strip(), arguments, names) if sep else None
        return _Form(start, end, [call] if call else None, kind)
    return _Form(start, end, _calls_in(body, names), kind)


def _mistral_form(
    text: str, start: int, names: Collection[str], *, final: bool
) -> _Form | _Incomplete:
    body_start = start + len("[TOOL_CALLS]")
    head = text[body_start:].lstrip()
    if not head:
        return INCOMPLETE if not final else _Form(start, len(text), None, "mistral")
    if head[0] in "[{":
        return _values_form(text, start, len(text) - len(head), "mistral", names, final=final)
    # [TOOL_CALLS]name[ARGS]{...} (newer tokenizers), possibly repeated
    calls: list[TextToolCall] = []
    position = body_start
    while True:
        args_mark = text.find("[ARGS]", position)
        if args_mark < 0:
            return INCOMPLETE if not final else _Form(start, len(text), None, "mistral")
        name = text[position:args_mark].split("[CALL_ID]")[0].strip()
        value, end = _json_value(text, args_mark + len("[ARGS]"))
        if value is _MISSING and not final:
            return INCOMPLETE
        if value is _MISSING or value is _INVALID:
            return _Form(start, max(end, body_start), None, "mistral")
        call = _named_call(name, text[args_mark + 6 : end], names)
        if call is None:
            return _Form(start, end, None, "mistral")
        calls.append(call)
        if not text.startswith("[TOOL_CALLS]", end):
            return _Form(start, end, calls, "mistral")
        position = end + len("[TOOL_CALLS]")


def _fence_form(
    text: str, start: int, names: Collection[str], *, final: bool
) -> _Form | _Incomplete | None:
    info_start = start + 3
    newline = text.find("\n", info_start)
    if newline < 0:
        info = text[info_start:].strip().lower()
        if final:
            return None
        if any(known.startswith(info) for known in _FENCE_INFOS):
            return INCOMPLETE
        return _Form(start, len(text), None, CODE_BLOCK_OPEN)  # ```python...
    info = text[info_start:newline].strip().lower()
    close = text.find("```", newline + 1)
    end = len(text) if close < 0 else close + 3
    body = text[newline + 1 : close if close >= 0 else len(text)]
    head = body.lstrip()
    if info not in _FENCE_INFOS or (head and head[0] not in "[{"):
        if close < 0 and not final:
            return _Form(start, newline + 1, None, CODE_BLOCK_OPEN)
        return _Form(start, end, None, "code")
    if close < 0 and not final:
        return INCOMPLETE
    return _Form(start, end, _calls_in(body, names), "fenced_json" if info else "fence")


def _values_form(
    text: str, start: int, values_start: int, kind: str, names: Collection[str], *, final: bool
) -> _Form | _Incomplete:
    """JSON values from `values_start` (separated by blanks, `;` or `,`), ending where
    the next text is not a value."""
    values: list[Any] = []
    position = values_start
    end = values_start
    while True:
        position = _skip_separators(text, position, first=not values)
        if position >= len(text) or text[position] not in "{[":
            break
        value, after = _json_value(text, position)
        if value is _MISSING and not final:
            return INCOMPLETE
        if value is _MISSING or value is _INVALID:
            break
        values.append(value)
        end = position = after
    for token in _END_TOKENS:
        if text.startswith(token, _skip_separators(text, end, first=True)):
            end = text.find(token, end) + len(token)
    if not values:
        if not final and position >= len(text):
            return INCOMPLETE  # the marker has arrived, its calls not yet
        return _Form(start, max(end, start + 1), None, kind)
    if not final and _skip_separators(text, end, first=False) >= len(text):
        return INCOMPLETE  # another value may follow
    return _Form(start, end, _calls_from(values, names), kind)


def _skip_separators(text: str, position: int, *, first: bool) -> int:
    length = len(text)
    while position < length and (
        text[position].isspace() or (not first and text[position] in ";,")
    ):
        position += 1
    return position


_MISSING: Final = object()
_INVALID: Final = object()


def _json_value(text: str, position: int) -> tuple[Any, int]:
    """The JSON value at `position` (after blanks) and where it ends; `_MISSING` when
    the text ends before the value does, `_INVALID` when it is not JSON."""
    while position < len(text) and text[position].isspace():
        position += 1
    try:
        return _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text) or exc.msg.startswith("Unterminated string"):
            return _MISSING, position
        return _INVALID, position


def _calls_in(body: str, names: Collection[str]) -> list[TextToolCall] | None:
    """The calls in a delimited body: JSON values that fill it entirely."""
    values: list[Any] = []
    position = _skip_separators(body, 0, first=True)
    while position < len(body):
        value, after = _json_value(body, position)
        if value is _MISSING or value is _INVALID:
            return None
        values.append(value)
        position = _skip_separators(body, after, first=False)
    return _calls_from(values, names) if values else None


def _calls_from(values: Iterable[Any], names: Collection[str]) -> list[TextToolCall] | None:
    calls: list[TextToolCall] = []
    for value in values:
        for item in value if isinstance(value, list) else (value,):
            call = _call(item, names)
            if call is None:
                return None
            calls.append(call)
    return calls or None


def _call(item: Any, names: Collection[str]) -> TextToolCall | None:
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    if isinstance(function, dict) and "name" in function:
        item = function
    name = item.get("name")
    if not isinstance(name, str) or name not in names:
        return None
    key = next((k for k in _ARGUMENT_KEYS if k in item), None)
    if key is None:
        if set(item) - {"name", "type", "id"}:
            return None  # other fields: not a call object
        return TextToolCall(name, {}, "")
    arguments = item[key]
    if isinstance(arguments, str):
        args, error = parse_arguments(arguments)
        return TextToolCall(name, args, arguments, error)
    args_text = json.dumps(arguments, ensure_ascii=False)
    if isinstance(arguments, dict):
        return TextToolCall(name, arguments, args_text)
    error = f"arguments must be a JSON object, got {type(arguments).__name__}"
    return TextToolCall(name, None, args_text, error)


def _named_call(name: str, arguments: str, names: Collection[str]) -> TextToolCall | None:
    if name not in names:
        return None
    args, error = parse_arguments(arguments.strip())
    return TextToolCall(name, args, arguments.strip(), error)


# --- the event filter -------------------------------------------------------------------


class TextToolCallFilter:
    """Recovers the tool calls one response wrote as text (see the module doc).

    Feed each batch of events with `feed` and call `close` once at the end (or use
    `stream` / `astream` / `whole`). Until the end, text that may start a call form is
    held back; text before it flows at once. A response that made real calls, or that
    was cut off (`finish_reason="length"`), is left as it came.

    Example:
        ```python
        recovery = TextToolCallFilter({"get_weather"})
        events = recovery.whole(client.complete(request))
        ```
    """

    __slots__ = (
        "_code_block",
        "_committed",
        "_emitted",
        "_finish",
        "_held",
        "_info",
        "_native",
        "_started",
        "_waiting",
        "tool_names",
    )

    def __init__(self, tool_names: Iterable[str]) -> None:
        self.tool_names = frozenset(tool_names)
        self._emitted: list[str] = []
        self._held = ""
        self._committed = False  # a recognised form is held: hold everything to the end
        self._native = False  # real calls arrived: nothing to recover
        self._started = False  # non-blank text has gone out
        self._waiting = False  # the held text starts with a form not yet complete
        self._code_block = _OUTSIDE  # or inside a code block that holds no call
        self._finish: Finish | None = None
        self._info: ResponseInfo | None = None

    def feed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """The events of one batch, with text that may start a call held back."""
        out: list[StreamEvent] = []
        for event in events:
            kind = type(event)
            if kind is TextDelta and not self._native:
                assert isinstance(event, TextDelta)
                released = self._text(event.text)
                if released == event.text:
                    out.append(event)
                elif released:
                    out.append(TextDelta(released, event.block))
            elif kind is Finish:
                self._finish = event  # type: ignore[assignment]
            elif kind is ResponseInfo:
                self._info = event  # type: ignore[assignment]
            else:
                if kind is ToolCallDelta or kind is ToolCallDone:
                    self._give_up(out)
                out.append(event)
        return out

    def close(self) -> list[StreamEvent]:
        """The end of the response: recovered calls, or the held text as it was."""
        out: list[StreamEvent] = []
        found: Recovered | None = None
        emitted = "".join(self._emitted)
        original = emitted + self._held
        cut = self._finish is not None and self._finish.reason == "length"
        if not self._native and not cut and self._held:
            found = find_text_tool_calls(original, self.tool_names)
            if found is not None and not found.text.startswith(emitted):
                found = None  # what went out would not be the answer: recover nothing
        if found is None:
            self._give_up(out)
        else:
            rest = found.text[len(emitted) :]
            if rest:
                out.append(TextDelta(rest))
            self._emit_calls(found, original, out)
        if self._info is not None:
            out.append(self._info)
        finish = self._finish
        if found is not None:
            finish = Finish("tool_calls", (finish.native or finish.reason) if finish else None)
        if finish is not None:
            out.append(finish)
        return out

    def whole(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """A whole response's events, recovered."""
        return self.feed(events) + self.close()

    def stream(self, batches: Iterable[list[StreamEvent]]) -> Iterator[list[StreamEvent]]:
        """A stream's batches, recovered; a batch left empty is skipped."""
        for batch in batches:
            out = self.feed(batch)
            if out:
                yield out
        yield self.close()

    async def astream(
        self, batches: AsyncIterator[list[StreamEvent]]
    ) -> AsyncIterator[list[StreamEvent]]:
        """Async twin of `stream`."""
        async for batch in batches:
            out = self.feed(batch)
            if out:
                yield out
        yield self.close()

    # --- holding text back ------------------------------------------------------------

    def _text(self, piece: str) -> str:
        """Add `piece`; return the text that can go out now."""
        held = self._held + piece
        if (
            self._started
            and self._code_block == _OUTSIDE
            and not self._committed
            and not _FORM_CHARS.intersection(piece)
            and (not self._held or self._held.isspace())
        ):  # prose: nothing in it can start a form; only trailing blanks wait
            cut = len(held.rstrip())
            self._held = held[cut:]
            if cut:
                self._emitted.append(held[:cut])
            return held[:cut]
        if self._committed or (
            self._waiting and len(held) > _LONGEST_MARKER and not _COMPLETERS.intersection(piece)
        ):
            self._held = held  # nothing in `piece` can end the form being held
            return ""
        released: list[str] = []
        self._waiting = False
        while held:
            if self._code_block == _INFO_LINE:  # the rest of a code block's first line
                newline = held.find("\n")
                if newline < 0:
                    released.append(held)
                    held = ""
                    break
                released.append(held[: newline + 1])
                held = held[newline + 1 :]
                self._code_block = _BODY
                continue
            if self._code_block == _BODY:  # let a code block without calls through to its end
                close = held.find("```")
                if close < 0:
                    keep = len(held.rstrip("`"))
                    released.append(held[:keep])
                    held = held[keep:]
                    break
                released.append(held[: close + 3])
                held = held[close + 3 :]
                self._code_block = _OUTSIDE
                continue
            at_start = not self._started and not "".join(released).strip()
            start = _hold_point(held, at_start=at_start)
            if start > 0:
                released.append(held[:start])
                held = held[start:]
            form_start = len(held) - len(held.lstrip())
            if form_start == len(held):
                break  # blanks only: wait for what follows them
            if _surely_held(held, form_start):
                self._committed = True
                break
            form = form_at(held, form_start, self.tool_names, final=False)
            if isinstance(form, _Incomplete):
                self._waiting = True
                break
            if form is None:
                released.append(held[: form_start + 1])
                held = held[form_start + 1 :]
            elif form.calls is None:
                released.append(held[: form.end])
                if form.kind == CODE_BLOCK_OPEN:
                    self._code_block = _BODY if held[form.end - 1] == "\n" else _INFO_LINE
                held = held[form.end :]
            else:
                self._committed = True
                break
        self._held = held
        out = "".join(released)
        if out:
            self._emitted.append(out)
            self._started = self._started or bool(out.strip())
        return out

    def _give_up(self, out: list[StreamEvent]) -> None:
        """No recovery: let the held text out as it came."""
        self._native = True
        if self._held:
            out.append(TextDelta(self._held))
            self._emitted.append(self._held)
            self._held = ""

    def _emit_calls(self, found: Recovered, original: str, out: list[StreamEvent]) -> None:
        for index, call in enumerate(found.calls):
            call_id = new_call_id()
            out.append(ToolCallDelta(index, call_id, call.name, call.args_text))
            out.append(
                ToolCallDone(index, call_id, call.name, call.args_text, call.args, call.error)
            )
        info = self._info or ResponseInfo()
        self._info = ResponseInfo(
            info.id,
            info.model,
            {**info.extra, METADATA_KEY: {"text": original, "forms": found.forms}},
        )
        logger.info(
            "recovered %d tool call(s) written as text (%s)",
            len(found.calls),
            ", ".join(found.forms),
        )


_OUTSIDE, _INFO_LINE, _BODY = range(3)  # where a stream is in a code block without calls
_LONGEST_MARKER = max(len(m) for m in MARKERS)
_COMPLETERS = frozenset("}]>`\n")  # characters that can end a form being held


_CALL_MARKERS = ("<tool_call>", "<function=", "[TOOL_CALLS]", "<|python_tag|>", "functools[")


def _surely_held(text: str, start: int) -> bool:
    """Whether the text at `start` can only be a call (or JSON): a call marker, or an
    answer opening with a JSON object. Held to the end at once, so a long call is not
    parsed again with every piece."""
    if text.startswith(_CALL_MARKERS, start):
        return True
    head = text[start : start + 64]
    return head[:1] == "{" or (head[:1] == "[" and head[1:].lstrip()[:1] == "{")


def _hold_point(text: str, *, at_start: bool) -> int:
    """Where text that may start a call form (with the blanks before it) begins; the
    text before that can go out. Trailing blanks are held too, so an answer never ends
    with blanks that belonged before a removed call."""
    candidates = [i for i in (text.find(m) for m in MARKERS) if i >= 0]
    tail = _partial_marker(text)
    if tail >= 0:
        candidates.append(tail)
    if at_start:
        first = len(text) - len(text.lstrip())
        if first < len(text) and text[first] in "{[":
            candidates.append(first)
    point = min(candidates) if candidates else len(text)
    return len(text[:point].rstrip())


_PREFIXES = frozenset(m[:k] for m in MARKERS for k in range(1, len(m)))
_STARTS = frozenset(m[0] for m in MARKERS)
_FORM_CHARS = _STARTS | {"{"}  # once the answer has begun, a form starts with one of these


def _partial_marker(text: str) -> int:
    """Where a marker cut off by the end of `text` begins, or -1."""
    for start in range(max(0, len(text) - _LONGEST_MARKER + 1), len(text)):
        if text[start] in _STARTS and text[start:] in _PREFIXES:
            return start
    return -1


__all__ = [
    "MARKERS",
    "METADATA_KEY",
    "Recovered",
    "TextToolCall",
    "TextToolCallFilter",
    "find_text_tool_calls",
]
