"""Proxy keys: who may use the proxy, and how much.

A client presents its key the way its API does (`Authorization: Bearer`, `x-api-key`,
`x-goog-api-key`, `?key=`); every frontend accepts every one of these, since clients mix
them (Claude Code sends `Authorization: Bearer` with `ANTHROPIC_AUTH_TOKEN`). The key is
checked against every configured key in constant time, and its optional limits (requests
per minute, requests in flight) are kept here, per worker process.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import deque
from urllib.parse import parse_qsl

from starlette.types import Scope

from langchain_bhumi.proxy.config import ProxyKey

_KEY_HEADERS = (b"x-api-key", b"x-goog-api-key", b"api-key")


def presented_key(scope: Scope) -> str | None:
    """The credential an HTTP request carries, in any API's convention, or `None`."""
    found: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        if name == b"authorization" or name in _KEY_HEADERS:
            found.setdefault(name, value)
    auth = found.get(b"authorization", b"")
    if auth[:7].lower() == b"bearer " and auth[7:].strip():
        return auth[7:].strip().decode("latin-1")
    for name in _KEY_HEADERS:
        if found.get(name):
            return found[name].decode("latin-1")
    query = scope.get("query_string") or b""
    if b"key=" in query:
        for name, value in parse_qsl(query.decode("latin-1")):
            if name == "key" and value:
                return str(value)
    return None


def _digest(secret: str) -> bytes:
    # Comparing digests keeps the comparison's time independent of the key's length too.
    return hashlib.sha256(secret.encode()).digest()


class KeyState:
    """One configured key, and what it is doing now (for its limits)."""

    __slots__ = ("active", "digest", "key", "recent")

    def __init__(self, key: ProxyKey) -> None:
        self.key = key
        self.digest = _digest(key.secret)
        self.recent: deque[float] = deque()  # start times within the last minute
        self.active = 0

    @property
    def name(self) -> str:
        return self.key.name

    def admit(self, now: float | None = None) -> float | None:
        """Count one request against the per-minute limit: `None` when it may go, else
        the seconds until it could (it is then not counted)."""
        limit = self.key.requests_per_minute
        if limit is None:
            return None
        now = time.monotonic() if now is None else now
        recent = self.recent
        while recent and recent[0] <= now - 60.0:
            recent.popleft()
        if len(recent) >= limit:
            return max(1.0, math.ceil(recent[0] + 60.0 - now))
        recent.append(now)
        return None

    def enter(self) -> bool:
        """Take one of the key's concurrent requests; `False` when all are taken."""
        limit = self.key.max_concurrent
        if limit is not None and self.active >= limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1


class KeyRing:
    """The configured proxy keys. Empty: the proxy is open (see `config.check_exposure`)."""

    def __init__(self, keys: tuple[ProxyKey, ...]) -> None:
        self._states = tuple(KeyState(key) for key in keys)

    def __bool__(self) -> bool:
        return bool(self._states)

    def match(self, presented: str | None) -> KeyState | None:
        """The key `presented` is, compared with every configured key in constant time."""
        if not presented or not self._states:
            return None
        candidate = _digest(presented)
        found: KeyState | None = None
        for state in self._states:  # no early exit: the time does not say which key matched
            if hmac.compare_digest(candidate, state.digest):
                found = state
        return found


__all__ = ["KeyRing", "KeyState", "presented_key"]
