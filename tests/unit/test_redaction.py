"""Credentials never leak: not in logs, error messages, reprs or URLs.

Also checks that the DEBUG log says what a developer needs to debug a call: method and
URL, provider, stream/tools flags, status, frame and byte counts, and how the stream ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from langchain_core.load import dumps

from langchain_bhumi import (
    AuthenticationError,
    BhumiConnectionError,
    BhumiError,
    BhumiTimeoutError,
    ProviderHTTPError,
    StreamCutError,
    StreamErrorEvent,
)
from langchain_bhumi.core.redaction import REDACTED, Redactor, redact_headers, redact_url
from tests.support.server import Scripted, ScriptedServer
from tests.unit._transport_support import (
    KEY,
    MODES,
    STREAM_MODES,
    SleepRecorder,
    answer,
    call,
    closed_port,
    endpoint,
    error_response,
    finish_chunk,
    get_weather,
    make_llm,
    text_chunk,
)

URL_SECRET = "AIzaSyD-url-secret-0123456789"

# --- redact_url, redact_headers, Redactor --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://generativelanguage.googleapis.com/v1beta/models/g:streamGenerateContent"
            f"?alt=sse&key={URL_SECRET}",
            "https://generativelanguage.googleapis.com/v1beta/models/g:streamGenerateContent"
            "?alt=sse&key=***",
            id="google-key",
        ),
        pytest.param(
            f"http://h/v1?api_key={URL_SECRET}&x=1", "http://h/v1?api_key=***&x=1", id="api_key"
        ),
        pytest.param(f"http://h/v1?apikey={URL_SECRET}", "http://h/v1?apikey=***", id="apikey"),
        pytest.param(f"http://h/v1?KEY={URL_SECRET}", "http://h/v1?KEY=***", id="upper-case"),
        pytest.param(
            f"http://h/v1?access_token={URL_SECRET}#frag",
            "http://h/v1?access_token=***#frag",
            id="access_token",
        ),
        pytest.param(f"http://h/v1?token={URL_SECRET}", "http://h/v1?token=***", id="token"),
        pytest.param(
            f"https://user:{URL_SECRET}@proxy.local:8443/v1/chat/completions",
            "https://***@proxy.local:8443/v1/chat/completions",
            id="userinfo",
        ),
        pytest.param(
            "http://127.0.0.1:8080/v1/chat/completions?alt=sse",
            "http://127.0.0.1:8080/v1/chat/completions?alt=sse",
            id="nothing-secret",
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """Secrets in query parameters and user info are masked; the rest is kept."""
    redacted = redact_url(url)
    assert redacted == expected
    assert URL_SECRET not in redacted


def test_redact_url_without_secrets_is_unchanged() -> None:
    """A URL with nothing to hide is returned as is (no re-encoding)."""
    url = "http://127.0.0.1:8080/v1/chat/completions?q=a%20b&alt=sse"
    assert redact_url(url) == url


def test_redact_headers() -> None:
    """Credential headers are masked whatever their case; others are kept; the input is
    not modified."""
    headers = {
        "Authorization": f"Bearer {KEY}",
        "x-api-key": KEY,
        "X-Goog-Api-Key": KEY,
        "api-key": KEY,
        "OpenAI-Organization": "org-123",
        "content-type": "application/json",
    }
    masked = redact_headers(headers)
    assert masked["content-type"] == "application/json"
    for name in ("Authorization", "x-api-key", "X-Goog-Api-Key", "api-key", "OpenAI-Organization"):
        assert masked[name] == REDACTED
    assert KEY not in json.dumps(masked)
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_redactor_text_masks_known_secrets_and_bearer_tokens() -> None:
    """Every occurrence of a known key is masked, and so is any bearer token."""
    redactor = Redactor([KEY, None, "other-secret-value"])
    text = f"key {KEY} again {KEY}; other-secret-value; Authorization: Bearer abcdef0123456789"
    masked = redactor.text(text)
    assert KEY not in masked
    assert "other-secret-value" not in masked
    assert "abcdef0123456789" not in masked
    assert masked.count(REDACTED) == 4
    assert "Bearer ***" in masked


def test_redactor_ignores_very_short_secrets() -> None:
    """A too-short 'secret' (e.g. a placeholder key like "x") would mask innocent text."""
    redactor = Redactor(["x", "abc"])
    assert redactor.text("x marks the abc spot") == "x marks the abc spot"


def test_redactor_url_masks_query_and_known_secrets_in_the_path() -> None:
    """Redactor.url masks secret query params and a known key wherever it appears."""
    redactor = Redactor([KEY])
    url = f"https://h/keys/{KEY}/v1?key={URL_SECRET}&alt=sse"
    masked = redactor.url(url)
    assert KEY not in masked
    assert URL_SECRET not in masked
    assert masked == "https://h/keys/***/v1?key=***&alt=sse"


# --- reprs -----------------------------------------------------------------------------------


def test_model_repr_str_and_serialization_hide_the_key(server: ScriptedServer) -> None:
    """repr/str of ChatBhumi, its serialized form and its traced params never show the key."""
    llm = make_llm(server)
    shown = [
        repr(llm),
        str(llm),
        repr(llm._client.transport),
        dumps(llm),
        json.dumps(llm._identifying_params),
        json.dumps(llm._get_ls_params()),
        llm.model_dump_json(),
    ]
    for text in shown:
        assert KEY not in text
    assert llm.api_key is not None
    assert llm.api_key.get_secret_value() == KEY


# --- errors ----------------------------------------------------------------------------------


def _assert_error_hides(error: BaseException, *secrets: str) -> None:
    texts = [str(error), repr(error), repr(error.args)]
    for name in ("body", "error_message", "url", "reason", "detail", "data"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            texts.append(value)
    for text in texts:
        for secret in secrets:
            assert secret not in text, text


@pytest.mark.parametrize("mode", MODES)
def test_401_echoing_the_key_does_not_leak_it(server: ScriptedServer, mode: str) -> None:
    """A 401 whose body echoes the key (and the bearer header) is reported without it."""
    body = {
        "error": {
            "message": f"Incorrect API key provided: {KEY}. (header: Bearer {KEY})",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    server.enqueue(error_response(401, body, headers={"x-request-id": "req_1"}))
    with pytest.raises(AuthenticationError) as caught:
        call(make_llm(server), mode)
    error = caught.value
    _assert_error_hides(error, KEY)
    assert "Incorrect API key provided" in str(error)
    assert error.error_type == "invalid_request_error"


@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_key_in_base_url_query_never_shown(server: ScriptedServer, mode: str) -> None:
    """A key passed in the base URL's query (`?key=`) is masked in error messages."""
    server.enqueue(error_response(403, {"error": {"message": "API key not valid"}}))
    llm = make_llm(f"{server.url}/v1?key={URL_SECRET}")
    with pytest.raises(ProviderHTTPError) as caught:
        call(llm, mode)
    assert server.received[0].path.endswith(f"?key={URL_SECRET}")  # it was sent...
    _assert_error_hides(caught.value, URL_SECRET)  # ...but is never shown
    assert caught.value.url == f"{endpoint(server)}?key=***"


