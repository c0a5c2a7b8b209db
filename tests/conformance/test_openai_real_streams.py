"""Conformance: every recorded OpenAI chat-completions exchange, replayed byte for byte.

Each exchange in `../shared/real-streams` with `api_family == "openai-chat"` is served by
the loopback `ScriptedServer`, its body cut at random byte offsets (seeded by the exchange
name, so a failure reproduces; a few cuts always fall inside multi-byte UTF-8
characters), and read through `ChatBhumi` in every mode that applies: `stream`, `astream`,
`invoke` and `ainvoke` (with `streaming=True` for SSE bodies, plain for JSON bodies;
error statuses in all four). The result is compared with an independent reading of the
same bytes (`_reference.py`): answer text, reasoning, tool calls with their recorded ids,
usage, finish reason, model name and response id, plus the streaming contract (metadata
and usage once, on the last chunk; a call's id and name on its first chunk only).

The folder is found next to the repository (`../shared/real-streams`) or through
`$BHUMI_REAL_STREAMS`; without it only the synthetic streams (`synthetic/`) are replayed.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from langchain_bhumi import (
    AuthenticationError,
    BadRequestError,
    BhumiError,
    ChatBhumi,
    NotFoundError,
    ProviderHTTPError,
    RateLimitError,
    StreamCutError,
    StreamErrorEvent,
)
from tests.conformance._modes import Format, check_stream_contract
from tests.conformance._reference import (
    ENV_VAR,
    Exchange,
    Expected,
    expected_error_body,
    expected_for,
    load_exchanges,
    streams_root,
)
from tests.conformance._replay import (
    aggregate,
    by_outcome,
    collect,
    cut_for_mode,
    params,
    recordings_only,
    serve_parts,
)
from tests.support.server import ScriptedServer

ROOT = streams_root()
RECORDINGS_ONLY = recordings_only(ROOT, ENV_VAR)

EXCHANGES = load_exchanges(ROOT)
STREAMED, WHOLE, FAILED = by_outcome(EXCHANGES)

API_KEY = "sk-test-conformance-0000"
MODES = ("stream", "astream", "invoke", "ainvoke", "stream-without-done")
RETRIED_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
DONE_FRAME = b"data: [DONE]"

# The error class each recorded status must raise.
STATUS_CLASSES: dict[int, type[ProviderHTTPError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    429: RateLimitError,
}

# Exchanges whose recording forces a deliberate reading, and why. Nothing is skipped.
SPECIAL_CASES: dict[str, str] = {
    "openai/langchaingo__testdata__TestClient_FunctionCall__i0": (
        "legacy `function_call` message (finish_reason `function_call`): read as one tool "
        "call without id, normalized finish `tool_calls`"
    ),
    "openai-compatible/azure-openai/fantasy__TestAzureCommon__azure-gpt-5-mini__tool_streaming__i0": (
        "Azure: first chunk is a prompt-filter chunk with empty id, model and choices; "
        "the response id is the first non-empty one"
    ),
    "openai-compatible/azure-openai/fantasy__TestAzureThinking__azure-gpt-5-mini__thinking-streaming__i0": (
        "Azure: first chunk is a prompt-filter chunk with empty id, model and choices; "
        "the response id is the first non-empty one"
    ),
    "openai-compatible/writer/openllmetry__test_chat__test_writer_streaming_chat_multiple_tool_call_requests_legacy__i0": (
        "Writer: no [DONE] (ends after the finish_reason and usage chunks), choices carry "
        "both `message` and `delta` (the stream is read from `delta`), 7 parallel calls "
        "whose first fragment has `arguments: null`"
    ),
    "openai-compatible/groq/pydantic-ai__test_groq__test_tool_use_failed_error_streaming__i0": (
        "Groq `event: error` frame after reasoning deltas, no [DONE]: StreamErrorEvent "
        "with code `tool_use_failed`; what was streamed before it is a prefix of the record"
    ),
    "openai-compatible/openrouter/llm__test_tools_streaming__test_tools_streaming_variant_a__i0": (
        "no finish_reason at all; id `0` and name repeated on both fragments of one call: "
        "one call, finish `tool_calls`"
    ),
    "openai-compatible/openrouter/llm__test_tools_streaming__test_tools_streaming_variant_c__i0": (
        "first line is ` data: ...` (leading space): not a `data` field under the SSE "
        "rules, so that (empty-content) chunk is ignored"
    ),
    "openai-compatible/openrouter/llm__test_tools_streaming__test_tools_streaming_variant_d__i0": (
        "tool call `arguments: null`: a zero-argument call, `{}`"
    ),
    "openai-compatible/anthropic-openai-compat/vercel-ai__anthropic-fallback-tool-call": (
        "the only tool call has index 1; the body ends with one newline after [DONE]"
    ),
    "openai-compatible/gemini-openai-compat/magentic__test_openai_chat_model_gemini__test_openai_chat_model_gemini_complete-Return-True.-output_types1-bool-__i0": (
        'whole call in one fragment, no index, id `""`, finish_reason `stop`: id invented, '
        "finish normalized to `tool_calls`"
    ),
    "openai-compatible/gemini-openai-compat/pydantic-ai__test_openai__test_compatible_api_with_tool_calls_without_id__i0": (
        'non-streamed call with id `""`: id invented'
    ),
    "openai-compatible/groq/openinference__test_token_counts__TestTokenCounts.test_groq__i0": (
        "usage only inside `x_groq.usage` (no top-level `usage`): read from there"
    ),
    "openai-compatible/snowflake-cortex/pydantic-ai__test_snowflake__test_snowflake_model_streaming__i0": (
        "Snowflake: no finish_reason anywhere, empty ids: no finish reason, no response id"
    ),
    "openai-compatible/snowflake-cortex/pydantic-ai__test_snowflake__test_snowflake_thinking_streaming__i0": (
        "Snowflake: no finish_reason, reasoning only as `reasoning_details` text (checked "
        "in `additional_kwargs['reasoning_details']`, not as `reasoning_content`)"
    ),
    "openai-compatible/mistral/vercel-ai__mistral-reasoning": (
        "Mistral `content` lists with `thinking` parts (reasoning) and `text` parts"
    ),
    "openai-compatible/mistral/vercel-ai__mistral-incremental-tool-call": (
        'continuation fragment repeats `name: ""` with the index and no id'
    ),
}
# Also deliberate, by rule rather than by name: bodies with `reframed: true` (vercel/ai
# `.chunks.txt` fixtures) are replayed as reframed, their `[DONE]` being the reframing's;
# JSON bodies with `response_body_exact: false` (pydantic-ai cassettes stored as YAML) are
# replayed as re-serialised; 429 answers are read with `max_retries=0`. A body that turns
# out to be an OpenAI Responses stream is skipped by `reference` (none is, today).


# --- helpers ----------------------------------------------------------------------------


def requested_model(exchange: Exchange) -> str:
    return str(exchange.meta.get("model") or "test-model")


def make_model(exchange: Exchange, server: ScriptedServer, *, streaming: bool) -> ChatBhumi:
    """A ChatBhumi on the loopback server, named after the recorded provider's folder."""
    options: dict[str, Any] = {"max_retries": 0} if exchange.status in RETRIED_STATUSES else {}
    if streaming:
        # Only when asked: an explicit `streaming=False` makes LangChain's `.stream()`
        # fall back to `invoke` (langchain-core honours it as an opt-out).
        options["streaming"] = True
    return ChatBhumi(
        model=f"{exchange.provider_leaf}/{requested_model(exchange)}",
        base_url=server.url,
        api_key=API_KEY,
        timeout=20,
        **options,
    )


