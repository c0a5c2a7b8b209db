"""The transport: it never hangs, retries only what is safe, frames any byte split, pools.

Everything runs against the scripted loopback server (tests/support/server.py), mostly
through `ChatBhumi` in four modes (invoke, stream, ainvoke, astream), some directly
against `Transport`. Timing is never asserted: waits between retries are recorded by
`SleepRecorder` instead of slept, and hang guards only catch a call that never returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk

from langchain_bhumi import (
    BadRequestError,
    BhumiConnectionError,
    BhumiTimeoutError,
    InvalidStreamDataError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    StreamCutError,
)
from langchain_bhumi.core.config import RetryPolicy, Timeouts
from langchain_bhumi.core.errors import UnexpectedContentTypeError
from langchain_bhumi.core.events import StreamEvent, TextDelta
from langchain_bhumi.core.transport import HTTPRequest, Transport
from langchain_bhumi.protocols.openai_chat.client import OpenAIChatStreamDecoder
from tests.support.server import Scripted, ScriptedServer, split_at
from tests.unit._transport_support import (
    HANG_GUARD,
    KEY,
    MODES,
    STREAM_MODES,
    WHOLE_MODES,
    SleepRecorder,
    answer,
    call,
    closed_port,
    completion,
    endpoint,
    error_response,
    finish_chunk,
    get_weather,
    make_llm,
    run_bounded,
    text_chunk,
)

STALL_TIMEOUT = 0.6
"""Idle timeout for the stall-between-chunks tests: short, but long enough that a loaded
machine still delivers the headers in time (the phase must be "between chunks")."""


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """Record the transport's retry waits instead of sleeping."""
    return SleepRecorder(monkeypatch)


# --- never hang: timeouts and their phase ------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "timeout"),
    [("stream", 1.0), ("astream", 1.0), ("invoke", 0.3), ("ainvoke", 0.3)],
)
def test_silent_server_with_tools_times_out_waiting_for_headers(
    server: ScriptedServer, mode: str, timeout: float
) -> None:
    """The hang that started the project: a server that accepts a request with tools bound
    and then sends nothing must fail with a clear timeout, once, never retried."""
    server.enqueue(Scripted(stall_before_headers=60.0), answer(mode, "late"))
    llm = make_llm(server, timeout=timeout, response_timeout=timeout)
    with pytest.raises(BhumiTimeoutError) as caught:
        call(llm, mode, runnable=llm.bind_tools([get_weather]))
    error = caught.value
    assert error.phase == "waiting for headers"
    assert isinstance(error, TimeoutError)
    assert error.timeout == timeout
    message = str(error)
    assert "openai" in message
    assert endpoint(server) in message
    assert "waiting for headers" in message
    assert len(server.received) == 1, "a request the server accepted must not be retried"
    sent = server.received[0].json()
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent.get("stream", False) is (mode in STREAM_MODES)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_mid_stream_stall_times_out_between_chunks(server: ScriptedServer, mode: str) -> None:
    """A stream that stalls after some chunks fails with phase "between chunks", after
    delivering what came before, without a retry."""
    server.enqueue(
        Scripted.sse(
            text_chunk("Hel"), text_chunk("lo"), finish_chunk(), stall_after=2, stall_seconds=60
        ),
        answer(mode, "again"),
    )
    chunks: list[AIMessageChunk] = []
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=STALL_TIMEOUT), mode, chunks=chunks)
    assert caught.value.phase == "between chunks"
    assert "between chunks" in str(caught.value)
    assert endpoint(server) in str(caught.value)
    assert "".join(str(c.content) for c in chunks) == "Hello"
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_non_streamed_body_stall_times_out_between_chunks(
    server: ScriptedServer, mode: str
) -> None:
    """A non-streamed answer whose body stalls after the headers times out (no hang)."""
    body = json.dumps(completion("hello")).encode()
    server.enqueue(
        Scripted(
            parts=split_at(body, [20]),
            content_type="application/json",
            stall_after=1,
            stall_seconds=60,
        )
    )
    llm = make_llm(server, timeout=STALL_TIMEOUT, response_timeout=STALL_TIMEOUT)
    with pytest.raises(BhumiTimeoutError) as caught:
        call(llm, mode)
    assert caught.value.phase == "between chunks"
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_non_streamed_call_waits_for_response_timeout(server: ScriptedServer, mode: str) -> None:
    """A non-streamed answer only comes once fully generated: its wait is bounded by
    response_timeout (when longer than the idle timeout), and the error says so."""
    server.enqueue(Scripted(stall_before_headers=60.0))
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=0.1, response_timeout=0.4), mode)
    assert caught.value.phase == "waiting for headers"
    assert caught.value.timeout == 0.4
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_non_streamed_body_stall_reports_the_limit_that_fired(
    server: ScriptedServer, mode: str
) -> None:
    """When a non-streamed body stalls, the error's limit is the read limit that was
    actually applied (max(timeout, response_timeout)), not the streaming idle timeout."""
    body = json.dumps(completion("hello")).encode()
    server.enqueue(
        Scripted(
            parts=split_at(body, [20]),
            content_type="application/json",
            stall_after=1,
            stall_seconds=60,
        )
    )
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=0.1, response_timeout=0.5), mode)
    assert caught.value.phase == "between chunks"
    assert caught.value.timeout == 0.5, str(caught.value)


