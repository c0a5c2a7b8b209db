"""How long to wait and how often to retry: the transport's settings, apart from the transport.

`Timeouts`:
    `connect` bounds the TCP/TLS handshake; `idle` bounds the wait for the response
    headers and every gap between body reads of a stream (httpx's read timeout: no
    per-chunk timer); `response` bounds the wait for a non-streamed answer, which a
    server sends only once it has generated all of it; `headers` bounds the wait for a
    stream to start when it must differ from `idle`; `total`, when set, is an overall
    deadline checked after every read, with the read timeout clamped to the time left;
    `first_token`, when set, bounds the wait for a stream's first content (text,
    reasoning or a tool call; SSE comments and pings do not count), from the start of
    the call, checked whenever a network read arrives (`core.first_token`).

`RetryPolicy`: exponential backoff with full jitter, capped, honouring a server's
`Retry-After` up to a limit.

`DEFAULT_MAX_FRAME_SIZE`: the longest line, event or JSON element a response may hold
(and the largest non-streamed body); past it the read fails at once instead of buffering
without bound.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import httpx

DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
"""16 MiB: far above any real frame (a Gemini chunk with an inline image is a few MiB)."""


@dataclass(slots=True)
class Timeouts:
    """Seconds; `None` disables a limit."""

    connect: float | None = 10.0
    idle: float | None = 60.0
    total: float | None = None
    response: float | None = 600.0
    """Wait for a non-streamed answer, which arrives only once it is fully generated."""
    headers: float | None = None
    """Wait for a stream to start, when it differs from `idle` (a local server processes
    the whole prompt before it sends anything); `None` means `idle`."""
    first_token: float | None = None
    """Wait for a stream's first content event, keep-alives not counting; `None`: no limit."""

    def read_limit(self, *, stream: bool) -> float | None:
        """Longest wait for the headers (and, non-streamed, for the whole body)."""
        if not stream:
            if self.idle is None or self.response is None:
                return None
            return max(self.idle, self.response)
        return self.idle if self.headers is None else self.headers

    def for_request(self, started: float, *, stream: bool = True) -> httpx.Timeout:
        read = self.read_limit(stream=stream)
        if self.total is not None:
            left = max(0.001, self.total - (time.monotonic() - started))
            read = left if read is None else min(read, left)
        return httpx.Timeout(connect=self.connect, read=read, write=self.idle, pool=self.connect)


@dataclass(slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits up to `base * 2**n`, capped."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or `None` to give up."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


__all__ = ["DEFAULT_MAX_FRAME_SIZE", "RetryPolicy", "Timeouts"]
