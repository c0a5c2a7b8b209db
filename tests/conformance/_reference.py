"""An independent reference reading of recorded chat-completions exchanges.

Nothing here imports `langchain_bhumi`: the conformance tests compare what the package
decodes with what this module reads from the same recorded bytes. The SSE parser follows
the WHATWG event-stream rules (a field name is everything before the first colon, one
leading space of the value is dropped, a blank line dispatches, `:` lines are comments),
and the chunk reader applies the tool-call keying rules stated in the docstring of
`langchain_bhumi/core/toolcalls.py` (read, not imported).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_VAR = "BHUMI_REAL_STREAMS"

# Native finish reasons seen in the recordings, mapped to the normalized vocabulary.
FINISH_MAP = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def streams_root() -> Path:
    """The real-streams folder: `$BHUMI_REAL_STREAMS`, else `../shared/real-streams`."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "real-streams"


@dataclass
class Exchange:
    """One recorded exchange: its folder name relative to the root, meta and body."""

    name: str
    path: Path
    meta: dict[str, Any]

    @property
    def body(self) -> bytes:
        """The recorded response body bytes."""
        return (self.path / str(self.meta["response_file"])).read_bytes()

    @property
    def status(self) -> int:
        return int(self.meta["status_code"])

    @property
    def is_sse(self) -> bool:
        return str(self.meta["response_file"]).endswith(".sse")

    @property
    def content_type(self) -> str:
        """The recorded Content-Type, without the dataset's `(inferred ...)` note."""
        value = str(self.meta.get("content_type") or "")
        value = value.split(" (", 1)[0].strip()
        return value or ("text/event-stream" if self.is_sse else "application/json")

    @property
    def provider_leaf(self) -> str:
        """`openai` or the folder under `openai-compatible/` (`groq`, `llama.cpp`, ...)."""
        return self.name.split("/")[-2]

    def has(self, feature: str) -> bool:
        return feature in (self.meta.get("features") or [])


SYNTHETIC = Path(__file__).resolve().parent / "synthetic"
"""Streams this project wrote (`meta.json` `"synthetic": true`) for quirks that public
bug reports describe but no recording in the real-streams folder shows. Named
`synthetic/...` in test ids, so they are never mistaken for recordings."""