@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_key_in_url_hidden_in_timeout_and_connection_errors(
    server: ScriptedServer, mode: str
) -> None:
    """Timeouts and connection failures name the URL, never its credentials."""
    server.enqueue(Scripted(stall_before_headers=60.0))
    llm = make_llm(f"{server.url}/v1?key={URL_SECRET}", timeout=0.3, response_timeout=0.3)
    with pytest.raises(BhumiTimeoutError) as timeout:
        call(llm, mode)
    _assert_error_hides(timeout.value, URL_SECRET)
    refused = make_llm(
        f"http://{KEY}:{URL_SECRET}@127.0.0.1:{closed_port()}/v1?key={KEY}", max_retries=0
    )
    with pytest.raises(BhumiConnectionError) as connection:
        call(refused, mode)
    _assert_error_hides(connection.value, URL_SECRET, KEY)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_key_echoed_inside_a_stream_is_not_shown(server: ScriptedServer, mode: str) -> None:
    """An error event inside a 200 stream that echoes the key is reported without it
    (in-band error text is a body excerpt like any other)."""
    event = {"error": {"message": f"key {KEY} was revoked", "type": "authentication_error"}}
    server.enqueue(Scripted(parts=[f"data: {json.dumps(event)}\n\n".encode()]))
    with pytest.raises(StreamErrorEvent) as caught:
        call(make_llm(server), mode)
    assert "was revoked" in str(caught.value)
    _assert_error_hides(caught.value, KEY)


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_key_echoed_in_an_invalid_frame_is_not_shown(server: ScriptedServer, mode: str) -> None:
    """The frame excerpt of an invalid or cut frame does not carry the key either."""
    server.enqueue(Scripted(parts=[f"data: invalid key {KEY}\n\n".encode()]))
    with pytest.raises(BhumiError) as caught:
        call(make_llm(server), mode)
    _assert_error_hides(caught.value, KEY)


# --- DEBUG logs ------------------------------------------------------------------------------


