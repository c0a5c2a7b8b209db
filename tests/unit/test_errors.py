"""Typed errors: every failure says what happened, where (provider, URL), and how far it got.

Non-2xx answers become `ProviderHTTPError` subclasses with the status, request id, a body
excerpt and the provider's own error type/message, whatever shape the provider uses.
Broken 200 streams (in-band errors, invalid frames, cuts) become `BrokenStreamError`
subclasses that say provider, URL and how many frames/bytes arrived.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk

from langchain_bhumi import (
    AuthenticationError,
    BadRequestError,
    BhumiConnectionError,
    BhumiError,
    BhumiTimeoutError,
    BrokenStreamError,
    InvalidStreamDataError,
    NotFoundError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    StreamCutError,
    StreamErrorEvent,
)
from langchain_bhumi.core.decoding import describe_error
from langchain_bhumi.core.errors import BODY_EXCERPT_LIMIT, excerpt
from tests.support.server import Scripted, ScriptedServer
from tests.unit._transport_support import (
    MODES,
    STREAM_MODES,
    answer,
    call,
    endpoint,
    error_response,
    finish_chunk,
    make_llm,
    text_chunk,
)

# --- non-2xx answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (529, ServerError),
    ],
)
@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_status_maps_to_typed_error(
    server: ScriptedServer, mode: str, status: int, cls: type[ProviderHTTPError]
) -> None:
    """Each status class raises its own catchable subclass, carrying the status."""
    server.enqueue(error_response(status))
    with pytest.raises(cls) as caught:
        call(make_llm(server, max_retries=0), mode)
    error = caught.value
    assert isinstance(error, ProviderHTTPError)
    assert isinstance(error, BhumiError)
    assert error.status_code == status
    assert error.provider == "openai"
    assert error.url == endpoint(server)


@pytest.mark.parametrize("mode", MODES)
def test_http_error_carries_request_id_body_and_parsed_message(
    server: ScriptedServer, mode: str
) -> None:
    """A provider error says who answered what, with the request id to quote to support
    and the provider's own error type and message."""
    body = {
        "error": {
            "message": "The model `gpt-5-nano-x` does not exist",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    server.enqueue(error_response(404, body, headers={"x-request-id": "req_abc123"}))
    with pytest.raises(NotFoundError) as caught:
        call(make_llm(server), mode)
    error = caught.value
    assert error.request_id == "req_abc123"
    assert error.error_type == "invalid_request_error"
    assert error.error_message == "The model `gpt-5-nano-x` does not exist"
    assert json.loads(error.body) == body
    message = str(error)
    for part in ("openai", "404", endpoint(server), "req_abc123", "does not exist"):
        assert part in message


def test_request_id_from_anthropic_style_header(server: ScriptedServer) -> None:
    """`request-id` (Anthropic's header name) is picked up as well as `x-request-id`."""
    server.enqueue(error_response(400, headers={"request-id": "req_011CSHo"}))
    with pytest.raises(BadRequestError) as caught:
        call(make_llm(server), "invoke")
    assert caught.value.request_id == "req_011CSHo"
    assert "req_011CSHo" in str(caught.value)


def test_long_body_is_cut_to_an_excerpt_with_a_marker(server: ScriptedServer) -> None:
    """A huge error body (an HTML error page) is kept to ~1 KB, with a cut marker."""
    page = "<html>" + "x" * 5000 + "</html>"
    server.enqueue(Scripted(status=502, parts=[page.encode()], content_type="text/html"))
    with pytest.raises(ServerError) as caught:
        call(make_llm(server, max_retries=0), "invoke")
    error = caught.value
    assert error.error_message is None
    assert error.body.startswith(page[:BODY_EXCERPT_LIMIT])
    assert error.body.endswith(f"... [{len(page) - BODY_EXCERPT_LIMIT} more characters]")
    assert len(str(error)) < BODY_EXCERPT_LIMIT + 300


def test_short_body_is_kept_whole(server: ScriptedServer) -> None:
    """A body under the excerpt limit is kept exactly, without a marker."""
    server.enqueue(Scripted(status=400, parts=[b"bad things"], content_type="text/plain"))
    with pytest.raises(BadRequestError) as caught:
        call(make_llm(server), "invoke")
    assert caught.value.body == "bad things"
    assert str(caught.value).endswith(": bad things")


def test_empty_error_body_is_said_so(server: ScriptedServer) -> None:
    """An error with no body still produces a readable message."""
    server.enqueue(Scripted(status=404, parts=[], content_type="text/plain"))
    with pytest.raises(NotFoundError) as caught:
        call(make_llm(server), "invoke")
    assert caught.value.body == ""
    assert "(empty body)" in str(caught.value)


_ERROR_SHAPES: list[Any] = [
    pytest.param(
        {
            "error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        "invalid_request_error",
        "Incorrect API key provided",
        id="openai",
    ),
    pytest.param(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        "overloaded_error",
        "Overloaded",
        id="anthropic",
    ),
    pytest.param(
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
            }
        },
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        id="google",
    ),
    pytest.param(
        [{"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}],
        "NOT_FOUND",
        "models/x is not found",
        id="google-list-wrapped",
    ),
    pytest.param(
        {
            "object": "error",
            "message": "The model `llama` does not exist.",
            "type": "NotFoundError",
            "param": None,
            "code": 404,
        },
        "NotFoundError",
        "The model `llama` does not exist.",
        id="vllm",
    ),
    pytest.param(
        {
            "object": "error",
            "message": "Expected last role User or Tool but got assistant",
            "type": "invalid_request_message_order",
            "param": None,
            "code": None,
        },
        "invalid_request_message_order",
        "Expected last role User or Tool but got assistant",
        id="mistral",
    ),
    pytest.param({"detail": "Not Found"}, None, "Not Found", id="fastapi-detail"),
    pytest.param(
        {"detail": [{"loc": ["body", "messages"], "msg": "field required", "type": "missing"}]},
        None,
        "field required",
        id="fastapi-validation",
    ),
    pytest.param({"error": "model is required"}, None, "model is required", id="error-string"),
]


@pytest.mark.parametrize(("body", "error_type", "message"), _ERROR_SHAPES)
@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_error_body_shapes_are_parsed(
    server: ScriptedServer, mode: str, body: Any, error_type: str | None, message: str
) -> None:
    """The provider's error type and message are found in every common body shape
    (OpenAI, Anthropic, Google, vLLM/Mistral, FastAPI `detail`), and shown in str()."""
    server.enqueue(error_response(400, body))
    with pytest.raises(BadRequestError) as caught:
        call(make_llm(server), mode)
    error = caught.value
    assert error.error_type == error_type
    assert error.error_message is not None
    assert message in error.error_message
    assert message in str(error)


@pytest.mark.parametrize(("body", "error_type", "message"), _ERROR_SHAPES)
def test_describe_error_shapes(body: Any, error_type: str | None, message: str) -> None:
    """describe_error returns (type, message, retry_after) for each shape."""
    found_type, found_message, retry_after = describe_error(body)
    assert found_type == error_type
    assert found_message is not None
    assert message in found_message
    assert retry_after is None


@pytest.mark.parametrize("payload", [None, 42, "text", [], [1], {"error": 3}])
def test_describe_error_tolerates_odd_payloads(payload: Any) -> None:
    """Bodies that are not error objects yield nothing rather than crashing."""
    assert describe_error(payload) == (None, None, None)


def test_describe_error_reads_google_retry_delay() -> None:
    """Google's RetryInfo.retryDelay ("3s", "0.5s") becomes retry_after seconds."""
    for value, seconds in (("3s", 3.0), ("0.5s", 0.5), ("bogus", None)):
        body = {"error": {"code": 429, "details": [{"retryDelay": value}], "status": "X"}}
        assert describe_error(body)[2] == seconds


# --- broken 200 streams -------------------------------------------------------------------


def _frame(data: str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def _chunk_frame(chunk: dict[str, Any]) -> bytes:
    return _frame(json.dumps(chunk))


def _assert_located(error: BrokenStreamError, server: ScriptedServer) -> None:
    """The error names provider and URL and how far the stream got, in str() too."""
    assert error.provider == "openai"
    assert error.url == endpoint(server)
    text = str(error)
    assert "openai" in text
    assert endpoint(server) in text
    assert f"{error.frames} frames" in text
    assert f"{error.bytes_received} bytes" in text


_IN_STREAM_ERRORS: list[Any] = [
    pytest.param(
        _frame(
            json.dumps(
                {
                    "error": {
                        "message": "Rate limit reached for tokens",
                        "type": "rate_limit_exceeded",
                        "code": "rate_limit_exceeded",
                    }
                }
            )
        ),
        "rate_limit_exceeded",
        "Rate limit reached for tokens",
        id="openai-error-data-line",
    ),
    pytest.param(
        _frame(
            json.dumps(
                {
                    "error": {
                        "message": "Failed to call a function. Please adjust your prompt.",
                        "type": "invalid_request_error",
                        "code": "tool_use_failed",
                    }
                }
            ),
            event="error",
        ),
        "invalid_request_error/tool_use_failed",
        "Failed to call a function",
        id="groq-event-error",
    ),
    pytest.param(
        _frame(
            json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}),
            event="error",
        ),
        "overloaded_error",
        "Busy",
        id="anthropic-event-error",
    ),
    pytest.param(
        _frame("upstream connect error", event="error"),
        None,
        "upstream connect error",
        id="event-error-plain-text",
    ),
]


@pytest.mark.parametrize(("frame", "error_type", "message"), _IN_STREAM_ERRORS)
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_error_inside_a_stream_raises_stream_error_event(
    server: ScriptedServer, mode: str, frame: bytes, error_type: str | None, message: str
) -> None:
    """An error object sent inside a 200 stream is raised, typed, with the provider's
    error type and message (never retried, never an empty answer)."""
    server.enqueue(Scripted(parts=[_chunk_frame(text_chunk("Hel")), frame, b"data: [DONE]\n\n"]))
    with pytest.raises(StreamErrorEvent) as caught:
        call(make_llm(server), mode)
    error = caught.value
    assert error.error_type == error_type
    assert message in error.error_message
    assert message in str(error)
    assert len(server.received) == 1
    _assert_located(error, server)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_non_json_data_line_raises_invalid_stream_data(server: ScriptedServer, mode: str) -> None:
    """A data line that is not JSON is reported with an excerpt of the frame."""
    server.enqueue(
        Scripted(parts=[_chunk_frame(text_chunk("a")), b"data: <html>Bad gateway</html>\n\n"])
    )
    with pytest.raises(InvalidStreamDataError) as caught:
        call(make_llm(server), mode)
    error = caught.value
    assert error.data == "<html>Bad gateway</html>"
    assert "<html>Bad gateway</html>" in str(error)
    _assert_located(error, server)


def test_invalid_frame_excerpt_is_bounded(server: ScriptedServer) -> None:
    """A huge invalid frame is shown as a 300-character excerpt with a cut marker."""
    junk = "not json " * 200
    server.enqueue(Scripted(parts=[_frame(junk)]))
    with pytest.raises(InvalidStreamDataError) as caught:
        call(make_llm(server), "stream")
    assert caught.value.data == excerpt(junk, 300)
    assert caught.value.data.endswith("more characters]")
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "42"])
def test_json_that_is_not_an_object_is_invalid(server: ScriptedServer, data: str) -> None:
    """A JSON frame that is not an object cannot be a chunk: InvalidStreamDataError."""
    server.enqueue(Scripted(parts=[_frame(data), b"data: [DONE]\n\n"]))
    with pytest.raises(InvalidStreamDataError):
        call(make_llm(server), "stream")


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_body_ending_without_done_or_finish_is_a_cut(server: ScriptedServer, mode: str) -> None:
    """A body that ends cleanly but before [DONE] and before any finish_reason is a cut
    stream, not a short answer."""
    parts = [_chunk_frame(text_chunk("Hel")), _chunk_frame(text_chunk("lo"))]
    server.enqueue(Scripted(parts=parts))
    chunks: list[AIMessageChunk] = []
    with pytest.raises(StreamCutError) as caught:
        call(make_llm(server), mode, chunks=chunks)
    error = caught.value
    assert "[DONE]" in str(error)
    assert error.frames == 2
    assert error.bytes_received == sum(len(p) for p in parts)
    assert "".join(str(c.content) for c in chunks) == "Hello"
    _assert_located(error, server)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_empty_stream_is_a_cut(server: ScriptedServer, mode: str) -> None:
    """A 200 stream with no chunk at all is an error, never an empty answer."""
    server.enqueue(Scripted(parts=[]))
    with pytest.raises(StreamCutError) as caught:
        call(make_llm(server), mode)
    assert "without sending a single chunk" in str(caught.value)
    assert caught.value.frames == 0
    _assert_located(caught.value, server)


