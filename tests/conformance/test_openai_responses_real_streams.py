"""Conformance: every recorded OpenAI Responses API exchange, replayed byte for byte.

Each exchange in `../shared/real-streams` with `api_family == "openai-responses"` is served
by the loopback `ScriptedServer`, its body cut at random byte offsets (seeded by the
exchange name, so a failure reproduces; a few cuts always fall inside multi-byte UTF-8
characters), and read through `ChatBhumi(use_responses_api=True)` in every mode that
applies: `stream`, `astream`, `invoke` and `ainvoke` (with `streaming=True` for SSE
bodies, plain for JSON bodies; error statuses in all four). The result is compared with
an independent reading of the same bytes (`_responses_reference.py`, which reads the
finished items where the package reads the deltas): answer text, reasoning, tool calls
with their recorded call ids and item ids, kept output items (reasoning with its
encrypted content, built-in tool calls), citations, usage, finish reason, model name and
response id, plus the streaming contract (metadata and usage once, on the last chunk; a
call's id and name on its first chunk only). Each stream is also replayed without its
terminal event, which must raise `StreamCutError`.

The folder is found next to the repository (`../shared/real-streams`) or through
`$BHUMI_REAL_STREAMS`; without it only the synthetic streams (`synthetic/`) are replayed.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from langchain_bhumi import (
    BadRequestError,
    BhumiError,
    ChatBhumi,
    ProviderHTTPError,
    StreamCutError,
    StreamErrorEvent,
)
from tests.conformance._modes import Format, check_stream_contract
from tests.conformance._replay import (
    MESSAGES,
    by_outcome,
    collect,
    cut_for_mode,
    params,
    recordings_only,
    serve_parts,
)
from tests.conformance._responses_reference import (
    ENV_VAR,
    Exchange,
    ResponsesExpected,
    expected_error_body,
    expected_for,
    responses_exchanges,
    streams_root,
    terminal_offset,
)
from tests.support.server import ScriptedServer

ROOT = streams_root()
RECORDINGS_ONLY = recordings_only(ROOT, ENV_VAR)

EXCHANGES = responses_exchanges()
STREAMED, WHOLE, FAILED = by_outcome(EXCHANGES)

API_KEY = "sk-test-conformance-0000"
MODES = ("stream", "astream", "invoke", "ainvoke", "stream-without-terminal")
STATUS_CLASSES: dict[int, type[ProviderHTTPError]] = {400: BadRequestError}

# Exchanges whose recording forces a deliberate reading, and why. Nothing is skipped.
SPECIAL_CASES: dict[str, str] = {
    "openai-responses/vercel-ai__github-copilot-id-rotation.1": (
        "GitHub Copilot: every event carries a new item_id (capture-id-N) and the three "
        "lifecycle events three response ids: items are keyed by output_index, the "
        "response id is the first one (response.created); reframed from .chunks.txt"
    ),
    "openai-responses/pydantic-ai__test_bedrock_mantle__test_reused_tool_call_ids-stream-__i1": (
        "Bedrock Mantle numbers call ids per response (call_0, call_1, ...): unique within "
        "this answer, so kept as recorded; encrypted reasoning starts `rsn_`, kept whole; "
        "each frame's `data:` line comes before its `event:` line (the cut-stream replay "
        "cuts at the frame, not at the event line)"
    ),
    "openai-responses/vercel-ai__lmstudio-tool-call.1": (
        "LM Studio: no function_call_arguments.delta, the arguments come only in .done "
        "(taken from there); raw reasoning as reasoning_text; reframed from .chunks.txt"
    ),
    "openai-responses/pydantic-ai__test_deepseek_responses__test_deepseek_responses-function_tool_stream-__i0": (
        "DeepSeek: bare-UUID response and item ids (no resp_/fc_ prefix), raw reasoning "
        "as reasoning_text deltas"
    ),
    "openai-responses/pydantic-ai__test_openai_responses__test_openai_responses_model_web_search_tool_stream__i0": (
        "reasoning -> web_search_call -> reasoning -> message: the web_search_call and both "
        "reasoning items are kept, in output order, with the encrypted content of "
        "output_item.done (it differs from .added and from the terminal snapshot)"
    ),
    "openai-responses/fantasy__TestOpenAIWebSearch__stream__i0": (
        "web_search_call item and a url_citation annotation (annotation.added between text "
        "deltas): the call is kept as an item, the citation in `annotations`"
    ),
    "openai-responses/pydantic-ai__test_openai_responses__test_openai_responses_thinking_part_iter__i0": (
        "o3-mini: four reasoning summary parts in one item, joined by blank lines"
    ),
    "openai-responses/pydantic-ai__test_openai_responses__test_openai_responses_stream__i1": (
        "March 2025 stream without sequence_number"
    ),
    "openai-responses/ddtrace__openai__responses_prompt_caching_5_6_cache_write__i0": (
        "non-streamed, status incomplete (max_output_tokens): finish `length`; "
        "cache_write_tokens read as cache creation"
    ),
    "openai-responses/pydantic-ai__test_openai_responses__test_openai_responses_model_http_error__i0": (
        "400 with `stream: true` asked: a JSON error before any event; body re-serialised "
        "from YAML (response_body_exact: false)"
    ),
}


# --- helpers ----------------------------------------------------------------------------


def requested_model(exchange: Exchange) -> str:
    return str(exchange.meta.get("model") or "test-model")


def provider_name(exchange: Exchange) -> str:
    """The recorded provider's last name part: `openai`, `deepseek`, `bedrock-mantle`, ...
    (registered or not: the base URL and `use_responses_api` decide)."""
    return str(exchange.meta["provider"]).rsplit("/", 1)[-1]


def make_model(exchange: Exchange, server: ScriptedServer, *, streaming: bool) -> ChatBhumi:
    options: dict[str, Any] = {"streaming": True} if streaming else {}
    return ChatBhumi(
        model=f"{provider_name(exchange)}/{requested_model(exchange)}",
        base_url=server.url,
        api_key=API_KEY,
        use_responses_api=True,
        timeout=20,
        **options,
    )


def serve(exchange: Exchange, server: ScriptedServer, mode: str, body: bytes | None = None) -> None:
    """Queue the body (the recorded one unless `body` is given) cut for `mode`."""
    data = exchange.body if body is None else body
    serve_parts(server, exchange, cut_for_mode(exchange.name, MODES, mode, data))


def _text(message: BaseMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else message.text


# --- checks -----------------------------------------------------------------------------


def check_calls(message: AIMessage, expected: ResponsesExpected) -> None:
    """Valid and invalid calls, with the recorded call ids, and each call's item id kept."""
    valid = [c for c in expected.calls if c.args is not None]
    invalid = [c for c in expected.calls if c.args is None]
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        (c.name, c.args, c.id) for c in valid
    ]
    assert [(c["name"], c["args"], c["id"]) for c in message.invalid_tool_calls] == [
        (c.name, c.args_text, c.id) for c in invalid
    ]
    extras = message.additional_kwargs.get("tool_call_extras") or {}
    kept = {
        call_id: (extra.get("responses") or {}).get("item_id") for call_id, extra in extras.items()
    }
    assert kept == expected.call_item_ids


