"""SSE framing: any byte split of any body gives the same frames; UTF-8 decoded whole."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_bhumi.core.events import ReasoningDelta, TextDelta, ToolCallDone
from langchain_bhumi.core.framing import SSEFramer
from langchain_bhumi.protocols.openai_chat.client import OpenAIChatProtocol


def frames_of(pieces: list[bytes]) -> tuple[list[tuple[str, str]], bool]:
    framer = SSEFramer()
    frames = []
    for piece in pieces:
        frames += framer.feed(piece)
    tail, unterminated = framer.flush()
    frames += tail
    return [(f.event, f.data) for f in frames], unterminated


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, start = [], 0
    for p in points:
        out.append(data[start:p])
        start = p
    out.append(data[start:])
    return out


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=20,
)
events = st.lists(
    st.tuples(
        st.sampled_from(["", "message", "error"]), texts, st.sampled_from(["data: ", "data:"])
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    body_events=events,
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    comments=st.booleans(),
    cuts=st.lists(st.integers(0, 5000), max_size=20),
)
def test_any_split_gives_the_same_frames(
    body_events: list[tuple[str, str, str]], newline: str, comments: bool, cuts: list[int]
) -> None:
    """Line endings, comments, `data:` with or without a space, multi-byte characters
    cut anywhere: the frames are the same as for the unsplit body."""
    lines = []
    for event, data, prefix in body_events:
        if comments:
            lines.append(": OPENROUTER PROCESSING")
        if event:
            lines.append(f"event: {event}")
        # The SSE spec strips one space after "data:", so such data needs the spaced prefix.
        lines.append(("data: " if data.startswith(" ") else prefix) + data)
        lines.append("")
    body = newline.join(lines).encode() + newline.encode()

    whole, _ = frames_of([body])
    assert whole == [(e or "message", d) for e, d, _ in body_events]
    assert frames_of(split(body, cuts)) == (whole, False)


def test_a_character_split_across_reads_is_decoded_once() -> None:
    body = 'data: {"t": "café 🙂 東京"}\n\n'.encode()
    for cut in range(len(body) + 1):
        frames, _ = frames_of([body[:cut], body[cut:]])
        assert frames == [("message", '{"t": "café 🙂 東京"}')]


def test_a_body_cut_mid_frame_is_reported_unterminated() -> None:
    frames, unterminated = frames_of([b'data: {"choi'])
    assert frames == [("message", '{"choi')] and unterminated
    frames, unterminated = frames_of([b"data: [DONE]"])  # no final newline: still delivered
    assert frames == [("message", "[DONE]")]


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_any_split_of_a_chat_stream_decodes_to_the_same_content(cuts: list[int]) -> None:
    """Text, reasoning and tool calls are the same however the bytes arrive."""
    chunks = [
        {"choices": [{"index": 0, "delta": {"reasoning_content": "Think 🙂"}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hé"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "a",
                                "function": {"name": "f", "arguments": '{"q": "東'},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '京"}'}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = b"".join(f"data: {json.dumps(c, ensure_ascii=False)}\r\n\r\n".encode() for c in chunks)
    body += b"data: [DONE]\r\n\r\n"

    decoder = OpenAIChatProtocol().stream_decoder()
    framer = decoder.new_framer("text/event-stream")
    out = []
    for piece in split(body, cuts):
        out += decoder.feed(framer.feed(piece))
    tail, _ = framer.flush()
    out += decoder.feed(tail) + decoder.close()

    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "Hé"
    assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "Think 🙂"
    assert [(c.name, c.args) for c in out if isinstance(c, ToolCallDone)] == [("f", {"q": "東京"})]
