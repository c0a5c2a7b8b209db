"""Parallel calls that share one provider id, in every wire format, split at any byte.

DeepSeek, GLM and Kimi endpoints have sent one id for two parallel calls; an agent given
one merged call (`{"c":"Paris"}{"c":"Tokyo"}`) or only the first runs the wrong tools. Each
body here is what such a server sends in its format (streamed, or one whole JSON answer),
cut at random byte offsets into network reads and read by `ChatBhumi` itself (its real
transport, framer, decoder and message builder, over `httpx.MockTransport`). The user
sees every call, whole, with its own arguments, under ids `id`, `id_2`, ...: the first call
keeps the provider's id, a later one sharing it gets the suffix of its position.

`test_toolcalls.py` holds the same property for the assembler alone, per fragment style.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk

from langchain_bhumi import ChatBhumi
from tests.support.server import split_at

Call = tuple[str, str, dict[str, Any]]
"""`(provider id, name, args)`."""


def sse(*payloads: dict[str, Any], event_lines: bool = False) -> bytes:
    """`data:` frames (with `event:` lines for formats that name their events)."""
    frames = []
    for payload in payloads:
        event = f"event: {payload['type']}\n" if event_lines else ""
        frames.append(f"{event}data: {json.dumps(payload)}\n\n")
    return "".join(frames).encode()


def halves(text: str) -> list[str]:
    """Arguments in two deltas, as servers stream them."""
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


# --- one body per format: streamed, and the same answer whole ----------------------------


def openai_stream(calls: list[Call], indexed: bool) -> bytes:
    """Chat completions; without `index` (Moonshot, Ollama) each call comes whole."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, args) in enumerate(calls):
        text = json.dumps(args)
        if not indexed:
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": text},
            }
            chunks.append(chunk({"tool_calls": [call]}))
            continue
        first, rest = halves(text)
        head = {"name": name, "arguments": first}
        call = {"index": index, "id": call_id, "type": "function", "function": head}
        chunks.append(chunk({"tool_calls": [call]}))
        chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": rest}}]}))
    chunks.append(chunk({}, "tool_calls"))
    return sse(*chunks) + b"data: [DONE]\n\n"


