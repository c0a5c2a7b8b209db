"""Replay recorded HTTP exchanges (vcrpy cassettes) through ChatBhumi, offline.

The demo, the notebooks and your own tests can run a model against real recorded
streams with no network and no key: `replay_clients` gives an `httpx.Client` and an
`httpx.AsyncClient` that answer each request with the next recorded response whose
request matches (method, path and canonical JSON body), streaming SSE bodies frame by
frame, optionally paced so the output looks as it did live.

Example:
    ```python
    from langchain_bhumi import ChatBhumi
    from langchain_bhumi.replay import replay_clients

    client, aclient = replay_clients("cassettes/llamacpp/demo/agent.yaml", pace=0.02)
    llm = ChatBhumi(
        model="llamacpp/qwen2.5-coder-1.5b-instruct",
        http_client=client,
        http_async_client=aclient,
    )
    ```

Canonical bodies: keys sorted, and tool-call ids (which servers and ChatBhumi invent at
random) replaced by their order of appearance, so a conversation replays even though its
ids differ from the recorded ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from langchain_bhumi.core.errors import BhumiError

__all__ = ["ReplayMismatchError", "ReplayTransport", "canonical_body", "replay_clients"]

_ID_KEYS = frozenset({"tool_call_id", "tool_use_id"})
_CALL_CONTAINERS = frozenset({"tool_calls"})
_CALL_BLOCK_TYPES = frozenset({"tool_use", "function_call", "server_tool_use"})


class ReplayMismatchError(BhumiError):
    """No recorded exchange matches a request (or all matching ones were used)."""


def canonical_body(body: bytes | str | None) -> str:
    """A request body in a comparable form: sorted JSON with tool-call ids numbered.

    Non-JSON bodies are returned as text.
    """
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text
    ids: dict[str, str] = {}
    _collect_ids(data, ids, inside_calls=False)
    return json.dumps(_rename(data, ids), sort_keys=True, ensure_ascii=False)


def _collect_ids(value: Any, ids: dict[str, str], *, inside_calls: bool) -> None:
    if isinstance(value, dict):
        is_call = inside_calls or value.get("type") in _CALL_BLOCK_TYPES
        for key, item in value.items():
            if isinstance(item, str) and (key in _ID_KEYS or (key == "id" and is_call)):
                ids.setdefault(item, f"<id-{len(ids)}>")
            else:
                _collect_ids(item, ids, inside_calls=key in _CALL_CONTAINERS)
    elif isinstance(value, list):
        for item in value:
            _collect_ids(item, ids, inside_calls=inside_calls)


def _rename(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def load_cassette(path: str | Path) -> list[dict[str, Any]]:
    """The interactions of a vcrpy YAML cassette."""
    with open(path, encoding="utf-8") as file:
        data = yaml.safe_load(file) or {}
    interactions: list[dict[str, Any]] = data.get("interactions", [])
    return interactions


def _frames(body: bytes) -> list[bytes]:
    """An SSE body cut after each event (blank line), so replay streams event by event."""
    pieces, start = [], 0
    while True:
        end = body.find(b"\n\n", start)
        if end < 0:
            break
        pieces.append(body[start : end + 2])
        start = end + 2
    if start < len(body):
        pieces.append(body[start:])
    return pieces


class _PacedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes], pace: float) -> None:
        self._pieces = pieces
        self._pace = pace

    def __iter__(self) -> Iterator[bytes]:
        for number, piece in enumerate(self._pieces):
            if number and self._pace:
                time.sleep(self._pace)
            yield piece

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for number, piece in enumerate(self._pieces):
            if number and self._pace:
                await asyncio.sleep(self._pace)
            yield piece


class ReplayTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport that answers from recorded interactions, each used once.

    Args:
        interactions: vcrpy-format interactions (see `load_cassette`).
        pace: Seconds between two SSE events of a streamed body (0 for no delay).
    """

    def __init__(self, interactions: list[dict[str, Any]], pace: float = 0.0) -> None:
        self._interactions = interactions
        self._used = [False] * len(interactions)
        self._pace = pace
        self._canonical = [canonical_body(_body(i["request"].get("body"))) for i in interactions]

    @property
    def remaining(self) -> int:
        """How many recorded interactions have not been replayed yet."""
        return self._used.count(False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request, await request.aread())

    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        wanted = canonical_body(body)
        same_path = []
        for number, interaction in enumerate(self._interactions):
            recorded = interaction["request"]
            if self._used[number] or recorded["method"] != request.method:
                continue
            if httpx.URL(recorded["uri"]).path != request.url.path:
                continue
            same_path.append(number)
            if self._canonical[number] == wanted:
                self._used[number] = True
                return self._response(interaction["response"], request)
        raise ReplayMismatchError(
            _explain(request, wanted, [self._canonical[n] for n in same_path])
        )

    def _response(self, recorded: dict[str, Any], request: httpx.Request) -> httpx.Response:
        body = _body(recorded["body"].get("string"))
        headers = [(k, v) for k, values in recorded.get("headers", {}).items() for v in values]
        headers = [
            (k, v)
            for k, v in headers
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        ]
        is_sse = any(k.lower() == "content-type" and "event-stream" in v for k, v in headers)
        pieces = _frames(body) if is_sse else [body]
        return httpx.Response(
            recorded["status"]["code"],
            headers=headers,
            stream=_PacedStream(pieces, self._pace if is_sse else 0.0),
            request=request,
        )


def _body(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):  # vcrpy may store {"string": ...}
        return _body(value.get("string"))
    return str(value).encode()


def _explain(request: httpx.Request, wanted: str, candidates: list[str]) -> str:
    message = f"no recorded response left for {request.method} {request.url.path}"
    if not candidates:
        return message + " (nothing was recorded for this path)"
    closest = min(candidates, key=lambda c: _distance(c, wanted))
    at = next((i for i, (a, b) in enumerate(zip(closest, wanted, strict=False)) if a != b), None)
    if at is None:
        at = min(len(closest), len(wanted))
    return (
        f"{message}: the request body differs from the closest recording at character {at}: "
        f"recorded ...{closest[max(0, at - 60) : at + 60]!r}... "
        f"sent ...{wanted[max(0, at - 60) : at + 60]!r}..."
    )


def _distance(a: str, b: str) -> int:
    common = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return -common


def replay_clients(
    *cassettes: str | Path, pace: float = 0.0
) -> tuple[httpx.Client, httpx.AsyncClient]:
    """Sync and async httpx clients that replay the given cassettes, in order.

    Pass them to `ChatBhumi(http_client=..., http_async_client=...)`.
    """
    interactions = [i for path in cassettes for i in load_cassette(path)]
    transport = ReplayTransport(interactions, pace=pace)
    return httpx.Client(transport=transport), httpx.AsyncClient(transport=transport)