def serve(exchange: Exchange, server: ScriptedServer, mode: str, body: bytes | None = None) -> None:
    """Queue the body (the recorded one unless `body` is given) cut for `mode`."""
    data = exchange.body if body is None else body
    serve_parts(server, exchange, cut_for_mode(exchange.name, MODES, mode, data))


def reference(exchange: Exchange) -> Expected:
    """The reference reading; skips bodies that are not chat completions at all."""
    expected = expected_for(exchange)
    if expected.responses_api:
        pytest.skip("the body is an OpenAI Responses API stream misfiled as chat completions")
    return expected


def _text(message: BaseMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else message.text


# --- checks -----------------------------------------------------------------------------


def check_message(message: AIMessage, expected: Expected, exchange: Exchange) -> None:
    """The final message says what the recorded bytes say."""
    assert _text(message) == expected.text
    reasoning = message.additional_kwargs.get("reasoning_content")
    if expected.reasoning or not expected.reasoning_details:
        assert reasoning == (expected.reasoning or None)
    else:
        # Reasoning sent only as `reasoning_details` text (Snowflake): exposing that text
        # as reasoning content is allowed, not required.
        assert reasoning in (None, "".join(expected.reasoning_details) or None)

    valid = [c for c in expected.calls if c.args is not None]
    invalid = [c for c in expected.calls if c.args is None]
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [(c.name, c.args) for c in valid]
    assert [(c["name"], c["args"]) for c in message.invalid_tool_calls] == [
        (c.name, c.args_text) for c in invalid
    ]
    ids = [c["id"] for c in message.tool_calls] + [c["id"] for c in message.invalid_tool_calls]
    assert all(isinstance(i, str) and i for i in ids), f"empty tool call id: {ids}"
    assert len(set(ids)) == len(ids), f"tool call ids are not unique: {ids}"
    recorded_ids = [
        (call["id"], want.id) for call, want in zip(message.tool_calls, valid, strict=True)
    ]
    assert all(got == want for got, want in recorded_ids if want), recorded_ids

    if expected.usage is None:
        assert message.usage_metadata is None
    else:
        assert message.usage_metadata is not None
        assert message.usage_metadata["input_tokens"] == expected.input_tokens
        assert message.usage_metadata["output_tokens"] == expected.output_tokens
        if expected.cached_tokens is not None:
            inputs = message.usage_metadata.get("input_token_details") or {}
            assert inputs.get("cache_read") == expected.cached_tokens
        if expected.reasoning_tokens is not None:
            outputs = message.usage_metadata.get("output_token_details") or {}
            assert outputs.get("reasoning") == expected.reasoning_tokens

    metadata = message.response_metadata
    assert metadata.get("finish_reason") == expected.finish_reason
    assert metadata.get("model_name") == (expected.model or requested_model(exchange))
    if expected.response_id is not None:
        assert metadata.get("id") == expected.response_id, (
            f"response id {expected.response_id!r} lost (metadata id {metadata.get('id')!r})"
        )

    if expected.reasoning_details is not None:
        kept = message.additional_kwargs.get("reasoning_details")
        assert isinstance(kept, list), message.additional_kwargs
        assert sorted(d.get("text") or "" for d in kept) == expected.reasoning_details


def check_chunks(chunks: list[AIMessageChunk], expected: Expected) -> None:
    """The streaming contract; the finish reason, when there is one, and usage once, on
    the last chunk."""
    announced = check_stream_contract(chunks)
    if expected.finish_reason is not None:
        assert "finish_reason" in chunks[-1].response_metadata
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == (0 if expected.usage is None else 1)
    assert len(announced) == len(expected.calls)


def check_request(server: ScriptedServer, exchange: Exchange, streaming: bool) -> None:
    """Exactly one request reached the server (no retry), streaming as the mode says."""
    assert len(server.received) == 1, [r.path for r in server.received]
    body = server.received[0].json()
    assert bool(body.get("stream")) is streaming
    assert server.received[0].headers.get("authorization") == f"Bearer {API_KEY}"


def check_http_error(error: BhumiError | None, exchange: Exchange, server: ScriptedServer) -> None:
    """The typed error carries the recorded status and the provider's message; the one
    request was not retried."""
    assert isinstance(error, ProviderHTTPError), repr(error)
    want = expected_error_body(exchange.body)
    assert error.status_code == exchange.status
    expected_class = STATUS_CLASSES.get(exchange.status)
    if expected_class is not None:
        assert isinstance(error, expected_class), type(error)
    assert want.message
    assert want.message in str(error)
    assert API_KEY not in str(error)
    assert len(server.received) == 1


def check_stream_error(
    error: BhumiError | None, chunks: list[AIMessageChunk], expected: Expected
) -> None:
    """The in-stream error names the provider's code and type and carries its message;
    what was delivered before it is a prefix of the record, with no final metadata."""
    want = expected.error
    assert want is not None
    assert isinstance(error, StreamErrorEvent), repr(error)
    assert error.error_type is not None
    for part in (want.code, want.kind):
        if part:
            assert part in error.error_type, (part, error.error_type)
    assert want.message in str(error)
    text = "".join(_text(c) for c in chunks)
    reasoning = "".join(c.additional_kwargs.get("reasoning_content", "") for c in chunks)
    assert expected.text.startswith(text)
    assert expected.reasoning.startswith(reasoning)
    assert not any("finish_reason" in c.response_metadata for c in chunks)


FORMAT = Format(
    serve=serve,
    make_model=make_model,
    expected_for=reference,
    check_failure=check_http_error,
    check_request=check_request,
    check_chunks=check_chunks,
    check_message=check_message,
    check_stream_error=check_stream_error,
)


# --- tests ------------------------------------------------------------------------------

test_stream, test_astream, test_invoke, test_ainvoke = FORMAT.tests(
    streamed=params(STREAMED + FAILED), every=params(EXCHANGES)
)


@pytest.mark.parametrize("exchange", params([e for e in STREAMED if DONE_FRAME in e.body]))
def test_stream_without_done(exchange: Exchange, server: ScriptedServer) -> None:
    """The same body with its `[DONE]` frame removed: still complete after a
    finish_reason, a `StreamCutError` without one (never a silently partial answer)."""
    expected = reference(exchange)
    body = exchange.body
    body = body[: body.rindex(DONE_FRAME)]
    serve(exchange, server, "stream-without-done", body)
    with make_model(exchange, server, streaming=False) as llm:
        chunks, error = collect(llm)
    if expected.native_finish is None:
        assert isinstance(error, StreamCutError), repr(error)
        assert not any("finish_reason" in c.response_metadata for c in chunks)
        return
    if error is not None:
        raise error
    check_chunks(chunks, expected)
    check_message(aggregate(chunks), expected, exchange)


@RECORDINGS_ONLY
def test_selection() -> None:
    """The selection is the whole openai-chat family, and every special case exists."""
    assert EXCHANGES, f"no openai-chat exchange under {ROOT}"
    names = {e.name for e in EXCHANGES}
    assert len(names) == len(STREAMED) + len(WHOLE) + len(FAILED)
    assert set(SPECIAL_CASES) <= names, set(SPECIAL_CASES) - names
