"""Replay mechanics shared by the conformance modules: where to cut a recorded body, and
how LangChain would sum the chunks a model streamed."""

from __future__ import annotations

import functools
import operator
import random
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk


def recordings_only(root: Path, env_var: str) -> pytest.MarkDecorator:
    """Skip a test about the recorded exchanges themselves when their folder is absent;
    the synthetic streams (`synthetic/`) are replayed either way."""
    return pytest.mark.skipif(
        not root.is_dir(),
        reason=f"recorded real streams not found at {root} (set {env_var} to their folder)",
    )


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
