"""Fuzz every stream decoder: whatever bytes a server sends, the result is a message or a
`BhumiError`, never another exception, never a hang.

Bodies go through the real `Transport` (over `httpx.MockTransport`, so framing, the end of
stream checks and the error locating are the production code) and the events through
`MessageBuilder`, for every client format in the registry: arbitrary bytes, mutations of
the recorded streams in `../shared/real-streams`, and arbitrary or mutated JSON bodies of
non-streamed answers. A few seconds per format.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_bhumi.core.config import RetryPolicy, Timeouts
from langchain_bhumi.core.errors import BhumiError
from langchain_bhumi.core.transport import HTTPRequest, Transport
from langchain_bhumi.message_builder import MessageBuilder
from langchain_bhumi.protocols import client_formats, get_protocol
from tests.fuzz._support import (
    byte_mutation,
    exchanges,
    fuzz,
    json_values,
    keys_of,
    mutate_bytes,
    mutated_json,
    no_hang,
    split,
)

FORMATS = client_formats()
CONTENT_TYPES = [
    "text/event-stream",
    "text/event-stream; charset=utf-8",
    "application/json",
    "",
    "text/html",
]


class _Body(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


class _Server:
    """Answers every request with the body and Content-Type set last."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.content_type = ""
        self.client = httpx.Client(transport=httpx.MockTransport(self.answer))

    def answer(self, request: httpx.Request) -> httpx.Response:
        headers = {"content-type": self.content_type} if self.content_type else {}
        return httpx.Response(200, headers=headers, stream=_Body(self.pieces))


_SERVER = _Server()
_TRANSPORT = Transport(
    provider="fuzz",
    timeouts=Timeouts(),
    retry=RetryPolicy(max_retries=0),
    http_client=_SERVER.client,
)


def stream_through(wire_format: str, content_type: str, pieces: list[bytes]) -> None:
    """Stream `pieces` as one response of `wire_format` into LangChain chunks."""
    _SERVER.pieces, _SERVER.content_type = pieces, content_type
    request = HTTPRequest(url="http://127.0.0.1:9/fuzz", headers={}, body={}, stream=True)
    builder = MessageBuilder()
    decoder = get_protocol(wire_format).stream_decoder()
    for events in _TRANSPORT.stream(request, decoder):
        builder.chunk(events)
    builder.final_chunk()


def answer_through(wire_format: str, body: bytes) -> None:
    """Read `body` as the non-streamed answer of `wire_format` into a LangChain message."""
    _SERVER.pieces, _SERVER.content_type = [body], "application/json"
    request = HTTPRequest(url="http://127.0.0.1:9/fuzz", headers={}, body={})
    protocol = get_protocol(wire_format)
    MessageBuilder().message(protocol.decode_response(_TRANSPORT.post(request)))


def survives(run: Any, *args: Any) -> None:
    """The property: `run` returns or raises a `BhumiError`, within the hang guard."""
    with no_hang(), contextlib.suppress(BhumiError):
        run(*args)


def recorded(wire_format: str) -> list[Any]:
    found = exchanges(wire_format)
    if not found:
        pytest.skip(f"no recorded {wire_format} exchanges (../shared/real-streams is absent)")
    return found


