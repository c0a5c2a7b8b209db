"""Body framing: raw bytes, split anywhere, in; whole frames out, one batch per network read.

`SSEFramer` uses httpx-sse's line and event decoders (which handle `data:` with or
without a space, CRLF and lone CR line endings, comment lines, `event:` and `id:` fields)
behind an incremental UTF-8 decoder, so a multi-byte character split across two reads is
decoded once, whole. Unlike `EventSource.iter_sse`, it returns everything one read
produced as one list: the caller can then turn one network read into one message chunk.
"""

from __future__ import annotations

import codecs
from typing import Protocol

from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from httpx_sse._models import ServerSentEvent

__all__ = ["WHOLE_BODY", "Frame", "Framer", "SSEFramer", "ServerSentEvent", "WholeBodyFramer"]

WHOLE_BODY = "whole-body"
"""Event name of the single frame a `WholeBodyFramer` produces."""

Frame = ServerSentEvent
"""One frame of a response body: `.event` (may be empty) and `.data`."""


class Framer(Protocol):
    """Turns body bytes into frames. `flush` is called once, at the end of the body."""

    def feed(self, data: bytes) -> list[Frame]: ...

    def flush(self) -> tuple[list[Frame], bool]:
        """Frames still buffered at the end of the body, and whether the body ended in
        the middle of one (a cut connection, or a server that omits the final newline)."""
        ...


class SSEFramer:
    """Server-sent events framing (`text/event-stream`)."""

    __slots__ = ("_events", "_lines", "_mid_event", "_text")

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = SSELineDecoder()
        self._events = SSEDecoder()
        self._mid_event = False

    def feed(self, data: bytes) -> list[Frame]:
        text = self._text.decode(data)
        if not text:
            return []
        lines = self._lines.decode(text)
        if not lines:
            return []
        self._mid_event = lines[-1] != ""
        decode = self._events.decode
        frames = []
        for line in lines:
            frame = decode(line)
            if frame is not None:
                frames.append(frame)
        return frames

    def flush(self) -> tuple[list[Frame], bool]:
        text = self._text.decode(b"", final=True)
        lines = self._lines.decode(text) if text else []
        lines.extend(self._lines.flush())
        if lines:
            self._mid_event = lines[-1] != ""
        unterminated = self._mid_event
        lines.append("")  # dispatch whatever event is still pending
        frames = []
        for line in lines:
            frame = self._events.decode(line)
            if frame is not None:
                frames.append(frame)
        return frames, unterminated and bool(frames)


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
