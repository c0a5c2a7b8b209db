"""Body framing: raw bytes, split anywhere, in; whole frames out, one batch per network read.

`SSEFramer` parses `text/event-stream` incrementally over bytes (the WHATWG rules:
`data:` with or without a space, CRLF, LF and lone CR line endings, comment lines,
`event:`, `id:` and `retry:` fields). Lines are split on bytes and each one is decoded
once, whole: a newline byte never occurs inside a multi-byte UTF-8 character, so a
character split across two reads is never decoded in halves. Unlike
`EventSource.iter_sse`, it returns everything one read produced as one list: the caller
can then turn one network read into one message chunk.

Every framer is bounded and strict:

- `max_frame_size` bounds a line, an event's data, a JSON element or a whole body. The
  framer raises `InvalidStreamDataError` as soon as the bytes it holds pass the limit, so
  a server that never sends a newline costs at most the limit plus one read.
- Text is decoded as strict UTF-8: an invalid byte raises `InvalidStreamDataError` with
  its offset in the body, never a silent U+FFFD (which inside a JSON key or a tool's
  arguments would change what the answer says). A JSON escape of a lone UTF-16
  surrogate (`"\\ud800"`) is refused the same way: it decodes to a string no UTF-8
  writer can encode, which would fail later, far from its cause (a proxy mid-stream).

`framer_for` picks the framing from the response's Content-Type; a type the wire format
does not speak gets a `RejectingFramer`, which raises `UnexpectedContentTypeError`
quoting the first bytes of the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

from httpx_sse import ServerSentEvent

from langchain_bhumi.core.config import DEFAULT_MAX_FRAME_SIZE
from langchain_bhumi.core.errors import InvalidStreamDataError, UnexpectedContentTypeError

__all__ = [
    "WHOLE_BODY",
    "Frame",
    "Framer",
    "JSONArrayFramer",
    "RejectingFramer",
    "SSEFramer",
    "ServerSentEvent",
    "WholeBodyFramer",
    "framer_for",
    "media_type",
]

WHOLE_BODY = "whole-body"
"""Event name of the single frame a `WholeBodyFramer` produces."""


class Frame(ServerSentEvent):
    """One frame of a response body: `.event` (`"message"` when the stream named none),
    `.data`, and `.offset`: where `.data` starts in the body (bytes), when known, so
    that an error in the frame can say where it is. (Set after construction: a frame
    costs no more than the `ServerSentEvent` it is.)"""

    offset: int | None = None


def _frame(data: str, offset: int, event: str | None = None) -> Frame:
    frame = Frame(event, data)
    frame.offset = offset
    return frame


EXCERPT_BYTES = 300
"""How much of an offending line or element an error quotes."""


class Framer(Protocol):
    """Turns body bytes into frames. `flush` is called once, at the end of the body.

    `max_frame_size` (bytes) bounds what a framer may buffer; the transport sets it.
    """

    max_frame_size: int

    def feed(self, data: bytes) -> list[Frame]: ...

    def flush(self) -> tuple[list[Frame], bool]:
        """Frames still buffered at the end of the body, and whether the body ended in
        the middle of one (a cut connection, or a server that omits the final newline)."""
        ...


def media_type(content_type: str) -> str:
    """`text/event-stream` from `Text/Event-Stream; charset=utf-8`."""
    return content_type.partition(";")[0].strip().lower()


JSON_TYPES = frozenset({"application/json", "text/json"})
SSE_TYPE = "text/event-stream"


def framer_for(content_type: str, json: Callable[[], Framer] | None = None) -> Framer:
    """The framing of a streamed response with this Content-Type.

    Server-sent events for `text/event-stream` (and for a response that names no type);
    `json()` for a JSON body when the format reads one (`WholeBodyFramer`: a server that
    ignored `"stream": true`; `JSONArrayFramer`: Gemini without `alt=sse`); anything else
    gets a `RejectingFramer`.
    """
    kind = media_type(content_type)
    if kind == SSE_TYPE or not kind:
        return SSEFramer()
    if json is not None and kind in JSON_TYPES:
        return json()
    expected = f"{SSE_TYPE} or application/json" if json is not None else SSE_TYPE
    return RejectingFramer(content_type, expected)


class _BadLine(Exception):
    """A line the SSE framer refuses; `at` is the offending position within the line."""

    def __init__(self, detail: str, at: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.at = at


class SSEFramer:
    """Server-sent events framing (`text/event-stream`)."""

    __slots__ = (
        "_cr",
        "_data",
        "_data_at",
        "_data_size",
        "_event",
        "_last_id",
        "_line_open",
        "_partial",
        "_partial_size",
        "_received",
        "_retry",
        "max_frame_size",
    )

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._partial: list[bytes] = []  # the current line, until its newline arrives
        self._partial_size = 0
        self._received = 0  # body bytes fed so far
        self._cr = False  # the last read ended with CR: a following LF belongs to it
        self._event = ""
        self._data: list[str] = []
        self._data_at = 0  # body offset of the open event's data
        self._data_size = 0  # bytes of the open event's data lines
        self._last_id = ""
        self._retry: int | None = None
        self._line_open = False  # the last complete line was not blank: an event is open

    def feed(self, data: bytes) -> list[Frame]:
        start = self._received  # body offset of data[0]
        self._received = start + len(data)
        if self._cr:
            data = b"\r" + data
            start -= 1
            self._cr = False
        if data[-1:] == b"\r":
            data = data[:-1]
            self._cr = True
        raw = data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        limit = self.max_frame_size
        if len(lines) == 1:
            if data:
                self._partial.append(data)
                self._partial_size += len(data)
                if self._partial_size > limit:
                    line_start = start - self._partial_size + len(data)
                    self._too_long(self._partial[0], line_start)
            return []
        first_start = start - self._partial_size  # body offset of lines[0]
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
            self._partial = []
        tail = lines.pop()
        self._partial_size = len(tail)
        if tail:
            self._partial.append(tail)
        if len(raw) > limit or len(lines[0]) > limit or len(tail) > limit:
            every = [*lines, tail]
            for line in every:
                if len(line) > limit:
                    self._too_long(line, _line_offset(raw, start, first_start, every, line))
        frames: list[Frame] = []
        line = b""
        try:
            ending = 1 if b"\r" not in raw else _crlf_only(raw)
            if ending:
                at = first_start
                for line in lines:
                    self._line(line, frames, at)
                    at += len(line) + ending
            else:  # mixed line endings
                starts = _line_starts(raw, start, first_start)  # and the tail's: one more
                for line, at in zip(lines, starts, strict=False):
                    self._line(line, frames, at)
        except _BadLine as bad:
            at = _line_offset(raw, start, first_start, lines, line) + bad.at
            raise InvalidStreamDataError(
                bad.detail, data=_around(line, bad.at), offset=at
            ) from None
        return frames

    def flush(self) -> tuple[list[Frame], bool]:
        frames: list[Frame] = []
        if self._partial or self._cr:
            line = b"".join(self._partial)
            line_start = self._received - self._cr - self._partial_size
            self._partial = []
            self._partial_size = 0
            self._cr = False
            try:
                self._line(line, frames, line_start, final=True)
            except _BadLine as bad:
                raise InvalidStreamDataError(
                    bad.detail, data=_around(line, bad.at), offset=line_start + bad.at
                ) from None
        unterminated = self._line_open
        self._line(b"", frames, self._received)  # dispatch whatever event is still pending
        return frames, unterminated and bool(frames)

    def _line(self, line: bytes, frames: list[Frame], at: int, final: bool = False) -> None:
        """One line, which starts at body offset `at`."""
        if not line:
            self._line_open = False
            if self._data or self._event:
                data = "\n".join(self._data)
                if "\\ud" in data or "\\uD" in data:
                    _refuse_lone_surrogates(data, self._data_at)
                frame = Frame(self._event, data, self._last_id, self._retry)
                if self._data:
                    frame.offset = self._data_at
                frames.append(frame)
                self._event = ""
                self._data = []
                self._data_size = 0
                self._retry = None
            return
        self._line_open = True
        if line[:1] == b":":
            return  # a comment (keep-alive)
        name, _, value = line.partition(b":")
        skip = len(name) + 1
        if value[:1] == b" ":
            value = value[1:]
            skip += 1
        if name == b"data":
            if not self._data:
                self._data_at = at + skip
            self._data_size += len(value)
            if self._data_size > self.max_frame_size:
                raise _BadLine(_too_long_detail("an event", self.max_frame_size), 0)
            self._data.append(_decode(value, skip, final))
        elif name == b"event":
            self._event = _decode(value, skip, final)
        elif name == b"id":
            if b"\0" not in value:
                self._last_id = _decode(value, skip, final)
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _too_long(self, line: bytes, offset: int) -> None:
        raise InvalidStreamDataError(
            _too_long_detail("a line", self.max_frame_size),
            data=line[:EXCERPT_BYTES].decode("utf-8", "replace"),
            offset=offset,
        )


def _decode(value: bytes, skip: int, final: bool) -> str:
    """`value` as strict UTF-8; `_BadLine` at the offending byte (`skip` bytes into the
    line). A character cut off at the end of a body that ended mid-line is the cut's
    doing, reported as such by the caller: it decodes with a replacement."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        if final and exc.reason == "unexpected end of data":
            return value.decode("utf-8", "replace")
        raise _BadLine("the stream is not valid UTF-8", skip + exc.start) from None


