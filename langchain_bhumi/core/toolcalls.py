"""The tool-call assembler: raw provider fragments in, well-formed calls out.

Providers stream tool calls as fragments and disagree on how to say which call a
fragment belongs to. Seen in real streams:

- OpenAI keys fragments by `index`, sends `id` and `name` once, then argument pieces.
- Ollama, Mistral and Gemini's OpenAI-compatible endpoint send no `index`; whole calls
  often arrive in one fragment, several per frame.
- vLLM sends `index: 0` for every parallel call, a new `id` for each, `""` ids after.
- OpenRouter repeats `id` and `name` on every fragment of a call.
- llama-server once changed the `id` on every fragment of one call.
- Gemini's `id` is `""`: there is none.

- DeepSeek, GLM and Kimi endpoints have sent one `id` for two parallel calls (distinct
  `index`); Anthropic-format servers, two `tool_use` blocks with one id.

The rules, strongest signal first: a provider `index` (or content-block
index) identifies a call when present, and a new index is a new call even if its id
repeats an earlier call's; a fragment with an id we have seen belongs to that call,
unless it names a tool again after that call's arguments are complete (the id was
reused for the next call); a new non-empty id together with a name starts a new call,
unless the provider's index names a call of that name whose arguments are still
incomplete (then the id changed, not the call); fragments with neither belong to the
open call, and a name after a complete call starts a new one.

What comes out: one `ToolCallDelta` per fragment with a stable integer index per call
(0, 1, ... in order of appearance), `id` and `name` only on a call's first delta, and
`args` as string pieces; then, when the call is complete, one `ToolCallDone` with the
parsed arguments or a precise parse error. `""` arguments mean `{}`. A call without an
id gets an invented `call_<random>` one; a call whose provider id an earlier call of the
same response already holds gets that id with a deterministic suffix (`call_1` then
`call_1_2`), so every call handed on has its own id and each tool result finds its call.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from langchain_bhumi.core.events import StreamEvent, ToolCallDelta, ToolCallDone


def new_call_id() -> str:
    """A fresh tool-call id for providers that send none (`call_` + 24 hex digits)."""
    return "call_" + secrets.token_hex(12)


def parse_arguments(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a call's complete argument string: `(args, None)` or `(None, error)`.

    Empty or whitespace-only text is a call without arguments. Anything that is not a
    JSON object is an error, never silently `{}`.
    """
    if not text or text.isspace():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        error = f"arguments are not valid JSON: {exc.msg} at character {exc.pos}"
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            error += "; the stream ended before the call was complete"
        return None, error
    except RecursionError:
        return None, "arguments are not valid JSON: nested too deeply to read"
    if isinstance(value, dict):
        return value, None
    return None, f"arguments must be a JSON object, got {type(value).__name__}"


