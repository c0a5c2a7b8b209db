"""Provider data that must travel with a tool call, kept for the next turn.

Gemini 3 wants each function call's thought signature back; an OpenAI or Anthropic client
has nowhere to keep it and sends back only the call's id, name and arguments. The proxy
remembers `id -> extras` from responses and puts them back on the assistant messages of
later requests: in memory (bounded, oldest dropped first) and, when a file is configured,
in SQLite (stdlib `sqlite3`, WAL mode), which survives a restart and is shared by the
worker processes of one proxy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.core.events import StreamEvent, ToolCallDone
from langchain_bhumi.protocols.base import TOOL_CALL_EXTRAS, ChatRequest

logger = logging.getLogger("langchain_bhumi.proxy")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS call_extras "
    "(id TEXT PRIMARY KEY, extras TEXT NOT NULL, seq INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS call_extras_seq ON call_extras (seq)",
)
_INSERT = (
    "INSERT OR REPLACE INTO call_extras (id, extras, seq) "
    "VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_extras))"
)
_TRIM = "DELETE FROM call_extras WHERE seq <= (SELECT MAX(seq) FROM call_extras) - ?"
_SQL_VARIABLES = 500  # ids per lookup, well under SQLite's limit on bound parameters


class _Bounded(OrderedDict[str, Any]):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def keep(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.capacity:
            self.popitem(last=False)


class SQLiteExtras:
    """The persistent half of `CallExtrasCache`: one table, at most `capacity` rows."""

    def __init__(self, path: str | Path, capacity: int) -> None:
        self.path = str(path)
        self.capacity = capacity
        try:
            # One connection per process, used from the event loop's thread only (the app
            # may be built on another thread than the one that serves it).
            self._db = sqlite3.connect(
                self.path, timeout=2.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"[server].signature_store: cannot use {self.path} as a SQLite file: {exc}"
            ) from exc

    def put(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        rows = [(call_id, json.dumps(extras)) for call_id, extras in items]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_INSERT, rows)
                self._db.execute(_TRIM, (self.capacity,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            logger.warning(
                "signature store %s: could not save %d calls: %s", self.path, len(rows), exc
            )

    def get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(ids), _SQL_VARIABLES):
                batch = ids[start : start + _SQL_VARIABLES]
                marks = ",".join("?" * len(batch))
                query = f"SELECT id, extras FROM call_extras WHERE id IN ({marks})"  # noqa: S608
                for call_id, extras in self._db.execute(query, batch):
                    found[call_id] = json.loads(extras)
        except (sqlite3.Error, ValueError) as exc:
            logger.warning("signature store %s: lookup failed: %s", self.path, exc)
        return found

    def count(self) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM call_extras").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


class CallExtrasCache:
    """`tool call id -> provider data`, remembered from responses, restored into requests.

    Args:
        capacity: Calls kept in memory, the oldest dropped first.
        path: A SQLite file that keeps them across restarts and worker processes.
        file_capacity: Calls kept in the file, the oldest dropped first.

    Example:
        ```python
        cache = CallExtrasCache(path="/var/lib/bhumi/signatures.sqlite")
        cache.remember(events)  # a response's events: calls with extras are kept
        chat = cache.restore(chat)  # later: the extras are back on the calls' messages
        ```
    """

    def __init__(
        self,
        capacity: int = 10_000,
        path: str | Path | None = None,
        file_capacity: int = 100_000,
    ) -> None:
        self.capacity = capacity
        self._extras = _Bounded(capacity)
        # Ids looked up in the file and not found. A call is stored before the client sees
        # it, so an id that is not there when the client sends it back never will be.
        self._missing = _Bounded(capacity)
        self.store = SQLiteExtras(path, file_capacity) if path is not None else None

    def remember(self, events: Iterable[StreamEvent]) -> None:
        """Keep the extras of every finished call in `events`."""
        saved: list[tuple[str, dict[str, Any]]] = []
        for event in events:
            if type(event) is ToolCallDone and event.extras:
                self._extras.keep(event.id, event.extras)
                saved.append((event.id, event.extras))
        if saved and self.store is not None:
            self.store.put(saved)

    def restore(self, chat: ChatRequest) -> ChatRequest:
        """`chat` with the remembered extras back on the tool calls of its AI messages
        (extras the client sent itself win)."""
        calls = [
            call["id"]
            for message in chat.messages
            if isinstance(message, AIMessage)
            for call in message.tool_calls
            if call["id"]
        ]
        if not calls:
            return chat
        self._load([call_id for call_id in calls if call_id not in self._extras])
        if not self._extras:
            return chat
        messages = list(chat.messages)
        changed = False
        for number, message in enumerate(messages):
            if not isinstance(message, AIMessage) or not message.tool_calls:
                continue
            known = dict(message.additional_kwargs.get(TOOL_CALL_EXTRAS) or {})
            restored = {
                call_id: {**self._extras[call_id], **known.get(call_id, {})}
                for call_id in (call["id"] for call in message.tool_calls)
                if call_id is not None and call_id in self._extras
            }
            if restored:
                kwargs = {**message.additional_kwargs, TOOL_CALL_EXTRAS: {**known, **restored}}
                messages[number] = message.model_copy(update={"additional_kwargs": kwargs})
                changed = True
        return dataclasses.replace(chat, messages=messages) if changed else chat

    def _load(self, ids: list[str]) -> None:
        if self.store is None:
            return
        wanted = [call_id for call_id in ids if call_id not in self._missing]
        if not wanted:
            return
        found = self.store.get(wanted)
        for call_id in wanted:
            if call_id in found:
                self._extras.keep(call_id, found[call_id])
            else:
                self._missing.keep(call_id, True)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


__all__ = ["CallExtrasCache", "SQLiteExtras"]
