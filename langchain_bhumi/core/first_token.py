"""A limit on the wait for a stream's first content, keep-alives not counting.

A server can keep a stream open without ever answering: SSE comments (`: OPENROUTER
PROCESSING`), Anthropic `ping` events, or role-only chunks restart the idle timeout on
every read. `FirstTokenWatch` wraps a format's decoder and fails the stream when no
content event (text, reasoning, a refusal or a tool call) has come `limit` seconds after
the call started. It sits where events are produced, not where bytes are read: it sees
each network read through the framer it hands out (a read of comments only yields no
frame, so the decoder alone would not notice it) and each read's events through `feed`.
The clock is checked whenever a read arrives; a server that sends nothing at all is
stopped by the idle timeout instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from langchain_bhumi.core.decoding import StreamDecoder
from langchain_bhumi.core.events import (
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
)
from langchain_bhumi.core.framing import Frame, Framer

CONTENT_EVENTS = (TextDelta, ReasoningDelta, RefusalDelta, ToolCallDelta, ToolCallDone)
"""Events that count as the first token."""


class FirstTokenWatch:
    """A `StreamDecoder` that raises `error()` when `limit` seconds pass without content.

    Args:
        decoder: The format's decoder for this response.
        limit: Seconds from `started` until the first content event.
        error: Builds the exception to raise (a `BhumiTimeoutError` naming the phase).
        started: `time.monotonic()` when the call started (default: now).

    Example:
        ```python
        watch = FirstTokenWatch(protocol.stream_decoder(), 30.0, lambda: TimeoutError())
        for events in transport.stream(request, watch):
            ...
        ```
    """

    __slots__ = ("_deadline", "_decoder", "_error", "seen")

    def __init__(
        self,
        decoder: StreamDecoder,
        limit: float,
        error: Callable[[], Exception],
        started: float | None = None,
    ) -> None:
        self._decoder = decoder
        self._deadline = (time.monotonic() if started is None else started) + limit
        self._error = error
        self.seen = False

    def new_framer(self, content_type: str) -> Framer:
        return _WatchedFramer(self._decoder.new_framer(content_type), self)

    def feed(self, frames: list[Frame]) -> list[StreamEvent]:
        events = self._decoder.feed(frames)
        if not self.seen:
            if any(isinstance(event, CONTENT_EVENTS) for event in events):
                self.seen = True
            else:
                self.check()
        return events

    def close(self) -> list[StreamEvent]:
        return self._decoder.close()

    @property
    def ending(self) -> str:
        return self._decoder.ending

    def check(self) -> None:
        """Raise when the deadline has passed and no content has come."""
        if not self.seen and time.monotonic() > self._deadline:
            raise self._error()


class _WatchedFramer:
    """The format's framer; a read that completes no frame still checks the clock."""

    __slots__ = ("_framer", "_watch")

    def __init__(self, framer: Framer, watch: FirstTokenWatch) -> None:
        self._framer = framer
        self._watch = watch

    def feed(self, data: bytes) -> list[Frame]:
        frames = self._framer.feed(data)
        if not frames and not self._watch.seen:
            self._watch.check()
        return frames

    def flush(self) -> tuple[list[Frame], bool]:
        return self._framer.flush()

    @property
    def max_frame_size(self) -> int:
        return self._framer.max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, limit: int) -> None:
        self._framer.max_frame_size = limit


__all__ = ["CONTENT_EVENTS", "FirstTokenWatch"]