@pytest.mark.parametrize("mode", MODES)
def test_total_timeout_while_waiting_for_headers_says_total(
    server: ScriptedServer, mode: str
) -> None:
    """With a total deadline shorter than the idle timeout, a silent server fails with
    phase "total" (the limit that actually fired)."""
    server.enqueue(Scripted(stall_before_headers=60.0))
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=10.0, total_timeout=0.3), mode)
    assert caught.value.phase == "total"
    assert caught.value.timeout == 0.3
    assert "total" in str(caught.value)
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_total_timeout_on_stalled_stream(server: ScriptedServer, mode: str) -> None:
    """A stream that stalls past the total deadline fails with phase "total"."""
    server.enqueue(Scripted.sse(text_chunk("a"), text_chunk("b"), stall_after=1, stall_seconds=60))
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=10.0, total_timeout=0.4), mode)
    assert caught.value.phase == "total"
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_total_timeout_on_trickling_stream(server: ScriptedServer, mode: str) -> None:
    """A stream that keeps sending, just too slowly, is stopped by the total deadline
    even though no single gap exceeds the idle timeout."""
    chunks = [text_chunk(f"t{i}") for i in range(40)]
    server.enqueue(Scripted.sse(*chunks, finish_chunk(), delay=0.05))
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=10.0, total_timeout=0.4), mode)
    assert caught.value.phase == "total"
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_total_timeout_on_stalled_non_streamed_body(server: ScriptedServer, mode: str) -> None:
    """invoke() honours total_timeout too: a body that stalls past the deadline fails
    with phase "total", the limit that fired, not "between chunks"."""
    body = json.dumps(completion("hello")).encode()
    server.enqueue(
        Scripted(
            parts=split_at(body, [20]),
            content_type="application/json",
            stall_after=1,
            stall_seconds=60,
        )
    )
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=10.0, total_timeout=0.4), mode)
    assert caught.value.phase == "total"
    assert caught.value.timeout == 0.4


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_total_timeout_on_trickling_non_streamed_body(server: ScriptedServer, mode: str) -> None:
    """invoke() honours total_timeout on a body that trickles in slowly: the call fails
    with phase "total" instead of running past its deadline."""
    body = json.dumps(completion("x" * 40)).encode()
    parts = split_at(body, list(range(30, len(body), 30)))
    server.enqueue(Scripted(parts=parts, content_type="application/json", delay=0.06))
    with pytest.raises(BhumiTimeoutError) as caught:
        call(make_llm(server, timeout=10.0, total_timeout=0.3, max_retries=0), mode)
    assert caught.value.phase == "total"


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused_raises_connection_error(mode: str) -> None:
    """Nothing listening: a typed connection error naming provider and URL."""
    base = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(BhumiConnectionError) as caught:
        call(make_llm(base, max_retries=0), mode)
    error = caught.value
    assert isinstance(error, ConnectionError)
    assert error.provider == "openai"
    assert error.url == f"{base}/v1/chat/completions"
    assert "openai" in str(error)
    assert f"{base}/v1/chat/completions" in str(error)