def _crlf_only(raw: bytes) -> int:
    """2 when every line ending of `raw` is CRLF, else 0."""
    pairs = raw.count(b"\r\n")
    return 2 if pairs == raw.count(b"\r") == raw.count(b"\n") else 0


def _line_starts(raw: bytes, start: int, first_start: int) -> list[int]:
    """The body offsets where the lines of a read with CR line endings start: the first
    at `first_start`, each next one after a CRLF, CR or LF of `raw` (the read's bytes,
    from body offset `start`)."""
    starts = [first_start]
    i = 0
    while True:
        cr = raw.find(b"\r", i)
        lf = raw.find(b"\n", i)
        if cr < 0 and lf < 0:
            return starts
        if lf >= 0 and (cr < 0 or lf < cr):
            i = lf + 1
        elif raw[cr + 1 : cr + 2] == b"\n":
            i = cr + 2
        else:
            i = cr + 1
        starts.append(start + i)


def _line_offset(raw: bytes, start: int, first_start: int, lines: list[bytes], line: bytes) -> int:
    """The body offset of `line`, the first of `lines` equal to it. `raw` holds the read's
    bytes before line endings were normalized and starts at body offset `start`; the
    first line may have begun in an earlier read, at `first_start`. Only called on the
    way to an error."""
    count = next(i for i, candidate in enumerate(lines) if candidate is line or candidate == line)
    if count == 0:
        return first_start
    i, n = 0, len(raw)
    while count and i < n:
        byte = raw[i]
        i += 1
        if byte == 0x0D:
            count -= 1
            if raw[i : i + 1] == b"\n":
                i += 1
        elif byte == 0x0A:
            count -= 1
    return start + i