def check_message(message: AIMessage, expected: ResponsesExpected, exchange: Exchange) -> None:
    """The final message says what the recorded bytes say."""
    assert _text(message) == expected.text
    kwargs = message.additional_kwargs
    assert kwargs.get("reasoning_content") == (expected.reasoning or None)
    assert kwargs.get("refusal") == (expected.refusal or None)
    check_calls(message, expected)
    assert kwargs.get("response_items") == (expected.kept_items or None)
    assert kwargs.get("annotations") == (expected.annotations or None)

    if expected.usage is None:
        assert message.usage_metadata is None
    else:
        usage = message.usage_metadata
        assert usage is not None
        assert usage["input_tokens"] == expected.input_tokens
        assert usage["output_tokens"] == expected.output_tokens
        if expected.cached_tokens is not None:
            assert (usage.get("input_token_details") or {}).get(
                "cache_read"
            ) == expected.cached_tokens
        if expected.reasoning_tokens is not None:
            assert (usage.get("output_token_details") or {}).get(
                "reasoning"
            ) == expected.reasoning_tokens

    metadata = message.response_metadata
    assert metadata.get("finish_reason") == expected.finish_reason
    assert metadata.get("model_name") == (expected.model or requested_model(exchange))
    assert metadata.get("id") == expected.response_id
    assert metadata.get("wire_format") == "openai_responses"
    assert message.id != expected.response_id  # the message id is LangChain's run id