@pytest.mark.parametrize("mode", ["ainvoke", "astream"])
def test_connection_refused_under_aiohttp_is_a_connection_error_too(mode: str) -> None:
    """httpx-aiohttp reports a refused connection as `ConnectTimeout`; it is not a timeout
    (the proxy answers 502, not 504, for it)."""
    pytest.importorskip("httpx_aiohttp")
    base = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(BhumiConnectionError) as caught:
        call(make_llm(base, max_retries=0, async_backend="aiohttp"), mode)
    assert caught.value.url == f"{base}/v1/chat/completions"


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_server_errors_then_success(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """500, 500, 200: the call succeeds after two retries with jittered backoff."""
    server.enqueue(error_response(500), error_response(500), answer(mode, "ok"))
    message = call(make_llm(server), mode)
    assert message.content == "ok"
    assert len(server.received) == 3
    assert len(sleeps.delays) == 2
    policy = RetryPolicy()
    for attempt, delay in enumerate(sleeps.delays):
        assert 0 <= delay <= policy.base_delay * 2**attempt


@pytest.mark.parametrize("status", [408, 409, 429, 503, 529])
@pytest.mark.parametrize("mode", MODES)
def test_retryable_statuses_are_retried(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str, status: int
) -> None:
    """408/409/429/5xx/529 are transient: retried, and the retry's answer is returned."""
    server.enqueue(error_response(status), answer(mode, "ok"))
    assert call(make_llm(server), mode).content == "ok"
    assert len(server.received) == 2
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize(
    ("status", "cls"), [(400, BadRequestError), (401, None), (404, None), (422, BadRequestError)]
)
@pytest.mark.parametrize("mode", MODES)
def test_client_errors_are_never_retried(
    server: ScriptedServer,
    sleeps: SleepRecorder,
    mode: str,
    status: int,
    cls: type[ProviderHTTPError] | None,
) -> None:
    """400/401/404/422 mean the request is wrong: raised at once, sent exactly once."""
    server.enqueue(error_response(status), answer(mode, "never"))
    with pytest.raises(ProviderHTTPError) as caught:
        call(make_llm(server), mode)
    assert caught.value.status_code == status
    if cls is not None:
        assert isinstance(caught.value, cls)
    assert len(server.received) == 1
    assert sleeps.delays == []


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"retry-after": "2"}, 2.0, id="seconds"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="fractional-seconds"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="retry-after-ms"),
        pytest.param({"retry-after-ms": "250", "retry-after": "7"}, 0.25, id="ms-wins"),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_retry_after_is_honoured(
    server: ScriptedServer,
    sleeps: SleepRecorder,
    mode: str,
    status: int,
    headers: dict[str, str],
    expected: float,
) -> None:
    """The wait before a retry is the one the server asked for (seconds or
    retry-after-ms), not our own backoff."""
    server.enqueue(error_response(status, headers=headers), answer(mode, "ok"))
    assert call(make_llm(server), mode).content == "ok"
    assert len(server.received) == 2
    assert sleeps.delays == [pytest.approx(expected)]


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_http_date_is_honoured(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """Retry-After as an HTTP-date: the wait is the time until that date."""
    headers = {"retry-after": _http_date(30)}
    server.enqueue(error_response(503, headers=headers), answer(mode, "ok"))
    assert call(make_llm(server), mode).content == "ok"
    assert len(sleeps.delays) == 1
    # HTTP-dates have one-second resolution; the tolerance only absorbs that.
    assert 27.0 <= sleeps.delays[0] <= 30.0


@pytest.mark.parametrize(
    "value", [pytest.param("0", id="zero"), pytest.param("past-date", id="date-in-the-past")]
)
@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_retry_after_zero_means_retry_at_once(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str, value: str
) -> None:
    """Retry-After: 0 (or a date already past) asks for an immediate retry: the wait is
    0, not our own random backoff."""
    header = _http_date(-120) if value == "past-date" else value
    server.enqueue(error_response(429, headers={"retry-after": header}), answer(mode, "ok"))
    assert call(make_llm(server), mode).content == "ok"
    assert sleeps.delays == [0.0]


_GOOGLE_429 = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
        ],
    }
}


@pytest.mark.parametrize("body", [_GOOGLE_429, [_GOOGLE_429]], ids=["object", "list-wrapped"])
@pytest.mark.parametrize("mode", MODES)
def test_google_retry_delay_in_body_is_honoured(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str, body: Any
) -> None:
    """Google puts the wait in the body (`RetryInfo.retryDelay: "3s"`): it is used."""
    server.enqueue(error_response(429, body), answer(mode, "ok"))
    assert call(make_llm(server), mode).content == "ok"
    assert sleeps.delays == [3.0]


