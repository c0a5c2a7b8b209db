"""Body framing: raw bytes, split anywhere, in; whole frames out, one batch per network read.

`SSEFramer` parses `text/event-stream` incrementally over bytes (the WHATWG rules:
`data:` with or without a space, CRLF, LF and lone CR line endings, comment lines,
`event:`, `id:` and `retry:` fields). Lines are split on bytes and each one is decoded
once, whole: a newline byte never occurs inside a multi-byte UTF-8 character, so a
character split across two reads is never decoded in halves. Unlike
`EventSource.iter_sse`, it returns everything one read produced as one list: the caller
can then turn one network read into one message chunk.
"""

from __future__ import annotations

from typing import Protocol

from httpx_sse import ServerSentEvent

from langchain_bhumi.core.errors import InvalidStreamDataError

__all__ = [
    "WHOLE_BODY",
    "Frame",
    "Framer",
    "JSONArrayFramer",
    "SSEFramer",
    "ServerSentEvent",
    "WholeBodyFramer",
]

WHOLE_BODY = "whole-body"
"""Event name of the single frame a `WholeBodyFramer` produces."""

Frame = ServerSentEvent
"""One frame of a response body: `.event` (`"message"` when the stream named none) and
`.data`."""


class Framer(Protocol):
    """Turns body bytes into frames. `flush` is called once, at the end of the body."""

    def feed(self, data: bytes) -> list[Frame]: ...

    def flush(self) -> tuple[list[Frame], bool]:
        """Frames still buffered at the end of the body, and whether the body ended in
        the middle of one (a cut connection, or a server that omits the final newline)."""
        ...


class SSEFramer:
    """Server-sent events framing (`text/event-stream`)."""

    __slots__ = ("_cr", "_data", "_event", "_last_id", "_line_open", "_partial", "_retry")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the current line, until its newline arrives
        self._cr = False  # the last read ended with CR: a following LF belongs to it
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""
        self._retry: int | None = None
        self._line_open = False  # the last complete line was not blank: an event is open

    def feed(self, data: bytes) -> list[Frame]:
        if self._cr:
            data = b"\r" + data
            self._cr = False
        if data[-1:] == b"\r":
            data = data[:-1]
            self._cr = True
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        if len(lines) == 1:
            if data:
                self._partial.append(data)
            return []
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
            self._partial = []
        tail = lines.pop()
        if tail:
            self._partial.append(tail)
        frames: list[Frame] = []
        for line in lines:
            self._line(line, frames)
        return frames

    def flush(self) -> tuple[list[Frame], bool]:
        frames: list[Frame] = []
        if self._partial or self._cr:
            line = b"".join(self._partial)
            self._partial = []
            self._cr = False
            self._line(line, frames)
        unterminated = self._line_open
        self._line(b"", frames)  # dispatch whatever event is still pending
        return frames, unterminated and bool(frames)

    def _line(self, line: bytes, frames: list[Frame]) -> None:
        if not line:
            self._line_open = False
            if self._data or self._event:
                frames.append(
                    ServerSentEvent(
                        event=self._event,
                        data="\n".join(self._data),
                        id=self._last_id,
                        retry=self._retry,
                    )
                )
                self._event = ""
                self._data = []
                self._retry = None
            return
        self._line_open = True
        if line[:1] == b":":
            return  # a comment (keep-alive)
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)