@pytest.mark.parametrize("reason", ["stop", "tool_calls", "length"])
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_body_ending_after_finish_without_done_is_fine(
    server: ScriptedServer, mode: str, reason: str
) -> None:
    """Servers that omit [DONE] after a finish_reason (several local servers) are fine."""
    server.enqueue(
        Scripted(parts=[_chunk_frame(text_chunk("ok")), _chunk_frame(finish_chunk(reason))])
    )
    message = call(make_llm(server), mode)
    assert message.content == "ok"
    assert message.response_metadata["finish_reason"] == reason


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b'data: {"id":"chatcmpl-1","choices":[{"index":0,"del', id="mid-json"),
        pytest.param(b"data: [DO", id="mid-done"),
    ],
)
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_body_ending_mid_frame_is_a_cut(server: ScriptedServer, mode: str, tail: bytes) -> None:
    """A body that ends in the middle of a frame is a cut stream, even after a
    finish_reason (the usage chunk or [DONE] that was coming is lost)."""
    parts = [_chunk_frame(text_chunk("ok")), _chunk_frame(finish_chunk()), tail]
    server.enqueue(Scripted(parts=parts))
    with pytest.raises(StreamCutError) as caught:
        call(make_llm(server), mode)
    assert "middle of a frame" in str(caught.value)
    assert caught.value.bytes_received == sum(len(p) for p in parts)
    _assert_located(caught.value, server)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_connection_dropped_mid_frame_is_a_cut(server: ScriptedServer, mode: str) -> None:
    """A connection that drops in the middle of a frame raises StreamCutError with the
    bytes received so far."""
    whole = _chunk_frame(text_chunk("world"))
    parts = [_chunk_frame(text_chunk("Hello ")), whole[:17], whole[17:]]
    server.enqueue(Scripted(parts=parts, cut_after=2, delay=0.02))
    chunks: list[AIMessageChunk] = []
    with pytest.raises(StreamCutError) as caught:
        call(make_llm(server), mode, chunks=chunks)
    assert "".join(str(c.content) for c in chunks) == "Hello "
    assert caught.value.bytes_received == len(parts[0]) + 17
    _assert_located(caught.value, server)


