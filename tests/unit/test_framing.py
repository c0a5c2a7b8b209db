"""SSE framing: any byte split of any body gives the same frames; UTF-8 decoded whole and
strictly; every frame bounded; the Content-Type picks the framing."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_bhumi.core.config import RetryPolicy, Timeouts
from langchain_bhumi.core.errors import InvalidStreamDataError, UnexpectedContentTypeError
from langchain_bhumi.core.events import ReasoningDelta, TextDelta, ToolCallDone
from langchain_bhumi.core.framing import (
    JSONArrayFramer,
    RejectingFramer,
    SSEFramer,
    WholeBodyFramer,
    framer_for,
)
from langchain_bhumi.core.transport import HTTPRequest, Transport
from langchain_bhumi.protocols import client_formats, get_protocol
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


# --- bounded and strict --------------------------------------------------------------


def test_a_line_that_never_ends_fails_as_soon_as_it_passes_the_limit() -> None:
    """A server that never sends a newline cannot make the framer buffer without bound."""
    framer = SSEFramer(max_frame_size=1000)
    framer.feed(b"data: " + b"x" * 400)
    framer.feed(b"x" * 400)
    with pytest.raises(InvalidStreamDataError) as caught:
        framer.feed(b"x" * 400)  # 1,206 bytes: past the limit
    assert "maximum frame size of 1,000 bytes" in str(caught.value)
    assert caught.value.offset == 0
    assert caught.value.data.startswith("data: xxx")


def test_an_event_of_many_short_lines_is_bounded_too() -> None:
    framer = SSEFramer(max_frame_size=100)
    with pytest.raises(InvalidStreamDataError, match=r"an event .* maximum frame size"):
        framer.feed(b"data: 0123456789\n" * 11)


def test_a_long_line_inside_one_read_is_refused() -> None:
    framer = SSEFramer(max_frame_size=100)
    body = b"data: {}\n\n: " + b"c" * 200 + b"\n\n"
    with pytest.raises(InvalidStreamDataError) as caught:
        framer.feed(body)
    assert caught.value.offset == 10  # where the comment line starts


def test_frames_up_to_the_limit_pass() -> None:
    framer = SSEFramer(max_frame_size=100)
    line = b"data: " + b"x" * 94  # exactly 100 bytes, value 94
    assert [f.data for f in framer.feed(line + b"\n\n")] == ["x" * 94]


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bad=st.sampled_from([b"\xff", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80"]),
    where=st.sampled_from(["value", "key", "event"]),
    cuts=st.lists(st.integers(0, 500), max_size=8),
)
def test_invalid_utf8_is_an_error_at_its_exact_offset(
    before: str, newline: str, bad: bytes, where: str, cuts: list[int]
) -> None:
    """An invalid byte anywhere raises, at the byte's offset in the body, however the
    body is split: never a silent U+FFFD (in a JSON key it made whole chunks vanish)."""
    nl = newline.encode()
    head = b": keep-alive" + nl + b"data: " + json.dumps({"a": before}).encode() + nl + nl
    if where == "value":
        line = b'data: {"choices": "' + bad + b'"}'
    elif where == "key":
        line = b'data: {"cho' + bad + b'ices": []}'
    else:
        line = b"event: mess" + bad + b"age"
    body = head + line + nl + nl + b"data: [DONE]" + nl + nl
    offset = body.index(bad)
    with pytest.raises(InvalidStreamDataError, match="not valid UTF-8") as caught:
        frames_of(split(body, cuts))
    assert caught.value.offset == offset
    assert "\\x" in caught.value.data  # the excerpt shows the offending byte


def test_a_character_cut_by_the_end_of_the_body_is_a_cut_not_invalid_data() -> None:
    framer = SSEFramer()
    assert framer.feed(b'data: {"t": "caf' + "é".encode()[:1]) == []
    frames, unterminated = framer.flush()
    assert unterminated and frames[0].data.startswith('{"t": "caf')


@pytest.mark.parametrize(
    ("content_type", "framing"),
    [
        ("text/event-stream", SSEFramer),
        ("Text/Event-Stream; charset=utf-8", SSEFramer),
        ("", SSEFramer),
        ("application/json; charset=UTF-8", WholeBodyFramer),
        ("text/html; charset=utf-8", RejectingFramer),
        ("text/plain", RejectingFramer),
    ],
)
def test_the_content_type_picks_the_framing(content_type: str, framing: type) -> None:
    assert type(framer_for(content_type, WholeBodyFramer)) is framing


def test_a_body_of_another_type_is_refused_with_its_first_bytes() -> None:
    page = b"<!DOCTYPE html><html><body>Bad gateway</body></html>"
    framer = framer_for("text/html", None)
    assert framer.feed(page[:20]) == []  # waits for a useful excerpt
    assert framer.feed(page[20:]) == []
    with pytest.raises(UnexpectedContentTypeError) as caught:
        framer.flush()
    error = caught.value
    assert error.content_type == "text/html"
    assert "'text/html'" in str(error) and "text/event-stream" in str(error)
    assert "Bad gateway" in error.data


def test_a_whole_body_is_bounded_and_strict() -> None:
    framer = WholeBodyFramer(max_frame_size=10)
    with pytest.raises(InvalidStreamDataError, match=r"the body .* maximum frame size"):
        framer.feed(b'{"a": "0123456789"}')
    framer = WholeBodyFramer()
    framer.feed(b'{"a": "\xff"}')
    with pytest.raises(InvalidStreamDataError, match="not valid UTF-8") as caught:
        framer.flush()
    assert caught.value.offset == 7


def test_a_json_array_element_is_bounded_and_strict() -> None:
    """Gemini's JSON-array framing: the same limit per element, the same strict UTF-8."""
    framer = JSONArrayFramer(max_frame_size=50)
    assert [f.data for f in framer.feed(b'[{"a": 1},\n')] == ['{"a": 1}']
    with pytest.raises(InvalidStreamDataError, match=r"element .* maximum frame size") as caught:
        framer.feed(b'{"text": "' + b"y" * 60)
    assert caught.value.offset == 11
    body = b'[{"a": 1},\r\n{"b": "\xc3("}]'
    for cut in range(len(body)):
        framer = JSONArrayFramer()
        with pytest.raises(InvalidStreamDataError, match="not valid UTF-8") as caught:
            [framer.feed(piece) for piece in (body[:cut], body[cut:])]
        assert caught.value.offset == body.index(b"\xc3")