class WholeBodyFramer:
    """The whole body as one frame (event `WHOLE_BODY`), for a server that answered a
    streaming request with a plain JSON document."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[Frame]:
        self._parts.append(data)
        return []

    def flush(self) -> tuple[list[Frame], bool]:
        body = b"".join(self._parts).decode("utf-8", "replace")
        return ([ServerSentEvent(event=WHOLE_BODY, data=body)] if body.strip() else []), False


_BEFORE, _BETWEEN, _IN_ELEMENT, _DONE = range(4)
_WHITESPACE = frozenset(b" \t\r\n")
_OPENERS = frozenset(b"{[")
_CLOSERS = frozenset(b"}]")


class JSONArrayFramer:
    """A streamed JSON array: each top-level element is a frame as soon as it is complete.

    Gemini's `:streamGenerateContent` without `alt=sse` sends one JSON array whose
    elements (response chunks) arrive over time: `[{...}\\n,\\r\\n{...}\\n]`. A body that is
    a single JSON object (a whole `:generateContent` response, or an error) is one frame.
    Bytes are scanned, not text: every structural character is ASCII and never part of a
    multi-byte UTF-8 sequence, so an element is decoded once, whole, whatever the splits.

    Frames have event `""` (read back as `"message"`) and the element's JSON as `data`.
    `complete` says whether the array was closed (or the single object ended): the body
    has no other end marker.
    """

    __slots__ = ("_buf", "_depth", "_escape", "_in_string", "_single", "_state")

    def __init__(self) -> None:
        self._state = _BEFORE
        self._single = False
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False

    @property
    def complete(self) -> bool:
        """The array was closed with `]` (or the single JSON object ended)."""
        return self._state == _DONE

    @property
    def started(self) -> bool:
        """The body opened an array or an object."""
        return self._state != _BEFORE

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        i, n = 0, len(data)
        while i < n:
            if self._state == _IN_ELEMENT:
                i = self._scan(data, i, frames)
                continue
            byte = data[i]
            if byte in _WHITESPACE:
                i += 1
                continue
            if self._state == _BEFORE:
                if byte == 0x5B:  # [
                    self._state = _BETWEEN
                    i += 1
                elif byte == 0x7B:  # {: a single object, not an array
                    self._single = True
                    self._state = _IN_ELEMENT
                else:
                    raise _unexpected("a JSON array or object", data, i)
            elif self._state == _BETWEEN:
                if byte == 0x2C:  # ,
                    i += 1
                elif byte == 0x5D:  # ]
                    self._state = _DONE
                    i += 1
                elif byte in _OPENERS:
                    self._state = _IN_ELEMENT
                else:
                    raise _unexpected("a JSON object, ',' or ']'", data, i)
            else:
                raise _unexpected("nothing after the end of the JSON body", data, i)
        return frames

    def flush(self) -> tuple[list[Frame], bool]:
        if self._state == _IN_ELEMENT:
            partial = self._buf.decode("utf-8", "replace")
            self._buf = bytearray()
            return [ServerSentEvent(data=partial)], True
        return [], self._state == _BETWEEN

    def _scan(self, data: bytes, i: int, frames: list[Frame]) -> int:
        """Scan one element from `data[i]`; return where scanning stopped."""
        n = len(data)
        start = i
        depth, in_string, escape = self._depth, self._in_string, self._escape
        next_quote = next_backslash = -1
        while i < n:
            if in_string:
                if escape:
                    escape = False
                    i += 1
                    continue
                if next_quote < i:
                    next_quote = data.find(b'"', i)
                    if next_quote < 0:
                        next_quote = n
                if next_backslash < i:
                    next_backslash = data.find(b"\\", i)
                    if next_backslash < 0:
                        next_backslash = n
                if next_backslash < next_quote:
                    escape = True
                    i = next_backslash + 1
                elif next_quote < n:
                    in_string = False
                    i = next_quote + 1
                else:
                    i = n
                continue
            # Outside strings: jump to the next quote, counting brackets in between; walk
            # byte by byte only through a stretch where the element may end.
            if next_quote < i:
                next_quote = data.find(b'"', i)
                if next_quote < 0:
                    next_quote = n
            stretch = data[i:next_quote]
            closers = stretch.count(b"}") + stretch.count(b"]")
            if depth - closers > 0:
                depth += stretch.count(b"{") + stretch.count(b"[") - closers
                i = next_quote
                if i < n:
                    in_string = True
                    i += 1
                continue
            for offset, byte in enumerate(stretch):
                if byte in _OPENERS:
                    depth += 1
                elif byte in _CLOSERS:
                    depth -= 1
                    if depth == 0:
                        end = i + offset + 1
                        self._buf += data[start:end]
                        frames.append(ServerSentEvent(data=self._buf.decode("utf-8", "replace")))
                        self._buf = bytearray()
                        self._depth, self._in_string, self._escape = 0, False, False
                        self._state = _DONE if self._single else _BETWEEN
                        return end
            i = next_quote
            if i < n:
                in_string = True
                i += 1
        self._buf += data[start:n]
        self._depth, self._in_string, self._escape = depth, in_string, escape
        return n


def _unexpected(wanted: str, data: bytes, at: int) -> Exception:

    return InvalidStreamDataError(
        f"expected {wanted} in a JSON array body", data=data[at:].decode("utf-8", "replace")
    )
