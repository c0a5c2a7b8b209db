"""Replay mechanics shared by the conformance modules: where to cut a recorded body, how
to serve it, how to read a model's stream to its end or its error, and how LangChain
would sum the chunks a model streamed."""

from __future__ import annotations

import functools
import operator
import random
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk

from langchain_bhumi import BhumiError, ChatBhumi
from tests.support.server import Scripted, ScriptedServer, split_at

MESSAGES: list[tuple[str, str]] = [("human", "Replay the recorded answer, please.")]
"""The one user turn every replay sends."""


class Recorded(Protocol):
    """What the replay needs of a recorded exchange, whatever its wire format."""

    @property
    def name(self) -> str: ...

    @property
    def body(self) -> bytes: ...

    @property
    def status(self) -> int: ...

    @property
    def is_sse(self) -> bool: ...

    @property
    def content_type(self) -> str: ...


R = TypeVar("R", bound=Recorded)


def recordings_only(root: Path, env_var: str) -> pytest.MarkDecorator:
    """Skip a test about the recorded exchanges themselves when their folder is absent;
    the synthetic streams (`synthetic/`) are replayed either way."""
    return pytest.mark.skipif(
        not root.is_dir(),
        reason=f"recorded real streams not found at {root} (set {env_var} to their folder)",
    )


def by_outcome(
    exchanges: Sequence[R], streamed: Callable[[R], bool] = lambda e: e.is_sse
) -> tuple[list[R], list[R], list[R]]:
    """The exchanges split into streamed answers, whole answers and failures (non-200)."""
    answered = [e for e in exchanges if e.status == 200]
    return (
        [e for e in answered if streamed(e)],
        [e for e in answered if not streamed(e)],
        [e for e in exchanges if e.status != 200],
    )


def params(exchanges: Sequence[R], id_of: Callable[[R], str] = lambda e: e.name) -> list[Any]:
    """One `pytest.param` an exchange, with its test id."""
    return [pytest.param(e, id=id_of(e)) for e in exchanges]


def cut_points(rng: random.Random, body: bytes) -> list[int]:
    """Random cut offsets, plus up to 8 inside multi-byte UTF-8 characters."""
    size = len(body)
    if size < 2:
        return []
    count = rng.randint(1, max(1, min(160, size // 24)))
    points = {rng.randrange(1, size) for _ in range(count)}
    inside = [i + 1 for i, byte in enumerate(body) if byte >= 0xC0 and i + 1 < size]
    points.update(rng.sample(inside, min(8, len(inside))))
    return sorted(points)


def cut_by_seed(seed: str, body: bytes) -> list[bytes]:
    """`body` cut at random offsets drawn from a generator seeded by `seed`."""
    return split_at(body, cut_points(random.Random(zlib.crc32(seed.encode())), body))


def cut_for_mode(name: str, modes: Sequence[str], mode: str, body: bytes) -> list[bytes]:
    """`body` cut for one of `modes`: one generator seeded by `name` draws the cuts of
    every mode in turn, so each mode's cuts depend only on the name and the mode."""
    rng = random.Random(zlib.crc32(name.encode()))
    for candidate in modes:
        points = cut_points(rng, body)
        if candidate == mode:
            return split_at(body, points)
    raise AssertionError(f"unknown mode {mode!r}")


def serve_parts(server: ScriptedServer, exchange: Recorded, parts: list[bytes]) -> None:
    """Queue the recorded status and content type with the body in `parts`."""
    server.enqueue(
        Scripted(status=exchange.status, parts=parts, content_type=exchange.content_type)
    )


def collect(llm: ChatBhumi) -> tuple[list[AIMessageChunk], BhumiError | None]:
    """`llm.stream` to the end or to its error, keeping the chunks delivered before it."""
    chunks: list[AIMessageChunk] = []
    try:
        for chunk in llm.stream(MESSAGES):
            chunks.append(chunk)
    except BhumiError as exc:
        return chunks, exc
    return chunks, None


async def acollect(llm: ChatBhumi) -> tuple[list[AIMessageChunk], BhumiError | None]:
    """`llm.astream` to the end or to its error, keeping the chunks delivered before it."""
    chunks: list[AIMessageChunk] = []
    try:
        async for chunk in llm.astream(MESSAGES):
            chunks.append(chunk)
    except BhumiError as exc:
        return chunks, exc
    return chunks, None


def aggregate(chunks: list[AIMessageChunk]) -> AIMessage:
    """Chunks summed with `+`, as LangChain does, as a plain message."""
    total = functools.reduce(operator.add, chunks)
    assert isinstance(total, AIMessageChunk)
    return AIMessage(
        content=total.content,
        additional_kwargs=total.additional_kwargs,
        response_metadata=total.response_metadata,
        tool_calls=total.tool_calls,
        invalid_tool_calls=total.invalid_tool_calls,
        usage_metadata=total.usage_metadata,
        id=total.id,
    )