def openai_whole(calls: list[Call]) -> bytes:
    tool_calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, n, a in calls
    ]
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    return json.dumps(
        {"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice]}
    ).encode()


def anthropic_stream(calls: list[Call], indexed: bool) -> bytes:
    """Messages API: one `tool_use` block per call, each with its own block index."""
    usage = {"input_tokens": 10, "output_tokens": 1}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for index, (call_id, name, args) in enumerate(calls):
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        for piece in halves(json.dumps(args)):
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": "tool_use", "stop_sequence": None}
    events.append({"type": "message_delta", "delta": stop, "usage": {"output_tokens": 5}})
    events.append({"type": "message_stop"})
    return sse(*events, event_lines=True)


def anthropic_whole(calls: list[Call]) -> bytes:
    content = [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    return json.dumps(body).encode()


def _gemini_chunk(parts: list[dict[str, Any]], finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    return {"candidates": [candidate], "usageMetadata": usage}


def _gemini_parts(calls: list[Call]) -> list[dict[str, Any]]:
    return [{"functionCall": {"id": i, "name": n, "args": a}} for i, n, a in calls]


def gemini_stream(calls: list[Call], indexed: bool) -> bytes:
    """Gemini sends whole calls: all in one chunk, or (`indexed` False) one per chunk."""
    parts = _gemini_parts(calls)
    if indexed:
        return sse(_gemini_chunk(parts, finish=True))
    last = len(parts) - 1
    return sse(*(_gemini_chunk([part], finish=n == last) for n, part in enumerate(parts)))


def gemini_whole(calls: list[Call]) -> bytes:
    return json.dumps(_gemini_chunk(_gemini_parts(calls), finish=True)).encode()


def _responses_item(n: int, call: Call, arguments: str) -> dict[str, Any]:
    call_id, name, _ = call
    return {
        "id": f"fc_{n}",
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def _responses_body(calls: list[Call]) -> dict[str, Any]:
    output = [_responses_item(n, c, json.dumps(c[2])) for n, c in enumerate(calls)]
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    return {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "output": output,
        "usage": usage,
    }


def responses_stream(calls: list[Call], indexed: bool) -> bytes:
    """Responses API: one `function_call` item per output index, arguments as deltas;
    without `output_index` (llama.cpp) the items are told apart by their item id."""
    events: list[dict[str, Any]] = []
    for n, call in enumerate(calls):
        where = {"output_index": n} if indexed else {}
        item = _responses_item(n, call, "")
        events.append({"type": "response.output_item.added", **where, "item": item})
        for piece in halves(json.dumps(call[2])):
            delta = {"type": "response.function_call_arguments.delta", "delta": piece}
            events.append({**delta, **where, "item_id": f"fc_{n}"})
        done = _responses_item(n, call, json.dumps(call[2]))
        events.append({"type": "response.output_item.done", **where, "item": done})
    events.append({"type": "response.completed", "response": _responses_body(calls)})
    return sse(*events, event_lines=True)


def responses_whole(calls: list[Call]) -> bytes:
    return json.dumps(_responses_body(calls)).encode()


Builder = Callable[[list[Call], bool], bytes]
FORMATS: dict[str, tuple[str, dict[str, Any], Builder, Callable[[list[Call]], bytes]]] = {
    "openai_chat": ("deepseek/deepseek-chat", {}, openai_stream, openai_whole),
    "anthropic": ("anthropic/claude-sonnet-4-5", {}, anthropic_stream, anthropic_whole),
    "gemini": ("gemini/gemini-2.5-flash", {}, gemini_stream, gemini_whole),
    "openai_responses": (
        "openai/gpt-5",
        {"use_responses_api": True},
        responses_stream,
        responses_whole,
    ),
}


# --- ChatBhumi over a transport that answers with the pieces given ----------------------


class _Pieces(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces  # one network read each


class _Answer:
    """The body of the next response, already cut into network reads."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.content_type = "text/event-stream"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {"content-type": self.content_type}
        return httpx.Response(200, headers=headers, stream=_Pieces(self.pieces))


ANSWER = _Answer()
HTTP = httpx.Client(transport=httpx.MockTransport(ANSWER))
MODELS = {
    (name, streaming): ChatBhumi(
        model=model,
        api_key="sk-test",
        http_client=HTTP,
        max_retries=0,
        streaming=streaming,
        **options,
    )
    for name, (model, options, _, _) in FORMATS.items()
    for streaming in (True, False)
}

arguments = st.dictionaries(
    st.sampled_from(["city", "units", "days"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
    | st.integers(-5, 5),
    min_size=1,
    max_size=2,
)


@pytest.mark.parametrize("wire_format", FORMATS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(
        st.tuples(st.sampled_from(["get_weather", "get_time"]), arguments),
        min_size=2,
        max_size=4,
    ),
    shared=st.sampled_from(["all", "pairs"]),
    streaming=st.booleans(),
    indexed=st.booleans(),
    cuts=st.lists(st.integers(0, 100_000), max_size=12),
)
def test_calls_sharing_one_id_come_out_apart_with_unique_ids(
    wire_format: str,
    calls: list[tuple[str, dict[str, Any]]],
    shared: str,
    streaming: bool,
    indexed: bool,
    cuts: list[int],
) -> None:
    wire = [
        ("call_dup" if shared == "all" else f"call_{n // 2}", name, args)
        for n, (name, args) in enumerate(calls)
    ]
    _, _, stream_body, whole_body = FORMATS[wire_format]
    body = stream_body(wire, indexed) if streaming else whole_body(wire)
    ANSWER.pieces = split_at(body, sorted({cut % (len(body) + 1) for cut in cuts}))
    ANSWER.content_type = "text/event-stream" if streaming else "application/json"
    llm = MODELS[(wire_format, streaming)]

    if streaming:
        chunks = list(llm.stream("weather?"))
        message: AIMessage = sum(chunks[1:], chunks[0])  # type: ignore[assignment]
        assert isinstance(message, AIMessageChunk)
    else:
        message = llm.invoke("weather?")

    assert message.invalid_tool_calls == []
    assert [(c["name"], c["args"]) for c in message.tool_calls] == calls
    expected = []
    for position, (call_id, _, _) in enumerate(wire):
        first = next(n for n, w in enumerate(wire) if w[0] == call_id)
        expected.append(call_id if position == first else f"{call_id}_{position + 1}")
    assert [c["id"] for c in message.tool_calls] == expected
