"""`first_token_timeout`: a stream that only keeps itself alive fails instead of hanging.

What a user notices: a server that accepted the request and then sends nothing but SSE
comments (`: OPENROUTER PROCESSING`) or pings keeps the call open forever, because every
keep-alive restarts the idle timeout. With `first_token_timeout` the call fails with a
`BhumiTimeoutError` whose phase says so; content, reasoning or a tool call in time is
never affected.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from langchain_bhumi.core.errors import BhumiTimeoutError
from tests.support.server import Scripted, ScriptedServer
from tests.unit._transport_support import (
    MODES,
    call,
    endpoint,
    finish_chunk,
    make_llm,
    text_chunk,
)

LIMIT = 0.3
TICK = LIMIT / 5  # the server's pause before each part
KEEP_ALIVES = 500  # 30 s of them: far past the limit, and past the hang guard


def comments(count: int = KEEP_ALIVES) -> list[bytes]:
    return [b": OPENROUTER PROCESSING\n\n"] * count


def sse(*chunks: dict[str, Any]) -> list[bytes]:
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]


def role_chunk() -> dict[str, Any]:
    chunk = text_chunk("")
    chunk["choices"][0]["delta"] = {"role": "assistant", "content": ""}
    return chunk


@pytest.mark.parametrize("mode", MODES)
def test_comments_only_fail_waiting_for_the_first_token(server: ScriptedServer, mode: str) -> None:
    server.enqueue(Scripted(parts=comments(), delay=TICK))
    llm = make_llm(server, first_token_timeout=LIMIT, streaming=True)
    with pytest.raises(BhumiTimeoutError) as caught:
        call(llm, mode)
    assert caught.value.phase == "waiting for the first token"
    assert caught.value.timeout == LIMIT
    assert "waiting for the first token after 0.3 s" in str(caught.value)
    assert endpoint(server) in str(caught.value)
    assert len(server.received) == 1  # the server took the request: never retried


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_role_chunk_then_keep_alives_is_no_first_token(server: ScriptedServer, mode: str) -> None:
    """OpenAI's opening chunk carries only the role: it is not content."""
    server.enqueue(Scripted(parts=sse(role_chunk()) + comments(), delay=TICK))
    with pytest.raises(BhumiTimeoutError, match="first token"):
        call(make_llm(server, first_token_timeout=LIMIT), mode)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_anthropic_pings_are_no_first_token(server: ScriptedServer, mode: str) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    }
    parts = [f"event: message_start\ndata: {json.dumps(start)}\n\n".encode()]
    parts += [b'event: ping\ndata: {"type": "ping"}\n\n'] * KEEP_ALIVES
    server.enqueue(Scripted(parts=parts, delay=TICK))
    llm = make_llm(server, model="anthropic/claude-sonnet-4-5", first_token_timeout=LIMIT)
    with pytest.raises(BhumiTimeoutError) as caught:
        call(llm, mode)
    assert caught.value.phase == "waiting for the first token"


@pytest.mark.parametrize("mode", ["stream", "ainvoke"])
def test_content_in_time_is_untouched(server: ScriptedServer, mode: str) -> None:
    """Keep-alives before the first token, then a slow stream: the limit is on the first
    content only, never between later chunks."""
    parts = comments(2) + sse(text_chunk("Hel"), text_chunk("lo"), finish_chunk())
    parts.append(b"data: [DONE]\n\n")
    # "Hel" after 3 ticks, within the limit; then a pause of twice the limit before "lo".
    server.enqueue(Scripted(parts=parts, delay=TICK, stall_after=3, stall_seconds=2 * LIMIT))
    llm = make_llm(server, first_token_timeout=LIMIT, streaming=True)
    assert call(llm, mode).content == "Hello"


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_reasoning_is_a_first_token(server: ScriptedServer, mode: str) -> None:
    thinking = text_chunk("")
    thinking["choices"][0]["delta"] = {"reasoning_content": "Let me think."}
    parts = sse(thinking) + comments(10) + sse(text_chunk("42"), finish_chunk())
    server.enqueue(Scripted(parts=parts, delay=TICK))
    message = call(make_llm(server, first_token_timeout=LIMIT), mode)
    assert message.content == "42"
    assert message.additional_kwargs["reasoning_content"] == "Let me think."


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_without_the_limit_keep_alives_are_waited_through(
    server: ScriptedServer, mode: str
) -> None:
    parts = comments(10) + sse(text_chunk("late"), finish_chunk())
    server.enqueue(Scripted(parts=parts, delay=TICK))
    assert call(make_llm(server), mode).content == "late"