def load_exchanges(root: Path, api_family: str = "openai-chat") -> list[Exchange]:
    """Every exchange under `root` whose `meta.json` names `api_family`, sorted by name,
    followed by the synthetic ones of that family (those alone when `root` is absent)."""
    found: list[Exchange] = []
    for base, prefix in ((root, ""), (SYNTHETIC, "synthetic/")):
        if not base.is_dir():
            continue
        for meta_path in sorted(base.rglob("meta.json")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("api_family") != api_family:
                continue
            name = prefix + meta_path.parent.relative_to(base).as_posix()
            found.append(Exchange(name, meta_path.parent, meta))
    return found


def unique_ids(calls: list[ExpectedCall]) -> list[ExpectedCall]:
    """A repeated call id becomes `<id>_<position>` (1-based), as a model must hand it on:
    two calls under one id cannot both get their results back."""
    for call, unique in zip(calls, distinct([c.id for c in calls]), strict=True):
        call.id = unique
    return calls


def distinct(ids: list[str | None]) -> list[str | None]:
    """`ids` with each repeat renamed `<id>_<position>` (1-based); `None` stays `None`."""
    seen: set[str] = set()
    out: list[str | None] = []
    for position, call_id in enumerate(ids):
        if call_id is not None:
            if call_id in seen:
                call_id = f"{call_id}_{position + 1}"
                while call_id in seen:
                    call_id += "_"
            seen.add(call_id)
        out.append(call_id)
    return out


# --- SSE --------------------------------------------------------------------------------


@dataclass
class SSEEvent:
    """One dispatched server-sent event."""

    event: str
    data: str


def parse_sse(body: bytes) -> list[SSEEvent]:
    """All events of an SSE body, decoded in one go (no incremental reading here).

    An event still pending at the end of the body (no closing blank line) is dispatched
    too, as lenient clients do.
    """
    text = body.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    events: list[SSEEvent] = []
    event = ""
    data: list[str] = []
    pending = False
    for line in lines:
        if line == "":
            if pending and data:
                events.append(SSEEvent(event or "message", "\n".join(data)))
            event, data, pending = "", [], False
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
            pending = True
        elif name == "event":
            event = value
            pending = True
    if pending and data:
        events.append(SSEEvent(event or "message", "\n".join(data)))
    return events


# --- expected result --------------------------------------------------------------------


@dataclass
class ExpectedCall:
    """One tool call as the recording says: name, raw argument text, parsed args."""

    name: str
    args_text: str
    id: str | None = None

    @property
    def args(self) -> dict[str, Any] | None:
        """The parsed arguments (`""` is `{}`), or `None` when not a JSON object."""
        if not self.args_text.strip():
            return {}
        try:
            value = json.loads(self.args_text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class ExpectedError:
    """An error the server reported inside a 200 stream."""

    kind: str | None
    code: str | None
    message: str


@dataclass
class Expected:
    """What one recorded response says."""

    text: str = ""
    reasoning: str = ""
    calls: list[ExpectedCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    native_finish: str | None = None
    model: str | None = None
    response_id: str | None = None
    reasoning_details: list[str] | None = None
    error: ExpectedError | None = None
    done: bool = False
    responses_api: bool = False
    frames: int = 0

    @property
    def finish_reason(self) -> str | None:
        """Normalized: `tool_calls` when calls exist unless the model hit `length`."""
        native = self.native_finish
        mapped = FINISH_MAP.get(native, native) if native is not None else None
        if self.calls and mapped in (None, "stop"):
            return "tool_calls"
        return mapped

    @property
    def input_tokens(self) -> int | None:
        return None if self.usage is None else int(self.usage.get("prompt_tokens") or 0)

    @property
    def output_tokens(self) -> int | None:
        return None if self.usage is None else int(self.usage.get("completion_tokens") or 0)

    @property
    def cached_tokens(self) -> int | None:
        """`usage.prompt_tokens_details.cached_tokens`, when the server sent it."""
        details = (self.usage or {}).get("prompt_tokens_details") or {}
        value = details.get("cached_tokens")
        return value if isinstance(value, int) else None

    @property
    def reasoning_tokens(self) -> int | None:
        """`usage.completion_tokens_details.reasoning_tokens`, when the server sent it."""
        details = (self.usage or {}).get("completion_tokens_details") or {}
        value = details.get("reasoning_tokens")
        return value if isinstance(value, int) else None


class _CallRouter:
    """Keys streamed tool-call fragments to calls.

    An `index` not seen before starts a call, whatever its id (servers have reused one id
    for parallel calls). A fragment whose non-empty id was seen before belongs to that
    call, unless it has no index and names a tool again after that call's arguments parse
    (the id was reused). A new non-empty id together with a name starts a call (this
    covers vLLM's repeated `index: 0` and providers without `index`); otherwise the
    provider `index` picks the call, and without an index the fragment continues the call
    opened last.
    """

    def __init__(self) -> None:
        self.calls: list[ExpectedCall] = []
        self._parts: list[list[str]] = []
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}
        self._open: int | None = None

    def add(self, fragment: dict[str, Any]) -> None:
        function = fragment.get("function") or {}
        index = fragment.get("index")
        index = index if isinstance(index, int) else None
        call_id = fragment.get("id") or None
        name = function.get("name") or None
        args = function.get("arguments")
        if args is not None and not isinstance(args, str):
            args = json.dumps(args)
        position: int | None = None
        if call_id is not None:
            position = self._by_id.get(call_id)
            if position is not None and index is not None and index not in self._by_index:
                position = None
            elif position is not None and index is None and name is not None:
                try:
                    json.loads("".join(self._parts[position]))
                    position = None
                except ValueError:
                    pass
        if position is None:
            if call_id is not None and name is not None:
                position = self._new()
            elif index is not None and index in self._by_index:
                position = self._by_index[index]
            elif index is None and self._open is not None:
                position = self._open
            else:
                position = self._new()
        call = self.calls[position]
        if index is not None:
            self._by_index[index] = position
        self._open = position
        if call_id is not None and call.id is None:
            call.id = call_id
        if call_id is not None:
            self._by_id[call_id] = position
        if name is not None and not call.name:
            call.name = name
        if args:
            self._parts[position].append(args)

    def _new(self) -> int:
        self.calls.append(ExpectedCall(name="", args_text=""))
        self._parts.append([])
        return len(self.calls) - 1

    def finish(self) -> list[ExpectedCall]:
        for call, parts in zip(self.calls, self._parts, strict=True):
            call.args_text = "".join(parts)
        return unique_ids(self.calls)


def _content(value: Any, expected: Expected) -> None:
    """Text and reasoning from a `content` value: a string or a list of parts."""
    if isinstance(value, str):
        expected.text += value
        return
    if not isinstance(value, list):
        return
    for part in value:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            expected.text += part["text"]
        elif part.get("type") == "thinking":
            thinking = part.get("thinking")
            if isinstance(thinking, str):
                expected.reasoning += thinking
            elif isinstance(thinking, list):
                expected.reasoning += "".join(
                    p.get("text", "") for p in thinking if isinstance(p, dict)
                )


def _reasoning(delta: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


class _DetailsMerger:
    """Joins `reasoning_details` text per entry (`index` when given)."""

    def __init__(self) -> None:
        self.texts: dict[Any, str] = {}
        self.seen = False

    def add(self, details: Any) -> None:
        if not isinstance(details, list):
            return
        for detail in details:
            if not isinstance(detail, dict):
                continue
            self.seen = True
            key = detail.get("index", ("anon", len(self.texts)))
            text = detail.get("text")
            self.texts[key] = self.texts.get(key, "") + (text if isinstance(text, str) else "")


def _error_of(payload: Any) -> ExpectedError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return ExpectedError(
            kind=error.get("type"),
            code=str(code) if code is not None else None,
            message=str(error.get("message") or ""),
        )
    if isinstance(error, str):
        return ExpectedError(kind=None, code=None, message=error)
    return ExpectedError(kind=None, code=None, message=json.dumps(payload))


def expected_from_sse(body: bytes) -> Expected:
    """What a streamed chat-completions body says, read whole."""
    expected = Expected()
    router = _CallRouter()
    details = _DetailsMerger()
    for event in parse_sse(body):
        data = event.data.strip()
        expected.frames += 1
        if data == "[DONE]":
            expected.done = True
            break
        if event.event.startswith("response.") or '"type":"response.' in data.replace(" ", ""):
            expected.responses_api = True
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            if event.event == "error":
                expected.error = ExpectedError(kind=None, code=None, message=data)
                break
            raise
        if event.event == "error" or (isinstance(chunk, dict) and chunk.get("error")):
            expected.error = _error_of(chunk)
            break
        if chunk.get("id") and expected.response_id is None:
            expected.response_id = chunk["id"]
        if chunk.get("model"):
            expected.model = chunk["model"]
        if chunk.get("usage"):
            expected.usage = chunk["usage"]
        elif (chunk.get("x_groq") or {}).get("usage"):  # older Groq streams
            expected.usage = chunk["x_groq"]["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            _content(delta.get("content"), expected)
            expected.reasoning += _reasoning(delta)
            details.add(delta.get("reasoning_details"))
            for fragment in delta.get("tool_calls") or ():
                router.add(fragment)
            legacy = delta.get("function_call")
            if legacy:
                router.add({"index": -1, "function": legacy})
            if choice.get("finish_reason"):
                expected.native_finish = choice["finish_reason"]
    expected.calls = router.finish()
    if details.seen:
        expected.reasoning_details = sorted(details.texts.values())
    return expected


def expected_from_json(payload: dict[str, Any]) -> Expected:
    """What a non-streamed chat-completions body says."""
    expected = Expected(frames=1)
    if payload.get("object") == "response" or "output" in payload:
        expected.responses_api = True
        return expected
    expected.response_id = payload.get("id") or None
    expected.model = payload.get("model") or None
    expected.usage = payload.get("usage") or None
    details = _DetailsMerger()
    for choice in payload.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        message = choice.get("message") or {}
        _content(message.get("content"), expected)
        expected.reasoning += _reasoning(message)
        details.add(message.get("reasoning_details"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            args = function.get("arguments")
            if args is not None and not isinstance(args, str):
                args = json.dumps(args)
            expected.calls.append(
                ExpectedCall(
                    name=function.get("name") or "", args_text=args or "", id=call.get("id") or None
                )
            )
        legacy = message.get("function_call")
        if legacy:
            expected.calls.append(
                ExpectedCall(name=legacy.get("name") or "", args_text=legacy.get("arguments") or "")
            )
        expected.native_finish = choice.get("finish_reason") or None
    if details.seen:
        expected.reasoning_details = sorted(details.texts.values())
    return expected


def expected_error_body(body: bytes) -> ExpectedError:
    """The provider's error from a non-2xx body."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ExpectedError(kind=None, code=None, message=body.decode("utf-8", "replace"))
    return _error_of(payload)


def expected_for(exchange: Exchange) -> Expected:
    """The reference reading of a 200 exchange's body."""
    if exchange.is_sse:
        return expected_from_sse(exchange.body)
    return expected_from_json(json.loads(exchange.body))