def _around(data: bytes | bytearray, at: int) -> str:
    """The bytes around position `at`, undecodable ones shown as `\\xNN`."""
    start = max(0, at - EXCERPT_BYTES // 2)
    return bytes(data[start : start + EXCERPT_BYTES]).decode("utf-8", "backslashreplace")


def _too_long_detail(what: str, limit: int) -> str:
    return (
        f"{what} of the response is longer than the maximum frame size of {limit:,} bytes "
        "(max_frame_size; raise it if the provider really sends frames this large)"
    )


def _refuse_lone_surrogates(text: str, offset: int) -> None:
    """`InvalidStreamDataError` if JSON `text` (starting at body offset `offset`) escapes
    a UTF-16 surrogate that is not half of a pair (pairs decode to one character). Called
    only when `text` holds a `\\ud` escape; text that is not JSON is the decoder's to
    report."""
    try:
        json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        at = max(text.find("\\ud"), text.find("\\uD"))
        raise InvalidStreamDataError(
            "the response escapes a lone UTF-16 surrogate, which is not text",
            data=text[max(0, at - 100) :],
            offset=offset,
        ) from None
    except (ValueError, RecursionError):
        return


def _decode_whole(data: bytes | bytearray, offset: int, final: bool = False) -> str:
    """A JSON element or body as strict UTF-8 (see `_decode`); `offset` is where it starts."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if final and exc.reason == "unexpected end of data":
            return data.decode("utf-8", "replace")
        raise InvalidStreamDataError(
            "the response is not valid UTF-8",
            data=_around(data, exc.start),
            offset=offset + exc.start,
        ) from None


class WholeBodyFramer:
    """The whole body as one frame (event `WHOLE_BODY`), for a server that answered a
    streaming request with a plain JSON document."""

    __slots__ = ("_parts", "_size", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._parts.append(data)
        self._size += len(data)
        if self._size > self.max_frame_size:
            raise InvalidStreamDataError(
                _too_long_detail("the body", self.max_frame_size),
                data=self._parts[0][:EXCERPT_BYTES].decode("utf-8", "replace"),
                offset=0,
            )
        return []

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def text(self) -> str:
        """The body so far, as strict UTF-8."""
        text = _decode_whole(b"".join(self._parts), 0)
        if "\\ud" in text or "\\uD" in text:
            _refuse_lone_surrogates(text, 0)
        return text

    def flush(self) -> tuple[list[Frame], bool]:
        body = self.text()
        return ([_frame(body, 0, WHOLE_BODY)] if body.strip() else []), False


class RejectingFramer:
    """The framing of a body the wire format does not read (an HTML error page sent with
    status 200, plain text): it raises `UnexpectedContentTypeError` naming the type and
    quoting the first bytes, as soon as it has 300 of them or the body ends."""

    __slots__ = ("_content_type", "_expected", "_head", "max_frame_size")

    def __init__(self, content_type: str, expected: str) -> None:
        self.max_frame_size = DEFAULT_MAX_FRAME_SIZE
        self._content_type = content_type
        self._expected = expected
        self._head = b""

    def feed(self, data: bytes) -> list[Frame]:
        self._head += data[: EXCERPT_BYTES - len(self._head)]
        if len(self._head) >= EXCERPT_BYTES:
            raise self._error()
        return []

    def flush(self) -> tuple[list[Frame], bool]:
        raise self._error()

    def _error(self) -> UnexpectedContentTypeError:
        return UnexpectedContentTypeError(
            self._content_type,
            expected=self._expected,
            data=self._head.decode("utf-8", "replace"),
        )


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

    __slots__ = (
        "_buf",
        "_depth",
        "_element_start",
        "_escape",
        "_in_string",
        "_received",
        "_single",
        "_state",
        "max_frame_size",
    )

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._state = _BEFORE
        self._single = False
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._received = 0
        self._element_start = 0  # body offset of the element being scanned

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
        base = self._received
        self._received = base + len(data)
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
                    self._enter(base + i)
                else:
                    raise _unexpected("a JSON array or object", data, i, base)
            elif self._state == _BETWEEN:
                if byte == 0x2C:  # ,
                    i += 1
                elif byte == 0x5D:  # ]
                    self._state = _DONE
                    i += 1
                elif byte in _OPENERS:
                    self._enter(base + i)
                else:
                    raise _unexpected("a JSON object, ',' or ']'", data, i, base)
            else:
                raise _unexpected("nothing after the end of the JSON body", data, i, base)
        return frames

    def flush(self) -> tuple[list[Frame], bool]:
        if self._state == _IN_ELEMENT:
            partial = _decode_whole(self._buf, self._element_start, final=True)
            self._buf = bytearray()
            return [_frame(partial, self._element_start)], True
        return [], self._state == _BETWEEN

    def _enter(self, offset: int) -> None:
        self._state = _IN_ELEMENT
        self._element_start = offset

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
                        self._check_size()
                        element = _decode_whole(self._buf, self._element_start)
                        if "\\ud" in element or "\\uD" in element:
                            _refuse_lone_surrogates(element, self._element_start)
                        frames.append(_frame(element, self._element_start))
                        self._buf = bytearray()
                        self._depth, self._in_string, self._escape = 0, False, False
                        self._state = _DONE if self._single else _BETWEEN
                        return end
            i = next_quote
            if i < n:
                in_string = True
                i += 1
        self._buf += data[start:n]
        self._check_size()
        self._depth, self._in_string, self._escape = depth, in_string, escape
        return n

    def _check_size(self) -> None:
        if len(self._buf) > self.max_frame_size:
            raise InvalidStreamDataError(
                _too_long_detail("an element of the JSON array", self.max_frame_size),
                data=self._buf[:EXCERPT_BYTES].decode("utf-8", "replace"),
                offset=self._element_start,
            )


def _unexpected(wanted: str, data: bytes, at: int, base: int) -> InvalidStreamDataError:
    return InvalidStreamDataError(
        f"expected {wanted} in a JSON array body",
        data=data[at : at + EXCERPT_BYTES].decode("utf-8", "replace"),
        offset=base + at,
    )
