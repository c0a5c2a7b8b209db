"""The benchmark's workloads, shared by the server and the clients.

Everything is deterministic: the server builds its response bodies from these functions
and the clients check what they assembled against the same functions.

A scenario travels in the URL path, so every client (raw httpx, ChatBhumi, ChatOpenAI,
ChatAnthropic) selects it through its base URL alone: `POST /<kind>/<n>/<pace_ms>/v1/
chat/completions` (OpenAI's format) or `.../v1/messages` (Anthropic's), where `kind` is
`text` (n content chunks) or `tools` (two parallel tool calls whose arguments arrive as
n fragments in total, alternating between the calls in OpenAI's format).
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from typing import Any

MODEL = "bench"
CREATED = 1_700_000_000
WORDS: tuple[str, ...] = (" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy")
WORDS += (" dog", ",", " and", " then", " it", " runs", " away", " to", " café", " 東京", ".", "\n")
TOOL_NAMES = ("search_documents", "write_file")
TOOL_IDS = ("call_bench_search_0001", "call_bench_write_0002")


@dataclass(frozen=True, slots=True)
class Sizes:
    """Scenario sizes (the issue's full sizes by default)."""

    s1_chunks: int = 20_000
    s2_fragments: int = 10_000
    s3_requests: int = 500
    s3_chunks: int = 5
    s4_streams: int = 256
    s4_chunks: int = 100
    s4_pace_ms: int = 20


FULL = Sizes()
QUICK = Sizes(s1_chunks=2_000, s2_fragments=1_000, s3_requests=50, s4_streams=32, s4_chunks=20)


def scenario_path(kind: str, n: int, pace_ms: int = 0) -> str:
    """The URL path prefix that selects a scenario (a client appends `/chat/completions`)."""
    return f"/{kind}/{n}/{pace_ms}/v1"


def text_tokens(n: int) -> list[str]:
    """The n content deltas of a text stream."""
    return [WORDS[i % len(WORDS)] for i in range(n)]


def expected_text(n: int) -> str:
    """The full answer text of an n-chunk text stream."""
    return "".join(text_tokens(n))


def tool_arguments(index: int, fragments: int) -> dict[str, Any]:
    """The arguments object of parallel call `index`, sized for `fragments` fragments."""
    if index == 0:
        items = [
            {"id": k, "title": f"Document {k}", "tags": ["a", "b"], "score": k / 7}
            for k in range(max(1, fragments // 12))
        ]
        return {"query": "quarterly report für München", "filters": {"top_k": 5}, "hits": items}
    lines = [f"line {k}: the quick brown fox 東京 {k * k}" for k in range(max(1, fragments // 9))]
    return {"path": "notes/out.txt", "mode": "overwrite", "lines": lines}


def split_fragments(text: str, count: int, seed: int) -> list[str]:
    """Split `text` into exactly `count` non-empty pieces of a few characters each."""
    if len(text) < count:
        raise ValueError(f"text of {len(text)} characters cannot make {count} fragments")
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), count - 1))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def tool_fragments(total: int) -> tuple[list[str], list[str]]:
    """Argument fragments of the two parallel calls (`total` in all, half each)."""
    half = total // 2
    out = []
    for index in range(2):
        text = json.dumps(tool_arguments(index, half), ensure_ascii=False)
        out.append(split_fragments(text, half, seed=index))
    return out[0], out[1]


def _envelope(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
        "choices": choices,
        **extra,
    }


def _choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def _usage(completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 12,
        "completion_tokens": completion,
        "total_tokens": 12 + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def sse_events(kind: str, n: int) -> list[bytes]:
    """The SSE events of one response (OpenAI chat-completions streaming format).

    Returns:
        One `data: ...\\n\\n` event per list item: a role chunk, the n content chunks or
        tool-call fragments, a finish chunk, a usage chunk with empty `choices`, `[DONE]`.
    """
    chunks: list[dict[str, Any]] = [_envelope([_choice({"role": "assistant", "content": ""})])]
    if kind == "text":
        chunks.extend(_envelope([_choice({"content": tok})]) for tok in text_tokens(n))
        finish = "stop"
    elif kind == "tools":
        first, second = tool_fragments(n)
        for index in range(2):
            call = {
                "index": index,
                "id": TOOL_IDS[index],
                "type": "function",
                "function": {"name": TOOL_NAMES[index], "arguments": ""},
            }
            chunks.append(_envelope([_choice({"tool_calls": [call]})]))
        for a, b in zip(first, second, strict=True):
            for index, piece in ((0, a), (1, b)):
                call = {"index": index, "function": {"arguments": piece}}
                chunks.append(_envelope([_choice({"tool_calls": [call]})]))
        finish = "tool_calls"
    else:
        raise ValueError(f"unknown scenario kind {kind!r}")
    chunks.append(_envelope([_choice({}, finish)]))
    chunks.append(_envelope([], usage=_usage(n)))
    events = [
        b"data: " + json.dumps(c, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
        for c in chunks
    ]
    events.append(b"data: [DONE]\n\n")
    return events


def _anthropic_event(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


def anthropic_events(kind: str, n: int) -> list[bytes]:
    """The same response in Anthropic's Messages streaming format (`/v1/messages`).

    Text: one text block, one `text_delta` per token. Tools: one `tool_use` block per
    call with the same fragments as `input_json_delta` events, the first call's block
    closed before the second opens (Anthropic never interleaves blocks).
    """
    message = {
        "id": "msg_bench00000000000000000000",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events = [{"type": "message_start", "message": message}]
    if kind == "text":
        events.append(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )
        events.extend(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            for t in text_tokens(n)
        )
        events.append({"type": "content_block_stop", "index": 0})
        reason = "end_turn"
    elif kind == "tools":
        for index, fragments in enumerate(tool_fragments(n)):
            block = {
                "type": "tool_use",
                "id": TOOL_IDS[index],
                "name": TOOL_NAMES[index],
                "input": {},
            }
            events.append({"type": "content_block_start", "index": index, "content_block": block})
            events.extend(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
                for piece in fragments
            )
            events.append({"type": "content_block_stop", "index": index})
        reason = "tool_use"
    else:
        raise ValueError(f"unknown scenario kind {kind!r}")
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": n},
        }
    )
    events.append({"type": "message_stop"})
    return [_anthropic_event(e) for e in events]


FORMATS = {"chat/completions": sse_events, "messages": anthropic_events}
"""The response format a request asks for, by the end of its path."""

# How many leading events precede the paced deltas (per format and kind); the rest of
# the events after the deltas are sent at once.
LEADING_EVENTS = {
    ("chat/completions", "text"): 1,
    ("chat/completions", "tools"): 3,
    ("messages", "text"): 2,
    ("messages", "tools"): 2,
}


def expected_tool_calls(n: int) -> list[dict[str, Any]]:
    """The tool calls a client must assemble from a `tools` stream of n fragments."""
    first, second = tool_fragments(n)
    return [
        {"id": TOOL_IDS[i], "name": TOOL_NAMES[i], "args": json.loads("".join(parts))}
        for i, parts in enumerate((first, second))
    ]


TOOL_SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Benchmark tool {name}.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    for name in TOOL_NAMES
]