def test_frame_count_includes_frames_of_the_failing_read(server: ScriptedServer) -> None:
    """When a read carries good frames and then a bad one, the error's frame count
    includes the good frames (it says how far the stream got)."""
    body = (
        _chunk_frame(text_chunk("a"))
        + _chunk_frame(text_chunk("b"))
        + b"data: {not json}\n\n"
        + b"data: [DONE]\n\n"
    )
    server.enqueue(Scripted(parts=[body]))
    with pytest.raises(InvalidStreamDataError) as caught:
        call(make_llm(server), "stream")
    assert caught.value.frames >= 2, str(caught.value)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_non_json_success_body_is_invalid_data(server: ScriptedServer, mode: str) -> None:
    """A 200 non-streamed answer that is not JSON raises InvalidStreamDataError, located."""
    server.enqueue(Scripted(parts=[b"<html>maintenance</html>"], content_type="text/html"))
    with pytest.raises(InvalidStreamDataError) as caught:
        call(make_llm(server), mode)
    assert "maintenance" in str(caught.value)
    _assert_located(caught.value, server)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_broken_stream_after_answer_is_not_retried(server: ScriptedServer, mode: str) -> None:
    """An in-stream error is raised, never retried (that could duplicate output)."""
    server.enqueue(
        Scripted(parts=[_frame(json.dumps({"error": {"message": "x", "type": "server_error"}}))]),
        answer(mode, "retry"),
    )
    with pytest.raises(StreamErrorEvent):
        call(make_llm(server), mode)
    assert len(server.received) == 1