@pytest.mark.parametrize("mode", MODES)
def test_max_retries_zero_raises_first_failure(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """max_retries=0: the first transient failure is raised as is."""
    server.enqueue(error_response(500), answer(mode, "never"))
    with pytest.raises(ServerError) as caught:
        call(make_llm(server, max_retries=0), mode)
    assert caught.value.status_code == 500
    assert len(server.received) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("mode", MODES)
def test_retries_exhausted_raise_last_error(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """After max_retries failed retries the last typed error is raised."""
    server.enqueue(error_response(503), error_response(503), error_response(429))
    with pytest.raises(RateLimitError):
        call(make_llm(server, max_retries=2), mode)
    assert len(server.received) == 3
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_beyond_policy_limit_is_not_waited_for(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """A Retry-After longer than `max_retry_after` (60 s) is not slept: the rate-limit
    error is raised at once and tells the caller how long the server wants."""
    server.enqueue(error_response(429, headers={"retry-after": "120"}), answer(mode, "ok"))
    with pytest.raises(RateLimitError) as caught:
        call(make_llm(server), mode)
    assert caught.value.retry_after == 120.0
    assert len(server.received) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("mode", MODES)
def test_retry_wait_never_outlasts_total_timeout(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """total_timeout is an overall deadline per call: the transport must not sleep past it
    to honour a Retry-After (it should give up, or wait at most the time left)."""
    server.enqueue(error_response(503, headers={"retry-after": "5"}), answer(mode, "ok"))
    with contextlib.suppress(ServerError, BhumiTimeoutError):
        call(make_llm(server, total_timeout=0.5), mode)
    assert all(delay <= 0.5 for delay in sleeps.delays), sleeps.delays


@pytest.mark.parametrize("mode", MODES)
def test_connection_failures_are_retried_then_raised(sleeps: SleepRecorder, mode: str) -> None:
    """Connection refused is retried max_retries times with backoff, then raised."""
    with pytest.raises(BhumiConnectionError):
        call(make_llm(f"http://127.0.0.1:{closed_port()}", max_retries=2), mode)
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_no_retry_once_the_stream_started(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """A stream cut mid-way is never retried (that would duplicate output): StreamCutError,
    one request, and the chunks before the cut were already delivered."""
    server.enqueue(
        Scripted.sse(text_chunk("Hel"), text_chunk("lo"), text_chunk(" world"), cut_after=2),
        answer(mode, "duplicate"),
    )
    chunks: list[AIMessageChunk] = []
    with pytest.raises(StreamCutError) as caught:
        call(make_llm(server), mode, chunks=chunks)
    assert "".join(str(c.content) for c in chunks) == "Hello"
    assert len(server.received) == 1
    assert sleeps.delays == []
    assert endpoint(server) in str(caught.value)


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_non_streamed_body_cut_is_not_retried(
    server: ScriptedServer, sleeps: SleepRecorder, mode: str
) -> None:
    """A non-streamed body cut after the headers raises StreamCutError, never retried."""
    body = json.dumps(completion("hello")).encode()
    server.enqueue(
        Scripted(parts=split_at(body, [20]), content_type="application/json", cut_after=1),
        answer(mode, "again"),
    )
    with pytest.raises(StreamCutError):
        call(make_llm(server), mode)
    assert len(server.received) == 1
    assert sleeps.delays == []


# --- policy objects ----------------------------------------------------------------------


def test_retry_policy_delays() -> None:
    """Backoff is full jitter under base * 2**attempt (capped); Retry-After wins when
    within max_retry_after; past max_retries there is no delay (give up)."""
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=3.0, max_retry_after=10.0)
    random.seed(7)
    for attempt in range(5):
        for _ in range(50):
            delay = policy.delay(attempt, None)
            assert delay is not None
            assert 0 <= delay <= min(3.0, 0.5 * 2**attempt)
    assert policy.delay(0, 4.0) == 4.0
    assert policy.delay(0, 11.0) is None
    assert policy.delay(5, None) is None
    assert policy.delay(5, 1.0) is None
    assert RetryPolicy(max_retries=0).delay(0, None) is None


def test_timeouts_clamp_read_to_total_deadline() -> None:
    """The per-request read timeout never exceeds the time left before the deadline."""
    started = time.monotonic()
    plain = Timeouts(connect=2.0, idle=30.0).for_request(started)
    assert (plain.connect, plain.read) == (2.0, 30.0)
    clamped = Timeouts(connect=2.0, idle=30.0, total=1.0).for_request(started)
    assert clamped.read is not None
    assert 0 < clamped.read <= 1.0
    expired = Timeouts(idle=30.0, total=1.0).for_request(started - 5.0)
    assert expired.read is not None
    assert 0 < expired.read <= 0.01
    no_idle = Timeouts(idle=None, total=2.0).for_request(started)
    assert no_idle.read is not None
    assert no_idle.read <= 2.0


# --- SSE framing end to end ----------------------------------------------------------------


def _frame(chunk: dict[str, Any], *, space: bool = True, eol: bytes = b"\n") -> bytes:
    prefix = b"data: " if space else b"data:"
    return prefix + json.dumps(chunk).encode() + eol + eol


_FRAMINGS: dict[str, list[bytes]] = {
    "data-without-space": [
        _frame(text_chunk("Hello"), space=False),
        _frame(text_chunk(" world"), space=False),
        _frame(finish_chunk(), space=False),
        b"data:[DONE]\n\n",
    ],
    "crlf": [
        _frame(text_chunk("Hello"), eol=b"\r\n"),
        _frame(text_chunk(" world"), eol=b"\r\n"),
        _frame(finish_chunk(), eol=b"\r\n"),
        b"data: [DONE]\r\n\r\n",
    ],
    "comment-lines": [
        b": OPENROUTER PROCESSING\n\n",
        _frame(text_chunk("Hello")),
        b": OPENROUTER PROCESSING\n\n",
        _frame(text_chunk(" world")),
        _frame(finish_chunk()),
        b"data: [DONE]\n\n",
    ],
    "keep-alives": [
        b"\n\n",
        b":\n\n",
        _frame(text_chunk("Hello")),
        b": ping\n\n",
        b"\n",
        _frame(text_chunk(" world")),
        b"event: ping\ndata: \n\n",
        _frame(finish_chunk()),
        b"data: [DONE]\n\n",
    ],
    "lone-cr": [
        b"data: " + json.dumps(text_chunk("Hello")).encode() + b"\r\r",
        b"data: " + json.dumps(text_chunk(" world")).encode() + b"\r\r",
        b"data: " + json.dumps(finish_chunk()).encode() + b"\r\r",
        b"data: [DONE]\r\r",
    ],
    "no-done-after-finish": [
        _frame(text_chunk("Hello")),
        _frame(text_chunk(" world")),
        _frame(finish_chunk()),
    ],
}


@pytest.mark.parametrize("framing", list(_FRAMINGS))
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_sse_framing_variants(server: ScriptedServer, mode: str, framing: str) -> None:
    """Every SSE dialect real servers send decodes to the same answer."""
    server.enqueue(Scripted(parts=list(_FRAMINGS[framing])))
    message = call(make_llm(server), mode)
    assert message.content == "Hello world"
    assert message.response_metadata.get("finish_reason") == "stop"


@pytest.mark.parametrize("framing", ["crlf", "keep-alives", "lone-cr"])
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_sse_framing_sent_one_byte_per_http_chunk(
    server: ScriptedServer, mode: str, framing: str
) -> None:
    """The same bodies split at every byte (CR and LF of one line ending in different
    network chunks included) still decode to the same answer."""
    body = b"".join(_FRAMINGS[framing])
    server.enqueue(Scripted(parts=[body[i : i + 1] for i in range(len(body))]))
    assert call(make_llm(server), mode).content == "Hello world"


_WIDE_CHARACTERS = ["é", "中", "🙂"]


@pytest.mark.parametrize(
    ("character", "offset"),
    [(c, k) for c in _WIDE_CHARACTERS for k in range(1, len(c.encode()))],
    ids=lambda v: repr(v) if isinstance(v, str) else str(v),
)
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_multibyte_character_split_across_reads(
    server: ScriptedServer, mode: str, character: str, offset: int
) -> None:
    """A UTF-8 character split between two network reads decodes exactly, whatever the
    split offset inside the character."""
    text = f"a{character}b"
    frame = b"data: " + json.dumps(text_chunk(text), ensure_ascii=False).encode() + b"\n\n"
    start = frame.index(character.encode())
    parts = [*split_at(frame, [start + offset]), _frame(finish_chunk()), b"data: [DONE]\n\n"]
    server.enqueue(Scripted(parts=parts, delay=0.01))
    message = call(make_llm(server), mode)
    assert message.content == text
    assert "\ufffd" not in str(message.content)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_multibyte_text_sent_one_byte_per_http_chunk(server: ScriptedServer, mode: str) -> None:
    """A body of mixed-width characters sent one byte per HTTP chunk decodes exactly."""
    text = "Grüße, 世界 🙂👍🏽!"
    body = b"".join(
        [
            b"data: " + json.dumps(text_chunk(text), ensure_ascii=False).encode() + b"\n\n",
            _frame(finish_chunk()),
            b"data: [DONE]\n\n",
        ]
    )
    server.enqueue(Scripted(parts=[body[i : i + 1] for i in range(len(body))]))
    assert call(make_llm(server), mode).content == text


# --- Transport directly -------------------------------------------------------------------


def _transport(**kwargs: Any) -> Transport:
    options: dict[str, Any] = {
        "provider": "test",
        "timeouts": Timeouts(connect=2.0, idle=2.0),
        "retry": RetryPolicy(max_retries=0),
        "secrets": (KEY,),
    }
    options.update(kwargs)
    return Transport(**options)


def _request(server: ScriptedServer, *, stream: bool = True) -> HTTPRequest:
    return HTTPRequest(
        url=endpoint(server),
        headers={"authorization": f"Bearer {KEY}"},
        body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream},
        stream=stream,
    )


def _texts(batches: list[list[StreamEvent]]) -> str:
    return "".join(e.text for batch in batches for e in batch if isinstance(e, TextDelta))


def test_transport_stream_delivers_each_read_before_a_cut(server: ScriptedServer) -> None:
    """Transport.stream hands over the events of every read as it arrives, so output
    before a cut is not lost; the cut itself is a StreamCutError with counts."""
    server.enqueue(
        Scripted.sse(text_chunk("a"), text_chunk("b"), text_chunk("c"), cut_after=2, delay=0.02)
    )
    transport = _transport()
    batches: list[list[StreamEvent]] = []

    def consume() -> None:
        for batch in transport.stream(_request(server), OpenAIChatStreamDecoder()):
            batches.append(batch)

    try:
        with pytest.raises(StreamCutError) as caught:
            run_bounded(consume)
    finally:
        transport.close()
    assert _texts(batches) == "ab"
    error = caught.value
    assert error.provider == "test"
    assert error.url == endpoint(server)
    assert error.frames == 2
    assert error.bytes_received > 0
    sent = server.received[0]
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.headers["content-type"] == "application/json"


def test_transport_policy_max_retry_after_is_respected(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    """A Transport with a short `max_retry_after` does not wait for a longer Retry-After,
    but does wait for a shorter one."""
    server.enqueue(
        error_response(503, headers={"retry-after": "2"}),
        error_response(503, headers={"retry-after": "0.5"}),
        Scripted.json({"ok": 1}),
    )
    transport = _transport(retry=RetryPolicy(max_retries=3, max_retry_after=1.0))
    try:
        with pytest.raises(ServerError) as caught:
            run_bounded(lambda: transport.post(_request(server, stream=False)))
        assert caught.value.retry_after == 2.0
        assert sleeps.delays == []
        assert run_bounded(lambda: transport.post(_request(server, stream=False))) == {"ok": 1}
        assert sleeps.delays == [0.5]
    finally:
        transport.close()
    assert len(server.received) == 3


async def test_transport_astream_and_apost(server: ScriptedServer) -> None:
    """The async twins stream events and return JSON bodies like the sync ones."""
    server.enqueue(
        Scripted.sse(text_chunk("x"), text_chunk("y"), finish_chunk()),
        Scripted.json({"ok": True}),
    )
    transport = _transport()
    try:
        batches: list[list[StreamEvent]] = []

        async def consume() -> Any:
            async for batch in transport.astream(_request(server), OpenAIChatStreamDecoder()):
                batches.append(batch)
            return await transport.apost(_request(server, stream=False))

        body = await asyncio.wait_for(consume(), HANG_GUARD)
    finally:
        await transport.aclose()
    assert _texts(batches) == "xy"
    assert body == {"ok": True}
    assert server.connections == 1


def test_transport_post_returns_json(server: ScriptedServer) -> None:
    """Transport.post returns the decoded JSON of a 2xx answer."""
    server.enqueue(Scripted.json({"answer": 42}))
    with httpx.Client() as client:
        transport = _transport(http_client=client)
        assert transport.post(_request(server, stream=False)) == {"answer": 42}
    assert server.received[0].headers.get("accept") != "text/event-stream"


# --- pooling and lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_sequential_calls_reuse_one_connection(server: ScriptedServer, mode: str) -> None:
    """One pool per model instance: back-to-back calls share one keep-alive connection."""
    server.enqueue(*(answer(mode, f"r{i}") for i in range(3)))
    llm = make_llm(server)
    try:
        for i in range(3):
            assert call(llm, mode).content == f"r{i}"
    finally:
        llm.close()
    assert server.connections == 1
    assert len(server.received) == 3


@pytest.mark.parametrize("mode", ["ainvoke", "astream"])
async def test_sequential_async_calls_reuse_one_connection(
    server: ScriptedServer, mode: str
) -> None:
    """The async pool of one event loop is reused across calls too."""
    server.enqueue(*(answer(mode, f"r{i}") for i in range(3)))
    llm = make_llm(server)
    try:
        for i in range(3):
            if mode == "ainvoke":
                message = await asyncio.wait_for(llm.ainvoke("hi"), HANG_GUARD)
                assert message.content == f"r{i}"
            else:

                async def collect() -> str:
                    return "".join([str(c.content) async for c in llm.astream("hi")])

                assert await asyncio.wait_for(collect(), HANG_GUARD) == f"r{i}"
    finally:
        await llm.aclose()
    assert server.connections == 1


def test_close_then_call_reopens(server: ScriptedServer) -> None:
    """close() releases the pool; the model still works afterwards (a new pool)."""
    server.enqueue(answer("invoke", "one"), answer("stream", "two"), answer("invoke", "three"))
    llm = make_llm(server)
    assert call(llm, "invoke").content == "one"
    llm.close()
    assert call(llm, "stream").content == "two"
    llm.close()
    llm.close()  # idempotent
    assert call(llm, "invoke").content == "three"
    llm.close()
    assert server.connections == 3


async def test_aclose_then_call_reopens(server: ScriptedServer) -> None:
    """aclose() releases the loop's pool; the next async call opens a new one."""
    server.enqueue(answer("ainvoke", "one"), answer("ainvoke", "two"))
    llm = make_llm(server)
    assert (await asyncio.wait_for(llm.ainvoke("hi"), HANG_GUARD)).content == "one"
    await llm.aclose()
    assert (await asyncio.wait_for(llm.ainvoke("hi"), HANG_GUARD)).content == "two"
    await llm.aclose()
    assert server.connections == 2


def test_context_manager_closes_pool(server: ScriptedServer) -> None:
    """`with ChatBhumi(...) as llm:` closes the pool on exit; the model stays usable."""
    server.enqueue(answer("invoke", "one"), answer("invoke", "two"))
    with make_llm(server) as llm:
        assert call(llm, "invoke").content == "one"
    assert call(llm, "invoke").content == "two"
    llm.close()
    assert server.connections == 2


def test_one_instance_across_two_event_loops(server: ScriptedServer) -> None:
    """Async calls from two separate asyncio.run loops both work with one instance (a
    pool is never reused on a loop it does not belong to)."""
    server.enqueue(answer("ainvoke", "first"), answer("astream", "second"))
    llm = make_llm(server)

    async def first() -> Any:
        return await asyncio.wait_for(llm.ainvoke("hi"), HANG_GUARD)

    async def second() -> str:
        async def collect() -> str:
            return "".join([str(c.content) async for c in llm.astream("hi")])

        try:
            return await asyncio.wait_for(collect(), HANG_GUARD)
        finally:
            await llm.aclose()

    assert asyncio.run(first()).content == "first"
    assert asyncio.run(second()) == "second"
    assert len(server.received) == 2


def test_external_http_client_is_used_and_not_closed(server: ScriptedServer) -> None:
    """An http_client passed in carries every request (its hooks run) and stays open
    after ChatBhumi.close(): the caller owns it."""
    seen: list[str] = []

    def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    server.enqueue(answer("invoke", "a"), answer("stream", "b"), answer("invoke", "c"))
    with httpx.Client(event_hooks={"request": [hook]}) as client:
        llm = make_llm(server, http_client=client)
        assert call(llm, "invoke").content == "a"
        assert call(llm, "stream").content == "b"
        llm.close()
        assert not client.is_closed
        assert call(llm, "invoke").content == "c"
        assert seen == [endpoint(server)] * 3
    assert server.connections == 1


async def test_external_async_http_client_is_used_and_not_closed(
    server: ScriptedServer,
) -> None:
    """An http_async_client passed in carries every async request and stays open after
    aclose()/close()."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    server.enqueue(answer("ainvoke", "a"), answer("astream", "b"))
    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as client:
        llm = make_llm(server, http_async_client=client)
        assert (await asyncio.wait_for(llm.ainvoke("hi"), HANG_GUARD)).content == "a"
        await llm.aclose()
        llm.close()
        assert not client.is_closed

        async def collect() -> str:
            return "".join([str(c.content) async for c in llm.astream("hi")])

        assert await asyncio.wait_for(collect(), HANG_GUARD) == "b"
        assert seen == [endpoint(server)] * 2


# --- bounded and loud: frame size, content type, UTF-8 --------------------------------


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_a_line_that_never_ends_fails_at_the_limit_not_at_the_end_of_the_body(
    server: ScriptedServer, mode: str
) -> None:
    """A server that sends bytes without a newline fails the call as soon as the limit is
    passed: here it then stalls past the idle timeout, so waiting for the body's end would
    have been a timeout instead."""
    server.enqueue(
        Scripted(
            parts=[b"data: " + b"x" * 3000, b"x" * 3000],
            stall_after=2,
            stall_seconds=4.0,
        )
    )
    llm = make_llm(server, max_frame_size=4096, timeout=2.0, max_retries=0)
    with pytest.raises(InvalidStreamDataError) as caught:
        call(llm, mode)
    message = str(caught.value)
    assert "maximum frame size of 4,096 bytes" in message
    assert "openai" in message and endpoint(server) in message


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_a_non_streamed_answer_is_bounded_too(server: ScriptedServer, mode: str) -> None:
    server.enqueue(Scripted.json(completion("y" * 5000)))
    with pytest.raises(InvalidStreamDataError, match="maximum frame size of 4,096 bytes"):
        call(make_llm(server, max_frame_size=4096), mode)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_a_streamed_call_answered_with_html_names_the_type_and_quotes_the_body(
    server: ScriptedServer, mode: str
) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    server.enqueue(Scripted(parts=[page], content_type="text/html; charset=utf-8"))
    with pytest.raises(UnexpectedContentTypeError) as caught:
        call(make_llm(server), mode)
    message = str(caught.value)
    assert "text/html" in message and "502 Bad Gateway" in message
    assert endpoint(server) in message


@pytest.mark.parametrize("mode", WHOLE_MODES)
def test_a_non_streamed_html_answer_names_the_type(server: ScriptedServer, mode: str) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    server.enqueue(Scripted(parts=[page], content_type="text/html"))
    with pytest.raises(InvalidStreamDataError, match=r"text/html.*not valid JSON.*Bad Gateway"):
        call(make_llm(server), mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["text", "key"])
def test_invalid_utf8_fails_loudly_with_its_offset(
    server: ScriptedServer, mode: str, where: str
) -> None:
    """An invalid byte in the text used to become U+FFFD, and one in a JSON key made the
    whole chunk vanish (content "", finish "stop"): an answer silently cut short."""
    if mode in STREAM_MODES:
        first = f"data: {json.dumps(text_chunk('Hello'))}\n\n".encode()
        bad = json.dumps(text_chunk(" world")).encode()
        if where == "text":
            bad = bad.replace(b" world", b" w\xffrld")
        else:
            bad = bad.replace(b'"content"', b'"cont\xffnt"')
        body = first + b"data: " + bad + b"\n\n"
        body += f"data: {json.dumps(finish_chunk())}\n\ndata: [DONE]\n\n".encode()
        server.enqueue(Scripted(parts=[body]))
    else:
        body = json.dumps(completion("Hello world")).encode()
        body = body.replace(b"world", b"w\xffrld") if where == "text" else body
        body = body.replace(b'"content"', b'"cont\xffnt"') if where == "key" else body
        server.enqueue(Scripted(parts=[body], content_type="application/json"))
    seen: list[AIMessageChunk] = []
    with pytest.raises(InvalidStreamDataError, match="not valid UTF-8") as caught:
        call(make_llm(server), mode, chunks=seen)
    assert caught.value.offset == body.index(b"\xff")
    assert "\\xff" in caught.value.data
    if mode in STREAM_MODES:
        assert "".join(str(c.content) for c in seen) in ("", "Hello")  # nothing invented


@pytest.mark.parametrize("mode", MODES)
def test_json_nested_too_deeply_to_read_is_invalid_data(server: ScriptedServer, mode: str) -> None:
    """Python's JSON parser gives up on deep nesting with a RecursionError: still a
    `BhumiError` naming what came, never a crash of another type."""
    deep = b"[" * 100_000 + b"]" * 100_000
    if mode in STREAM_MODES:
        server.enqueue(Scripted(parts=[b"data: " + deep + b"\n\n"]))
    else:
        server.enqueue(Scripted(parts=[deep], content_type="application/json"))
    with pytest.raises(InvalidStreamDataError):
        call(make_llm(server), mode)


def test_a_proxy_backend_takes_its_frame_limit_from_the_config() -> None:
    from langchain_bhumi.proxy.config import parse_config
    from langchain_bhumi.proxy.service import Backend

    config = parse_config(
        {"backends": {"local": {"provider": "llamacpp", "max_frame_size": 4096}}}
    ).backends["local"]
    backend = Backend(config)
    assert backend.client.transport.max_frame_size == 4096


@pytest.mark.parametrize("size", [0, -1, "16MiB", True, None])
def test_a_frame_limit_that_is_not_a_positive_number_is_refused(size: Any) -> None:
    """`max_frame_size = 0` would refuse every response; a string failed with a bare
    ValueError. Both places that take it say which setting is wrong."""
    from pydantic import ValidationError

    from langchain_bhumi.core.errors import ConfigurationError
    from langchain_bhumi.proxy.config import parse_config

    table = {"provider": "llamacpp", "max_frame_size": size}
    with pytest.raises(ConfigurationError, match=r"\[backends\.local\]\.max_frame_size"):
        parse_config({"backends": {"local": table}})
    if size is not True:  # pydantic reads True as 1, a valid (if tiny) limit
        with pytest.raises(ValidationError, match="max_frame_size"):
            make_llm("http://127.0.0.1:9", max_frame_size=size)


# --- one LangChain chunk per network read ---------------------------------------------


class _PacedServer:
    """Sends one text event, waits until the client has shown it to its consumer, then
    sends `burst` more as separate HTTP chunks, back to back, and the end of the stream.
    `prompt` says whether the first event reached the consumer before the server gave up
    waiting: a client that held it back for more data would have hung until then."""

    def __init__(self, burst: int) -> None:
        import socket
        import threading

        self.burst = burst
        self.delivered = threading.Event()
        self.prompt = False
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _chunk(event: dict[str, Any] | str) -> bytes:
        data = event if isinstance(event, str) else json.dumps(event)
        payload = f"data: {data}\n\n".encode()
        return b"%x\r\n%s\r\n" % (len(payload), payload)

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n" + self._chunk(text_chunk("first"))
            )
            self.prompt = self.delivered.wait(HANG_GUARD / 2)
            for i in range(self.burst):
                conn.sendall(self._chunk(text_chunk(f" {i}")))
            conn.sendall(self._chunk(finish_chunk()) + self._chunk("[DONE]") + b"0\r\n\r\n")
        self._sock.close()


def _reads_completing_text_events(reads: list[bytes]) -> int:
    """How many of the body reads finished at least one SSE event that carries text."""
    stream = b"".join(reads)
    ends, position = [], 0
    for read in reads:
        position += len(read)
        ends.append(position)
    completing = set()
    start = stream.find(b"data: ")
    while start >= 0:
        end = stream.index(b"\n\n", start) + 2
        if b'"content"' in stream[start:end]:
            completing.add(next(i for i, e in enumerate(ends) if e >= end))
        start = stream.find(b"data: ", end)
    return len(completing)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_one_langchain_chunk_per_network_read_and_none_held_back(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the default install (httpx), each network read that completed text events
    becomes exactly one chunk, and the first is delivered before any more bytes come."""
    import httpcore._backends.anyio as anyio_backend
    import httpcore._backends.sync as sync_backend

    reads: list[bytes] = []
    sync_read = sync_backend.SyncStream.read
    async_read = anyio_backend.AnyIOStream.read

    def counted(self: Any, max_bytes: int, timeout: float | None = None) -> bytes:
        reads.append(sync_read(self, max_bytes, timeout))
        return reads[-1]

    async def acounted(self: Any, max_bytes: int, timeout: float | None = None) -> bytes:
        reads.append(await async_read(self, max_bytes, timeout))
        return reads[-1]

    monkeypatch.setattr(sync_backend.SyncStream, "read", counted)
    monkeypatch.setattr(anyio_backend.AnyIOStream, "read", acounted)
    server = _PacedServer(burst=60)
    seen: list[AIMessageChunk] = []

    class Consumer(list[AIMessageChunk]):
        """Signals the server at the first chunk, then lets the burst pile up."""

        def append(self, chunk: AIMessageChunk) -> None:
            super().append(chunk)
            seen.append(chunk)
            if len(self) == 1:
                server.delivered.set()
                time.sleep(0.3)

    message = call(make_llm(server.url, max_retries=0), mode, chunks=Consumer())
    assert message.content == "first" + "".join(f" {i}" for i in range(60))
    assert server.prompt, "the first chunk waited for more data"
    assert seen[-1].chunk_position == "last"
    assert len(seen) - 1 == _reads_completing_text_events(reads)
    assert len(seen) - 1 < 61  # the burst arrived in fewer reads than events
