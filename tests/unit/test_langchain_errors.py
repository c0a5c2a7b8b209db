"""ChatBhumi's errors inside langchain-core's error hierarchy.

What a LangChain user notices: `with_fallbacks(exceptions_to_handle=(ModelAPIError,))`
that does not catch a 500, a retry middleware that retries a rejected key, a context
overflow that cannot be told from any other 400. Every error stays the ChatBhumi type it
was (`ProviderHTTPError`, `BhumiTimeoutError`, ...) and is also the matching
`langchain_core.exceptions` type, with `is_retryable` saying whether the same request may
succeed if sent again.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent, middleware
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
)

from langchain_bhumi import (
    AuthenticationError,
    BadRequestError,
    BhumiConnectionError,
    BhumiTimeoutError,
    ChatBhumi,
    ConfigurationError,
    InvalidStreamDataError,
    NotFoundError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    StreamCutError,
    StreamErrorEvent,
)
from tests.support.server import Scripted, ScriptedServer
from tests.unit._transport_support import (
    MODES,
    answer,
    call,
    closed_port,
    error_response,
    make_llm,
    text_chunk,
)

# (status, body, ChatBhumi type, langchain-core type, is_retryable)
HTTP_CASES: list[tuple[int, Any, type[Exception], type[ModelError], bool]] = [
    (400, None, BadRequestError, ModelInvalidRequestError, False),
    (401, None, AuthenticationError, ModelAuthenticationError, False),
    (403, None, AuthenticationError, ModelPermissionDeniedError, False),
    (404, None, NotFoundError, ModelNotFoundError, False),
    (408, None, ProviderHTTPError, ModelTimeoutError, True),
    (422, None, BadRequestError, ModelInvalidRequestError, False),
    (429, None, RateLimitError, ModelRateLimitError, True),
    (500, None, ServerError, ModelAPIError, True),
    (501, None, ServerError, ModelAPIError, False),
    (503, None, ServerError, ModelAPIError, True),
    (529, None, ServerError, ModelAPIError, True),
]

# Context-length refusals as each kind of server words them (400 or 413).
OVERFLOW_BODIES: dict[str, tuple[int, Any]] = {
    "openai": (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, "
                "your messages resulted in 130214 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    "anthropic": (
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 208310 tokens > 200000 maximum",
            },
        },
    ),
    "gemini": (
        400,
        {
            "error": {
                "code": 400,
                "message": "The input token count (1200000) exceeds the maximum number of "
                "tokens allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            }
        },
    ),
    "llamacpp": (
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 5000,
                "n_ctx": 4096,
            }
        },
    ),
    "vllm": (
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you "
            "requested 5000 tokens (4000 in the messages, 1000 in the completion).",
            "type": "BadRequestError",
            "code": 400,
        },
    ),
    "mistral": (
        400,
        {
            "object": "error",
            "message": "Prompt contains 40000 tokens and 0 draft tokens, too large for model "
            "with 32768 maximum context length",
            "type": "invalid_request_error",
        },
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("status", "body", "bhumi_type", "lc_type", "retryable"),
    HTTP_CASES,
    ids=[str(case[0]) for case in HTTP_CASES],
)
def test_http_errors_are_also_langchain_model_errors(
    server: ScriptedServer,
    mode: str,
    status: int,
    body: Any,
    bhumi_type: type[Exception],
    lc_type: type[ModelError],
    retryable: bool,
) -> None:
    server.enqueue(error_response(status, body))
    with pytest.raises(lc_type) as caught:
        call(make_llm(server, max_retries=0), mode)
    error = caught.value
    assert isinstance(error, bhumi_type)
    assert isinstance(error, ProviderHTTPError) and error.status_code == status
    assert error.is_retryable is retryable
    assert f"HTTP {status}" in str(error)  # the message is still ChatBhumi's


@pytest.mark.parametrize("server_kind", sorted(OVERFLOW_BODIES))
def test_a_context_length_refusal_is_a_context_overflow(
    server: ScriptedServer, server_kind: str
) -> None:
    status, body = OVERFLOW_BODIES[server_kind]
    server.enqueue(error_response(status, body))
    with pytest.raises(ContextOverflowError) as caught:
        make_llm(server, max_retries=0).invoke("a very long prompt")
    assert isinstance(caught.value, BadRequestError)
    assert caught.value.is_retryable is False


def test_a_rate_limit_on_tokens_is_not_a_context_overflow(server: ScriptedServer) -> None:
    server.enqueue(
        error_response(
            429,
            {
                "error": {
                    "message": "Rate limit reached for tokens per min (TPM): Limit 30000, "
                    "Requested 40000. The input or output tokens must be reduced.",
                    "type": "tokens",
                    "code": "rate_limit_exceeded",
                }
            },
        )
    )
    with pytest.raises(ModelRateLimitError) as caught:
        make_llm(server, max_retries=0).invoke("hi")
    assert not isinstance(caught.value, ContextOverflowError)


@pytest.mark.parametrize("mode", MODES)
def test_timeouts_and_connection_failures(server: ScriptedServer, mode: str) -> None:
    server.enqueue(answer(mode, "late", stall_before_headers=2.0))
    with pytest.raises(ModelTimeoutError) as timed_out:
        call(make_llm(server, timeout=0.3, response_timeout=0.3, max_retries=0), mode)
    assert isinstance(timed_out.value, BhumiTimeoutError)
    assert timed_out.value.is_retryable is True

    with pytest.raises(ModelConnectionError) as refused:
        call(make_llm(f"http://127.0.0.1:{closed_port()}", max_retries=0), mode)
    assert isinstance(refused.value, BhumiConnectionError)
    assert refused.value.is_retryable is True


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_broken_streams(server: ScriptedServer, mode: str) -> None:
    llm = make_llm(server, max_retries=0)
    server.enqueue(Scripted.sse(text_chunk("Hel"), text_chunk("lo"), done=False, cut_after=1))
    with pytest.raises(ModelConnectionError) as cut:
        call(llm, mode)
    assert isinstance(cut.value, StreamCutError) and cut.value.is_retryable is True

    server.enqueue(Scripted(parts=[b"data: {not json\n\n"]))
    with pytest.raises(ModelAPIError) as garbled:
        call(llm, mode)
    assert isinstance(garbled.value, InvalidStreamDataError)
    assert garbled.value.is_retryable is False


# (in-stream error body, langchain-core type, is_retryable)
IN_STREAM_CASES: list[tuple[dict[str, Any], type[ModelError], bool]] = [
    ({"error": {"message": "Overloaded", "type": "overloaded_error"}}, ModelAPIError, True),
    ({"error": {"message": "Rate limit exceeded", "code": 429}}, ModelRateLimitError, True),
    ({"error": {"message": "upstream failed", "code": 502}}, ModelAPIError, True),
    (
        {"error": {"message": "Failed to call a function.", "type": "tool_use_failed"}},
        ModelAPIError,
        False,
    ),
    (
        {"error": {"message": "prompt is too long: 210000 tokens > 200000 maximum"}},
        ContextOverflowError,
        False,
    ),
]


@pytest.mark.parametrize(
    ("body", "lc_type", "retryable"),
    IN_STREAM_CASES,
    ids=["overloaded", "429", "502", "tool_use_failed", "too_long"],
)
def test_errors_inside_a_stream(
    server: ScriptedServer, body: dict[str, Any], lc_type: type[ModelError], retryable: bool
) -> None:
    server.enqueue(Scripted.sse(text_chunk("Hel"), body, done=False))
    with pytest.raises(lc_type) as caught:
        call(make_llm(server, max_retries=0), "stream")
    assert isinstance(caught.value, StreamErrorEvent)
    assert caught.value.is_retryable is retryable


def test_a_request_the_format_cannot_carry_is_an_invalid_request(server: ScriptedServer) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    llm = ChatBhumi(model="gemini/gemini-2.5-flash", base_url=server.url, api_key="k")
    orphan = ToolMessage("42", tool_call_id="nowhere")  # no call, no name: Gemini cannot pair it
    with pytest.raises(ModelInvalidRequestError) as caught:
        llm.invoke([HumanMessage("hi"), AIMessage("ok"), orphan])
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.is_retryable is False
    assert not server.received


def test_fallbacks_catch_a_server_error(server: ScriptedServer) -> None:
    server.enqueue(error_response(500), answer("invoke", "from the fallback"))
    primary = make_llm(server, max_retries=0)
    fallback = make_llm(server, max_retries=0, model="openai/backup")
    chain = primary.with_fallbacks([fallback], exceptions_to_handle=(ModelAPIError,))
    assert chain.invoke("hi").text == "from the fallback"
    assert [r.json()["model"] for r in server.received] == ["gpt-4o-mini", "backup"]


def test_fallbacks_for_server_errors_let_a_bad_key_through(server: ScriptedServer) -> None:
    server.enqueue(error_response(401))
    primary = make_llm(server, max_retries=0)
    chain = primary.with_fallbacks(
        [make_llm(server, model="openai/backup")], exceptions_to_handle=(ModelAPIError,)
    )
    with pytest.raises(ModelAuthenticationError):
        chain.invoke("hi")
    assert len(server.received) == 1


# langchain 1.0 (the floor of the demo extra, run by .ci/run's lower-bounds job) has none.
ModelRetryMiddleware: Any = getattr(middleware, "ModelRetryMiddleware", None)
needs_retry_middleware = pytest.mark.skipif(
    ModelRetryMiddleware is None, reason="ModelRetryMiddleware came in langchain 1.1"
)


def _agent_with_retries(server: ScriptedServer) -> Any:
    llm = make_llm(server, max_retries=0)  # only the middleware retries
    retry = ModelRetryMiddleware(max_retries=2, initial_delay=0.0, jitter=False, on_failure="error")
    return create_agent(llm, tools=[], middleware=[retry])


@needs_retry_middleware
def test_retry_middleware_does_not_retry_a_rejected_key(server: ScriptedServer) -> None:
    server.enqueue(error_response(401))
    with pytest.raises(ModelAuthenticationError):
        _agent_with_retries(server).invoke({"messages": [("user", "hi")]})
    assert len(server.received) == 1


@needs_retry_middleware
def test_retry_middleware_retries_a_server_error(server: ScriptedServer) -> None:
    server.enqueue(error_response(500), error_response(503), answer("invoke", "third time"))
    state = _agent_with_retries(server).invoke({"messages": [("user", "hi")]})
    assert state["messages"][-1].text == "third time"
    assert len(server.received) == 3


def test_a_blocked_prompt_is_a_refusal_and_not_retried(server: ScriptedServer) -> None:
    from langchain_core import exceptions

    from langchain_bhumi import ContentBlockedError

    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}
    server.enqueue(Scripted.json(blocked))
    llm = ChatBhumi(model="gemini/gemini-2.5-flash", base_url=server.url, api_key="k")
    refusal = getattr(exceptions, "ModelRefusalError", ModelError)  # langchain-core >= 1.7.5
    with pytest.raises(refusal) as caught:
        llm.invoke("x")
    assert isinstance(caught.value, ContentBlockedError)
    assert caught.value.is_retryable is False