def _tool_stream() -> tuple[Scripted, int, int]:
    """A streamed tool call, with its frame and byte counts (for the log check)."""
    first = text_chunk("")
    first["choices"][0]["delta"] = {
        "role": "assistant",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
    }
    chunks = [first]
    for piece in ('{"city"', ': "Par', 'is"}'):
        chunk = text_chunk("")
        chunk["choices"][0]["delta"] = {
            "tool_calls": [{"index": 0, "function": {"arguments": piece}}]
        }
        chunks.append(chunk)
    chunks.append(finish_chunk("tool_calls"))
    scripted = Scripted.sse(*chunks, headers={"x-request-id": "req_log_1"})
    return scripted, len(chunks) + 1, sum(len(p) for p in scripted.parts)


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def _bhumi_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("langchain_bhumi")]


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_debug_log_of_a_streamed_tool_call(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """A full streamed call with tools logs what a developer needs (method, URL,
    provider, stream/tools flags, status, request id, frame/byte counts, how it ended),
    and nothing in any logger's DEBUG output shows the key."""
    scripted, frames, size = _tool_stream()
    server.enqueue(scripted)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="langchain_bhumi")
    llm = make_llm(server)
    message: Any = call(llm, mode, runnable=llm.bind_tools([get_weather]))
    assert message.tool_calls[0]["args"] == {"city": "Paris"}

    assert KEY not in caplog.text
    assert KEY not in _log_text(caplog)
    lines = "\n".join(_bhumi_lines(caplog))
    assert f"POST {endpoint(server)} provider=openai stream=True tools=True" in lines
    assert "answered 200" in lines
    assert "request_id=req_log_1" in lines
    assert f"frames={frames} bytes={size}" in lines
    assert "ended with [DONE]" in lines


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_debug_log_of_a_non_streamed_call(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """A non-streamed call logs method, URL, flags and status, and never the key."""
    server.enqueue(answer(mode, "ok"))
    caplog.set_level(logging.DEBUG)
    call(make_llm(server), mode)
    assert KEY not in _log_text(caplog)
    lines = "\n".join(_bhumi_lines(caplog))
    assert f"POST {endpoint(server)} provider=openai stream=False tools=False" in lines
    assert "answered 200" in lines


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_debug_log_says_the_stream_was_cut(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """A stream whose connection drops is logged as cut, with the counts so far."""
    server.enqueue(Scripted.sse(text_chunk("a"), text_chunk("b"), cut_after=1))
    caplog.set_level(logging.DEBUG, logger="langchain_bhumi")
    with pytest.raises(StreamCutError):
        call(make_llm(server), mode)
    lines = "\n".join(_bhumi_lines(caplog))
    assert "stream cut" in lines
    assert "ended with" not in lines
    assert "frames=1" in lines


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_debug_log_says_the_stream_ended_without_done(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """A stream that ends after a finish_reason but without [DONE] is logged as such."""
    server.enqueue(Scripted.sse(text_chunk("a"), finish_chunk(), done=False))
    caplog.set_level(logging.DEBUG, logger="langchain_bhumi")
    call(make_llm(server), mode)
    lines = "\n".join(_bhumi_lines(caplog))
    assert "ended with finish_reason, no [DONE]" in lines


@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_debug_log_of_retries_hides_keys(
    server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """Retry lines (which include the failure) hide a key echoed in the error body and a
    key in the URL query."""
    SleepRecorder(monkeypatch)
    body = {"error": {"message": f"overloaded for key {KEY}", "type": "server_error"}}
    server.enqueue(error_response(503, body), answer(mode, "ok"))
    caplog.set_level(logging.DEBUG, logger="langchain_bhumi")
    llm = make_llm(f"{server.url}/v1?key={URL_SECRET}")
    assert call(llm, mode).content == "ok"
    lines = "\n".join(_bhumi_lines(caplog))
    assert "retrying openai" in lines
    assert "overloaded for key" in lines
    assert KEY not in lines
    assert URL_SECRET not in lines


def test_debug_log_with_tools_in_a_native_async_call(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The same log lines come out of astream driven from an already running loop."""
    scripted, frames, size = _tool_stream()
    server.enqueue(scripted)
    caplog.set_level(logging.DEBUG, logger="langchain_bhumi")
    llm = make_llm(server)

    async def run() -> None:
        try:
            async for _ in llm.bind_tools([get_weather]).astream("hi"):
                pass
        finally:
            await llm.aclose()

    asyncio.run(asyncio.wait_for(run(), 20))
    lines = "\n".join(_bhumi_lines(caplog))
    assert "stream=True tools=True" in lines
    assert f"frames={frames} bytes={size}" in lines
    assert KEY not in lines