def check_chunks(chunks: list[AIMessageChunk], expected: ResponsesExpected) -> None:
    """The streaming contract; the finish reason, the kept items and usage once, on the
    last chunk."""
    announced = check_stream_contract(chunks)
    assert "finish_reason" in chunks[-1].response_metadata
    for chunk in chunks[:-1]:
        assert "response_items" not in chunk.additional_kwargs, chunk
    assert len([c for c in chunks if c.usage_metadata]) == (0 if expected.usage is None else 1)
    assert set(announced) == set(range(len(expected.calls)))


def check_request(server: ScriptedServer, exchange: Exchange, streaming: bool) -> None:
    """One request to /v1/responses, stateless, asking for encrypted reasoning."""
    assert len(server.received) == 1, [r.path for r in server.received]
    received = server.received[0]
    assert received.path == "/v1/responses"
    body = received.json()
    assert bool(body.get("stream")) is streaming
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["input"] == [{"type": "message", "role": "user", "content": MESSAGES[0][1]}]
    assert received.headers.get("authorization") == f"Bearer {API_KEY}"


def check_http_error(error: BhumiError | None, exchange: Exchange, server: ScriptedServer) -> None:
    """The typed error carries the recorded status, code and message; the one request
    was not retried."""
    assert isinstance(error, ProviderHTTPError), repr(error)
    want = expected_error_body(exchange.body)
    assert error.status_code == exchange.status
    assert isinstance(error, STATUS_CLASSES.get(exchange.status, ProviderHTTPError))
    assert want.message and want.message in str(error)
    assert error.error_type == want.kind
    assert API_KEY not in str(error)
    assert len(server.received) == 1


def check_stream_error(
    error: BhumiError | None, chunks: list[AIMessageChunk], expected: ResponsesExpected
) -> None:
    """The in-stream error names the provider's code and carries its message; what was
    delivered before it is a prefix of the record, with no final metadata."""
    want = expected.error
    assert want is not None
    assert isinstance(error, StreamErrorEvent), repr(error)
    for part in (want.code, want.kind):
        if part:
            assert error.error_type and part in error.error_type, (part, error.error_type)
    assert want.message in str(error)
    assert expected.text.startswith("".join(_text(c) for c in chunks))
    assert not any("finish_reason" in c.response_metadata for c in chunks)


FORMAT = Format(
    serve=serve,
    make_model=make_model,
    expected_for=expected_for,
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


@pytest.mark.parametrize("exchange", params(STREAMED))
def test_stream_without_terminal_event(exchange: Exchange, server: ScriptedServer) -> None:
    """The same body cut before `response.completed`/`incomplete`: a `StreamCutError`,
    never a silently partial answer; what arrived before it was delivered."""
    expected = expected_for(exchange)
    offset = terminal_offset(exchange.body)
    assert offset is not None, "every recorded stream ends with a terminal event"
    serve(exchange, server, "stream-without-terminal", exchange.body[:offset])
    with make_model(exchange, server, streaming=False) as llm:
        chunks, error = collect(llm)
    assert isinstance(error, StreamCutError), repr(error)
    assert "response.completed" in str(error)
    assert not any("finish_reason" in c.response_metadata for c in chunks)
    assert expected.text.startswith("".join(_text(c) for c in chunks))


@RECORDINGS_ONLY
def test_selection() -> None:
    """The selection is the whole Responses family, and every special case exists."""
    assert len(EXCHANGES) >= 29, f"expected the 29 recorded Responses exchanges under {ROOT}"
    names = {e.name for e in EXCHANGES}
    assert len(names) == len(STREAMED) + len(WHOLE) + len(FAILED)
    assert set(SPECIAL_CASES) <= names, set(SPECIAL_CASES) - names