# --- the error classes themselves ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (413, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (504, ServerError),
        (529, ServerError),
        (418, ProviderHTTPError),
        (307, ProviderHTTPError),
    ],
)
def test_class_for_status(status: int, cls: type[ProviderHTTPError]) -> None:
    """The status -> class table users catch on."""
    assert ProviderHTTPError.class_for_status(status) is cls


def test_excerpt() -> None:
    """excerpt keeps short text whole and marks how much was cut from long text."""
    assert excerpt("abc", 5) == "abc"
    assert excerpt("abcde", 5) == "abcde"
    assert excerpt("abcdefgh", 5) == "abcde... [3 more characters]"


def test_timeout_and_connection_errors_are_standard_exceptions_too() -> None:
    """Code that catches TimeoutError / ConnectionError also catches ours."""
    timeout = BhumiTimeoutError(
        provider="groq", url="https://x/v1/chat/completions", phase="between chunks", timeout=2.5
    )
    assert isinstance(timeout, TimeoutError)
    assert isinstance(timeout, BhumiError)
    assert str(timeout) == (
        "groq timed out between chunks after 2.5 s (POST https://x/v1/chat/completions)"
    )
    no_limit = BhumiTimeoutError(provider="groq", url="u", phase="total", timeout=None)
    assert str(no_limit) == "groq timed out total (POST u)"
    connection = BhumiConnectionError(provider="ollama", url="http://h/v1", reason="refused")
    assert isinstance(connection, ConnectionError)
    assert str(connection) == "could not reach ollama at http://h/v1: refused"


def test_broken_stream_error_str_before_and_after_locate() -> None:
    """A decoder's error reads plainly; once located it adds provider, URL and counts."""
    error = StreamCutError("the stream ended before [DONE]")
    assert str(error) == "the stream ended before [DONE]"
    error.locate(
        provider="openai", url="https://x/v1/chat/completions", frames=3, bytes_received=99
    )
    assert str(error) == (
        "the stream ended before [DONE] (openai, POST https://x/v1/chat/completions, "
        "after 3 frames / 99 bytes)"
    )


def test_stream_error_event_message() -> None:
    """StreamErrorEvent keeps the provider's type, message and payload."""
    error = StreamErrorEvent(error_type="overloaded_error", error_message="Busy", payload={"a": 1})
    assert error.error_type == "overloaded_error"
    assert error.payload == {"a": 1}
    assert str(error) == "the server reported an error inside the stream overloaded_error: Busy"
    plain = StreamErrorEvent(error_type=None, error_message="Busy", payload="Busy")
    assert str(plain) == "the server reported an error inside the stream: Busy"
