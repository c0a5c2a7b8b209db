"""Tool-call ids as each provider accepts them, so a conversation can change providers.

A conversation keeps the ids its providers gave (`call_...` from OpenAI, `toolu_...` from
Anthropic, `functions.get_weather:0` from Kimi). Some providers refuse ids of another
shape: Mistral takes exactly 9 characters of `[a-zA-Z0-9]` (HTTP 400 otherwise),
Anthropic `^[a-zA-Z0-9_-]+$`, OpenAI at most 40 characters (64 in its Responses API).
A `ToolIdRule` says what one provider (or wire format) accepts; a `ToolIdMap` applies it
to one request's history, calls and results alike, so each result still pairs with its
call.

The rewriting is deterministic: an id the rule accepts is kept; any other id becomes a
function of itself only (a sanitized prefix where the rule allows one, and a hash), so
the same original id maps to the same id in every request, and a conversation's earlier
turns look the same to the provider each time (prompt caches keep working). Two
different ids that would map to one (a hash collision, or an accepted id equal to a
rewritten one) get another candidate within the request: every id sent is distinct.
Only the wire changes: the messages keep their original ids.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

ALPHANUMERIC = frozenset(string.ascii_letters + string.digits)
"""`[a-zA-Z0-9]`."""

_BASE62 = string.digits + string.ascii_letters
_HASH_CHARS = 8  # 47 bits: the suffix that keeps sanitized ids apart


@dataclass(frozen=True, slots=True)
class ToolIdRule:
    """The tool-call ids one provider accepts.

    Attributes:
        alphabet: The characters allowed (`None`: any). Must include `[a-zA-Z0-9]`,
            which rewritten ids are made of.
        max_length: The longest id accepted (`None`: no limit).
        length: The exact length required (Mistral: 9); rewritten ids are then a pure
            hash, since no readable prefix fits.

    Example:
        ```python
        MISTRAL = ToolIdRule(alphabet=ALPHANUMERIC, length=9)
        MISTRAL.accepts("call_abc")  # False
        ToolIdMap(MISTRAL)("call_abc")  # 'k3ZpQ0aXb' (always the same 9 characters)
        ```
    """

    alphabet: frozenset[str] | None = None
    max_length: int | None = None
    length: int | None = None

    def __post_init__(self) -> None:
        if self.alphabet is not None and not self.alphabet >= ALPHANUMERIC:
            raise ValueError("a tool id alphabet must include [a-zA-Z0-9]")
        if self.max_length is not None and self.max_length < _HASH_CHARS + 2:
            raise ValueError(f"max_length must be at least {_HASH_CHARS + 2}")

    def accepts(self, call_id: str) -> bool:
        """Whether the provider takes `call_id` as it is."""
        if not call_id:
            return False
        if self.length is not None and len(call_id) != self.length:
            return False
        if self.max_length is not None and len(call_id) > self.max_length:
            return False
        alphabet = self.alphabet
        return alphabet is None or all(c in alphabet for c in call_id)

    def rewrite(self, call_id: str, attempt: int = 0) -> str:
        """An accepted id derived from `call_id` alone; `attempt` draws another one."""
        digest = _base62(hashlib.sha256(f"{attempt}:{call_id}".encode()).digest())
        if self.length is not None:
            return digest[: self.length]
        alphabet = self.alphabet
        readable = call_id or "call"
        if alphabet is not None:
            readable = "".join(c if c in alphabet else "_" for c in readable)
        separator = "_" if alphabet is None or "_" in alphabet else ""
        suffix = separator + digest[:_HASH_CHARS]
        if self.max_length is not None:
            readable = readable[: self.max_length - len(suffix)]
        return readable + suffix


class ToolIdMap:
    """The ids of one request under a rule: an id maps to the same id every time it
    appears (a call and its result pair up), and distinct ids never map to one.

    Without a rule ids pass through (a missing id becomes `""`).
    """

    __slots__ = ("_ids", "_rule", "_used")

    def __init__(self, rule: ToolIdRule | None) -> None:
        self._rule = rule
        self._ids: dict[str, str] = {}
        self._used: set[str] = set()

    def __call__(self, call_id: str | None) -> str:
        original = call_id or ""
        rule = self._rule
        if rule is None:
            return original
        known = self._ids.get(original)
        if known is not None:
            return known
        candidate = original if rule.accepts(original) else rule.rewrite(original)
        attempt = 0
        while candidate in self._used:
            attempt += 1
            candidate = rule.rewrite(original, attempt)
        self._ids[original] = candidate
        self._used.add(candidate)
        return candidate


def _base62(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars: list[str] = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars) or "0"


__all__ = ["ALPHANUMERIC", "ToolIdMap", "ToolIdRule"]
