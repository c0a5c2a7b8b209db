"""Fuzz every proxy frontend's request decoder: whatever JSON a client sends, the result
is a request or a `RequestDecodeError` (a 400 in the frontend's own error format), never
another exception (a 500 with a traceback), never a hang.

Inputs: the request bodies recorded in `../shared/real-streams` with values replaced by
any JSON, deleted, wrapped in lists or turned into strings, and arbitrary JSON keyed by
the fields those bodies use. Every server format in the registry; a few seconds each.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_bhumi.protocols import get_server_codec, server_formats
from langchain_bhumi.protocols.base import RequestDecodeError
from tests.fuzz._support import (
    fuzz,
    json_values,
    keys_of,
    mutated_json,
    no_hang,
    recorded_requests,
)

FORMATS = server_formats()


def decode(wire_format: str, body: Any, model: str | None, stream: bool | None) -> None:
    get_server_codec(wire_format).decode_request(body, model=model, stream=stream)


def survives(run: Any, *args: Any) -> None:
    """The property: `run` returns or raises `RequestDecodeError`, within the hang guard."""
    with no_hang(), contextlib.suppress(RequestDecodeError):
        run(*args)


@pytest.mark.parametrize("wire_format", FORMATS)
@fuzz(100)
@given(data=st.data())
def test_mutated_recorded_requests(wire_format: str, data: st.DataObject) -> None:
    documents = recorded_requests(wire_format)
    if not documents:
        pytest.skip(f"no recorded {wire_format} requests (../shared/real-streams is absent)")
    body = data.draw(mutated_json(documents, keys_of(documents)))
    if not isinstance(body, dict):
        body = {"contents": body, "messages": body}
    model = data.draw(st.sampled_from([None, "m"]))
    stream = data.draw(st.sampled_from([None, True, False]))
    survives(decode, wire_format, body, model, stream)


@pytest.mark.parametrize("wire_format", FORMATS)
@fuzz(50)
@given(data=st.data())
def test_arbitrary_json(wire_format: str, data: st.DataObject) -> None:
    """Any JSON object (the proxy answers 400 itself for a body that is not one)."""
    keys = keys_of(recorded_requests(wire_format))
    names = st.sampled_from(keys) | st.text(max_size=6) if keys else st.text(max_size=6)
    body = data.draw(st.dictionaries(names, json_values(keys), max_size=8))
    model = data.draw(st.sampled_from([None, "m"]))
    survives(decode, wire_format, body, model, data.draw(st.sampled_from([None, True])))


USER = {"role": "user", "content": "hi"}

# What the fuzzer found on the last release: each was an AttributeError, TypeError or a
# pydantic ValidationError (an HTTP 500 with a traceback) instead of a 400.
FOUND = [
    ("openai_chat", {"model": "m", "messages": [USER], "stream_options": ["x"]}),
    ("openai_chat", {"model": "m", "messages": [USER], "tools": 1.5}),
    ("openai_chat", {"model": "m", "messages": [{"role": "assistant", "tool_calls": [["x"]]}]}),
    (
        "openai_chat",
        {
            "model": "m",
            "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": {}}}]}],
        },
    ),
    (
        "openai_chat",
        {"model": "m", "messages": [USER], "tool_choice": {"type": "function", "function": ["f"]}},
    ),
    ("openai_chat", {"model": "m", "messages": [{"role": "system", "content": "x", "name": {}}]}),
    ("openai_chat", {"model": "m", "messages": [{"role": "user", "content": [1, 2]}]}),
    (
        "gemini",
        {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": ["ANY"]}},
        },
    ),
]


@pytest.mark.parametrize(("wire_format", "body"), FOUND)
def test_what_the_fuzzer_found_is_a_bad_request(wire_format: str, body: dict[str, Any]) -> None:
    with pytest.raises(RequestDecodeError):
        decode(wire_format, body, "m" if wire_format == "gemini" else None, None)