def is_complete_json(text: str) -> bool:
    """Whether `text` is one whole JSON value (a call's arguments may be complete)."""
    if not text:
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class _PendingCall:
    """One call being assembled: its stable index, the provider's key, and its pieces."""

    __slots__ = ("announced", "done", "extras", "id", "index", "key", "name", "parts")

    def __init__(self, index: int, key: int | None) -> None:
        self.index = index
        self.key = key
        self.id: str | None = None
        self.name: str | None = None
        self.parts: list[str] = []
        self.announced = False
        self.done = False
        self.extras: dict[str, Any] | None = None

    def args_text(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


class ToolCallAssembler:
    """Assembles one response's tool calls from provider fragments.

    Feed fragments with `add`, mark calls complete with `complete` (formats that say so,
    such as Anthropic's `content_block_stop`) or all at once with `finish`. Events are
    appended to the list you pass, so a decoder can collect a whole frame's events in one
    list.

    Example:
        ```python
        assembler = ToolCallAssembler()
        events = []
        assembler.add(events, key=0, id="call_1", name="get_weather", args='{"city": ')
        assembler.add(events, key=0, id=None, name=None, args='"Paris"}')
        assembler.finish(events)
        # events: ToolCallDelta(0, "call_1", "get_weather", '{"city": '),
        #         ToolCallDelta(0, None, None, '"Paris"}'),
        #         ToolCallDone(0, "call_1", "get_weather", '{"city": "Paris"}', {"city": "Paris"})
        ```
    """

    __slots__ = ("_by_id", "_by_key", "_calls", "_id_factory", "_open", "_used_ids")

    def __init__(self, id_factory: Any = new_call_id) -> None:
        self._calls: list[_PendingCall] = []
        self._by_key: dict[int, _PendingCall] = {}
        self._by_id: dict[str, _PendingCall] = {}
        self._used_ids: set[str] = set()
        self._open: _PendingCall | None = None
        self._id_factory = id_factory

    @property
    def calls_seen(self) -> int:
        """How many distinct calls have been seen so far."""
        return len(self._calls)

    def add(
        self,
        out: list[StreamEvent],
        *,
        key: int | None,
        id: str | None,
        name: str | None,
        args: str | None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Feed one fragment. `key` is the provider's index for the call, if it sent one.

        Raises `TypeError` for an id, name or argument piece that is not a string (the
        decoder's frame has an unexpected shape)."""
        if (
            (args is not None and type(args) is not str)
            or (id is not None and type(id) is not str)
            or (name is not None and type(name) is not str)
        ):
            raise TypeError(
                f"a tool call's id, name and arguments must be strings: {(id, name, args)!r:.80}"
            )
        call = self._route(key, id or None, name or None)
        if id and call.id is None and not call.announced:
            call.id = self._unique(id, call)
            self._by_id[id] = call
        if name and call.name is None:
            call.name = name
        if extras:
            call.extras = {**call.extras, **extras} if call.extras else extras
        if args:
            call.parts.append(args)
        if call.announced:
            if args:
                out.append(ToolCallDelta(call.index, None, None, args))
        elif call.name is not None:
            self._announce(call, out)

    def complete(self, out: list[StreamEvent], key: int) -> None:
        """Mark the call with provider index `key` complete (its arguments are final)."""
        call = self._by_key.get(key)
        if call is not None:
            self._finalize(call, out)

    def finish(self, out: list[StreamEvent]) -> None:
        """The response ended: complete every pending call, in order."""
        for call in self._calls:
            self._finalize(call, out)

    # --- routing ---------------------------------------------------------------------

    def _route(self, key: int | None, call_id: str | None, name: str | None) -> _PendingCall:
        keyed = self._by_key.get(key) if key is not None else None
        if call_id is not None:
            known = self._by_id.get(call_id)
            if known is not None and not _id_reused(known, key, name):
                return self._touch(known)
        open_call = self._open

        if call_id is not None and name is not None:
            # A new id with a name starts a call, except when a server re-sends the name
            # with a fresh id on every fragment of the call its index names, while that
            # call's arguments are still incomplete (llama-server once did this).
            if (
                keyed is not None
                and not keyed.done
                and keyed.name == name
                and keyed.parts
                and not is_complete_json(keyed.args_text())
            ):
                return self._touch(keyed)
            return self._start(key)

        if keyed is not None:
            if name is not None and keyed.name is not None and name != keyed.name:
                return self._start(key)  # the provider reused an index for another call
            return self._touch(keyed)
        if key is not None:
            return self._start(key)

        # No index: a name that differs from the open call's, or that repeats it after
        # complete arguments, starts a new call; anything else continues the open one.
        if open_call is None or open_call.done:
            return self._start(None)
        if (
            name is not None
            and open_call.name is not None
            and (name != open_call.name or is_complete_json(open_call.args_text()))
        ):
            return self._start(None)
        return open_call

    def _start(self, key: int | None) -> _PendingCall:
        call = _PendingCall(len(self._calls), key)
        self._calls.append(call)
        if key is not None:
            self._by_key[key] = call
        self._open = call
        return call

    def _touch(self, call: _PendingCall) -> _PendingCall:
        self._open = call
        return call

    # --- output ----------------------------------------------------------------------

    def _unique(self, call_id: str, call: _PendingCall) -> str:
        """`call_id`, or `call_id` + `_<n>` when an earlier call of this response holds it."""
        unique = call_id
        if unique in self._used_ids:
            unique = f"{call_id}_{call.index + 1}"
            while unique in self._used_ids:
                unique += "_"
        self._used_ids.add(unique)
        return unique

    def _announce(self, call: _PendingCall, out: list[StreamEvent]) -> None:
        if call.id is None:
            call.id = self._unique(str(self._id_factory()), call)
            self._by_id[call.id] = call
        call.announced = True
        out.append(ToolCallDelta(call.index, call.id, call.name, call.args_text()))

    def _finalize(self, call: _PendingCall, out: list[StreamEvent]) -> None:
        if call.done:
            return
        call.done = True
        call_id = call.id
        if call_id is None:
            call.id = call_id = self._unique(str(self._id_factory()), call)
        text = call.args_text()
        args: dict[str, Any] | None = None
        error: str | None = "the provider sent arguments for a tool call without a name"
        if call.name is not None:
            args, error = parse_arguments(text)
        out.append(
            ToolCallDone(call.index, call_id, call.name or "", text, args, error, call.extras)
        )


def _id_reused(known: _PendingCall, key: int | None, name: str | None) -> bool:
    """Whether a fragment carrying `known`'s id starts another call: it has another
    provider index, or it names a tool again after `known`'s arguments are complete."""
    if key is not None:
        return known.key is not None and key != known.key
    return name is not None and bool(known.parts) and is_complete_json(known.args_text())