def _through_transport(wire_format: str, content_type: str, pieces: list[bytes]) -> None:
    """Stream `pieces` as one response of `wire_format` through the real transport."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=iter(pieces))

    transport = Transport(
        provider="test",
        timeouts=Timeouts(),
        retry=RetryPolicy(max_retries=0),
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    request = HTTPRequest(url="http://127.0.0.1:9/x", headers={}, body={}, stream=True)
    list(transport.stream(request, get_protocol(wire_format).stream_decoder()))


@pytest.mark.parametrize("wire_format", client_formats())
def test_every_format_refuses_an_html_answer_to_a_streaming_call(wire_format: str) -> None:
    """A 200 with an HTML page to a streaming call, in every client format: the error
    names the type and quotes the page (not "the stream ended without a single event")."""
    page = b"<!DOCTYPE html><html><body>502 Bad gateway</body></html>"
    with pytest.raises(UnexpectedContentTypeError) as caught:
        _through_transport(wire_format, "text/html", [page])
    assert caught.value.content_type == "text/html"
    assert "'text/html'" in str(caught.value) and "502 Bad gateway" in str(caught.value)


BAD_JSON = '{"é": "ü", "b": tru}'.encode()


@pytest.mark.parametrize("wire_format", client_formats())
@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
@settings(max_examples=25, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, 200), max_size=4))
def test_invalid_json_in_a_frame_names_its_byte_offset(
    wire_format: str, newline: bytes, cuts: list[int]
) -> None:
    """The offset points at the offending byte of the body, whatever the line endings and
    the network reads; the message gives the parser's reason."""
    lines = [b": keep-alive", b"", b"event: message", b"data: " + BAD_JSON, b"", b""]
    body = newline.join(lines)
    with pytest.raises(InvalidStreamDataError) as caught:
        _through_transport(wire_format, "text/event-stream", split(body, cuts))
    assert caught.value.offset == body.index(b"tru}")
    assert "Expecting value at character" in str(caught.value)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, 200), max_size=4))
def test_invalid_json_in_a_json_array_element_names_its_byte_offset(cuts: list[int]) -> None:
    body = b'[{"candidates": []}\n,\r\n' + BAD_JSON + b"]"
    with pytest.raises(InvalidStreamDataError) as caught:
        _through_transport("gemini", "application/json", split(body, cuts))
    assert caught.value.offset == body.index(b"tru}")


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        (SSEFramer, b'data: {"a": "x%sy"}\n\n'),
        (JSONArrayFramer, b'[{"a": "x%sy"}]'),
        (WholeBodyFramer, b'{"a": "x%sy"}'),
    ],
)
def test_a_lone_surrogate_escape_is_refused_and_a_pair_is_text(framing: type, body: bytes) -> None:
    """`\\ud83d\\ude00` is one character (an emoji); `\\ud800` alone is no character at all."""

    def frames(data: bytes) -> list[str]:
        framer = framing()
        out = framer.feed(data)
        return [f.data for f in out + framer.flush()[0]]

    [pair] = frames(body % rb"\ud83d\ude00")
    assert json.loads(pair) == {"a": "x\U0001f600y"}
    with pytest.raises(InvalidStreamDataError, match="lone UTF-16 surrogate") as caught:
        frames(body % rb"\ud800")
    assert caught.value.offset == body.index(b"{")