@pytest.mark.parametrize("wire_format", FORMATS)
@fuzz(200)
@given(
    body=st.binary(max_size=400),
    content_type=st.sampled_from(CONTENT_TYPES),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_arbitrary_bytes(wire_format: str, body: bytes, content_type: str, cuts: list[int]) -> None:
    survives(stream_through, wire_format, content_type, split(body, cuts))


@pytest.mark.parametrize("wire_format", FORMATS)
@fuzz(300)
@given(data=st.data())
def test_mutated_recorded_streams(wire_format: str, data: st.DataObject) -> None:
    """Bytes flipped, dropped, duplicated or inserted, lines cut, bodies truncated, split
    anywhere; sometimes under another Content-Type."""
    exchange = data.draw(st.sampled_from(recorded(wire_format)))
    body = mutate_bytes(exchange.body, data.draw(st.lists(byte_mutation, min_size=1, max_size=4)))
    content_type = data.draw(st.sampled_from([exchange.content_type, *CONTENT_TYPES]))
    cuts = data.draw(st.lists(st.integers(0, len(body) + 1), max_size=8))
    survives(stream_through, wire_format, content_type, split(body, cuts))


@pytest.mark.parametrize("wire_format", FORMATS)
@fuzz(80)
@given(data=st.data())
def test_mutated_recorded_json_bodies(wire_format: str, data: st.DataObject) -> None:
    """Non-streamed answers: recorded bodies with values replaced by any JSON, deleted,
    wrapped or stringified, and any JSON at all."""
    documents = [json.loads(e.body) for e in exchanges(wire_format) if not e.is_sse]
    keys = keys_of(documents)
    if documents and data.draw(st.booleans()):
        body: Any = data.draw(mutated_json(documents, keys))
    else:
        body = data.draw(json_values(keys))
    survives(answer_through, wire_format, json.dumps(body).encode())


@pytest.mark.parametrize("wire_format", FORMATS)
@fuzz(80)
@given(data=st.data())
def test_recorded_events_with_mutated_json(wire_format: str, data: st.DataObject) -> None:
    """Streams whose frames are valid JSON of the wrong shape: each recorded `data:` line
    of an SSE stream may be replaced by a mutation of itself."""
    exchange = data.draw(st.sampled_from([e for e in recorded(wire_format) if e.is_sse] or [None]))
    if exchange is None:
        pytest.skip(f"no recorded {wire_format} SSE streams")
    lines = exchange.body.split(b"\n")
    documents: dict[int, Any] = {}
    for number, line in enumerate(lines):
        if line.startswith(b"data:"):
            with contextlib.suppress(ValueError):
                documents[number] = json.loads(line[5:])
    keys = keys_of(list(documents.values()))
    for number in data.draw(st.lists(st.sampled_from(sorted(documents)), max_size=3)):
        value = data.draw(mutated_json([documents[number]], keys))
        lines[number] = b"data: " + json.dumps(value).encode()
    survives(stream_through, wire_format, exchange.content_type, [b"\n".join(lines)])


# What the fuzzer found on the last release (each raised AttributeError, TypeError or a
# pydantic ValidationError, or reached LangChain with a list where text belongs): frames
# of valid JSON in a shape the format does not have.
FOUND = [
    ("openai_chat", {"choices": ["x"]}),
    ("openai_chat", {"choices": [{"delta": "x"}]}),
    ("openai_chat", {"choices": [{"delta": {"content": {"text": "x"}}}]}),
    ("openai_chat", {"choices": [{"delta": {"refusal": ["x"]}}]}),
    ("openai_chat", {"choices": [{"delta": {"tool_calls": ["x"]}}]}),
    ("openai_chat", {"choices": [{"delta": {"tool_calls": [{"index": [0]}]}}]}),
    ("openai_chat", {"choices": [{"delta": {"tool_calls": [{"id": ["a"], "index": 0}]}}]}),
    ("openai_chat", {"choices": [{"delta": {}, "finish_reason": ["stop"]}]}),
    ("openai_chat", {"choices": [], "usage": {"prompt_tokens": [1]}}),
    ("openai_chat", {"choices": [], "usage": {"prompt_tokens_details": "x"}}),
    ("anthropic", {"type": "content_block_delta", "index": [0], "delta": {}}),
    ("anthropic", {"type": "content_block_delta", "index": 0, "delta": "x"}),
    ("anthropic", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": [1]}}),
    ("anthropic", {"type": "content_block_start", "index": 0, "content_block": "x"}),
    ("anthropic", {"type": "message_start", "message": {"usage": {"input_tokens": "x"}}}),
    ("gemini", {"candidates": [["x"]]}),
    ("gemini", {"candidates": 1}),
    ("gemini", {"candidates": [{"content": {"parts": ["x"]}}]}),
    ("gemini", {"candidates": [{"content": {"parts": [{"text": {"a": 1}}]}}]}),
    (
        "gemini",
        {"candidates": [{"finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": [1]}},
    ),
]


END_MARKERS = {
    "openai_chat": b"data: [DONE]\n\n",
    "anthropic": b'data: {"type": "message_stop"}\n\n',
}
"""So that a frame read only at the end of the stream (usage) is read."""


@pytest.mark.parametrize(("wire_format", "frame"), FOUND)
def test_what_the_fuzzer_found_is_invalid_data(wire_format: str, frame: dict[str, Any]) -> None:
    from langchain_bhumi.core.errors import InvalidStreamDataError

    if wire_format not in FORMATS:
        pytest.skip(f"{wire_format} is not registered")
    body = f"data: {json.dumps(frame)}\n\n".encode() + END_MARKERS.get(wire_format, b"")
    with pytest.raises(InvalidStreamDataError, match="shape the decoder cannot read"):
        stream_through(wire_format, "text/event-stream", [body])
