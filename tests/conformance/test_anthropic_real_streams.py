"""Conformance: every recorded Anthropic Messages exchange, replayed byte for byte.

Each exchange in `../shared/real-streams` with `api_family == "anthropic-messages"` is
served by the loopback `ScriptedServer`, its body cut at random byte offsets (seeded by the
exchange name and mode, so a failure reproduces), and read through `ChatBhumi` in every
mode that applies: `stream`, `astream`, `invoke` and `ainvoke` (with `streaming=True` for
SSE bodies, plain for JSON bodies). The result is compared with an independent reading of
the same bytes (`_anthropic_reference.py`): answer text, reasoning, thinking blocks with
their signatures, tool calls with their recorded ids, server-tool blocks, citations,
usage (cached tokens included in the input), finish reason and model name, plus the
streaming contract (metadata and usage once, on the last chunk; a call's id and name on
its first chunk only).

Multi-round recordings are replayed as a conversation: round 2's request is built from
round 1's request, the message ChatBhumi decoded from round 1's response and the tool
results, and compared with the recorded round-2 request.

The folder is found next to the repository (`../shared/real-streams`) or through
`$BHUMI_REAL_STREAMS`; without it only the synthetic streams (`synthetic/`) are replayed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import Runnable

from langchain_bhumi import (
    BadRequestError,
    BhumiError,
    ChatBhumi,
    NotFoundError,
    ProviderHTTPError,
)
from tests.conformance._anthropic_reference import (
    ENV_VAR,
    AnthropicExpected,
    Exchange,
    anthropic_exchanges,
    expected_error_body,
    expected_for,
    streams_root,
)
from tests.conformance._modes import Format, check_stream_contract
from tests.conformance._replay import (
    MESSAGES,
    by_outcome,
    cut_by_seed,
    params,
    recordings_only,
    serve_parts,
)
from tests.support.server import Scripted, ScriptedServer

ROOT = streams_root()
RECORDINGS_ONLY = recordings_only(ROOT, ENV_VAR)

EXCHANGES = anthropic_exchanges()
STREAMED, WHOLE, FAILED = by_outcome(EXCHANGES)
WITH_THINKING = [e for e in STREAMED + WHOLE if expected_for(e).thinking_blocks]

API_KEY = "sk-ant-fake-conformance-0000"
STATUS_CLASSES: dict[int, type[ProviderHTTPError]] = {400: BadRequestError, 404: NotFoundError}

# Exchanges whose recording forces a deliberate reading, and why. Nothing is skipped.
SPECIAL_CASES: dict[str, str] = {
    "anthropic/vercel-ai__anthropic-message-delta-input-tokens": (
        "message_delta repeats input_tokens with a larger value (61) than message_start "
        "(43): usage fields are cumulative, the latest value wins"
    ),
    "anthropic/vercel-ai__anthropic-refusal": (
        "no content block at all; stop_reason `refusal` with stop_details: finish "
        "`content_filter`, native `refusal`, stop_details in response metadata"
    ),
    "anthropic/pydantic-ai__test_anthropic__test_anthropic_model_web_search_tool_stream__i0": (
        "server_tool_use / web_search_tool_result blocks (not client tool calls) and "
        "citations_delta: kept as `server_tool_blocks` and `citations` provider state"
    ),
    "anthropic/pydantic-ai__test_anthropic__test_anthropic_model_thinking_part_redacted_stream__i0": (
        "only redacted_thinking blocks and an empty text block: no reasoning text, two "
        "redacted blocks kept for replay"
    ),
    "anthropic/llm-anthropic__test_anthropic__test_opus_46_adaptive_thinking__i0": (
        "a text block (`\\n\\n`) before the thinking block: text blocks are joined"
    ),
    "anthropic/mirascope__test_call_with_thinking__anthropic_claude_sonnet_4_0__stream__i0": (
        "thinking block with a signature and no readable text, then an empty text block"
    ),
    "anthropic/magentic__test_anthropic_chat_model__test_anthropic_chat_model_complete_parallel_function_call__i0": (
        "old usage shape: message_delta carries output_tokens only; input from message_start"
    ),
    "anthropic/fantasy__TestGoogleCommon__vertex-claude-3-7-sonnet__tool_streaming__i0": (
        "served by Vertex AI (streamRawPredict), ping before the first block"
    ),
}

# Multi-round recordings: (round 1, round 2) and what the round-2 request recorded that a
# LangChain conversation does not carry (normalized away before the comparison).
ROUND_TRIPS: dict[str, tuple[str, str]] = {
    "anthropic/llm-anthropic__test_anthropic__test_fixed_version_tool_chain_with_thinking_display_regression": (
        "thinking (with signature) + tool_use -> tool_result -> text",
        "`thinking.display: summarized` is an llm-anthropic option with no ChatBhumi field",
    ),
    "anthropic/fantasy__TestAnthropicCommon__claude-sonnet-4__multi_tool_streaming": (
        "text + two parallel tool_use -> two tool_results (block content) -> text",
        "",
    ),
    "anthropic/llm-anthropic__test_anthropic__test_tools": (
        "two tool_use without text -> two tool_results (string content) -> text",
        "llm-anthropic puts a `' '` text block before tool_use when there is no text",
    ),
}


# --- helpers ----------------------------------------------------------------------------


def requested_model(exchange: Exchange) -> str:
    return str(exchange.meta.get("model") or "claude-test")


def make_model(
    exchange: Exchange, server: ScriptedServer, *, streaming: bool = False, **options: Any
) -> ChatBhumi:
    """A ChatBhumi for the recorded model, pointed at the loopback server."""
    if streaming:
        options["streaming"] = True
    return ChatBhumi(
        model=f"anthropic/{requested_model(exchange)}",
        base_url=server.url,
        api_key=API_KEY,
        timeout=20,
        max_retries=0,
        **options,
    )


def serve(exchange: Exchange, server: ScriptedServer, mode: str) -> None:
    """Queue the body cut for `mode`; the cuts depend only on the exchange name and mode."""
    serve_parts(server, exchange, cut_by_seed(f"{exchange.name}:{mode}", exchange.body))


# --- checks -----------------------------------------------------------------------------


def check_message(message: AIMessage, expected: AnthropicExpected, exchange: Exchange) -> None:
    """The final message says what the recorded bytes say."""
    assert message.content == expected.text
    assert message.additional_kwargs.get("reasoning_content") == (expected.reasoning or None)

    valid = [c for c in expected.calls if c.args is not None]
    invalid = [c for c in expected.calls if c.args is None]
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        (c.name, c.args, c.id) for c in valid
    ]
    assert [(c["name"], c["args"]) for c in message.invalid_tool_calls] == [
        (c.name, c.args_text) for c in invalid
    ]

    usage = message.usage_metadata
    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"]) == (
        expected.input_tokens,
        expected.output_tokens,
    )
    assert usage["total_tokens"] == expected.input_tokens + expected.output_tokens
    raw = expected.usage or {}
    details = usage.get("input_token_details") or {}
    assert details.get("cache_read") == raw.get("cache_read_input_tokens")
    assert details.get("cache_creation") == raw.get("cache_creation_input_tokens")
    assert (usage.get("output_token_details") or {}).get("reasoning") == expected.reasoning_tokens

    metadata = message.response_metadata
    assert metadata.get("finish_reason") == expected.finish_reason
    assert metadata.get("model_name") == (expected.model or requested_model(exchange))
    assert metadata.get("id") == expected.response_id
    assert message.id != expected.response_id  # LangChain's run id: providers repeat theirs

    kwargs = message.additional_kwargs
    assert kwargs.get("thinking_blocks") == (expected.thinking_blocks or None)
    assert kwargs.get("server_tool_blocks") == (expected.server_blocks or None)
    assert kwargs.get("citations") == (expected.citations or None)


def check_chunks(chunks: list[AIMessageChunk], expected: AnthropicExpected) -> None:
    """The streaming contract; the finish reason, thinking blocks and usage once, on the
    last chunk."""
    announced = check_stream_contract(chunks)
    assert "finish_reason" in chunks[-1].response_metadata
    for chunk in chunks[:-1]:
        assert "thinking_blocks" not in chunk.additional_kwargs
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert len(announced) == len(expected.calls)


def check_request(server: ScriptedServer, exchange: Exchange, streaming: bool) -> None:
    """One request reached the server, in Anthropic's shape, with Anthropic's headers."""
    assert len(server.received) == 1, [r.path for r in server.received]
    received = server.received[0]
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == API_KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in received.headers
    body = received.json()
    assert bool(body.get("stream")) is streaming
    assert body["model"] == requested_model(exchange)
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0
    assert body["messages"] == [{"role": "user", "content": MESSAGES[0][1]}]


def check_http_error(error: BhumiError | None, exchange: Exchange, server: ScriptedServer) -> None:
    """The typed error carries the status, the error type and the provider's message."""
    assert isinstance(error, ProviderHTTPError), repr(error)
    want = expected_error_body(exchange.body)
    assert error.status_code == exchange.status
    assert isinstance(error, STATUS_CLASSES[exchange.status]), type(error)
    assert error.error_type == want.kind
    assert want.message and want.message in str(error)


FORMAT = Format(
    serve=serve,
    make_model=make_model,
    expected_for=expected_for,
    check_failure=check_http_error,
    check_request=check_request,
    check_chunks=check_chunks,
    check_message=check_message,
)


# --- every exchange, every mode ---------------------------------------------------------------

test_stream, test_astream, test_invoke, test_ainvoke = FORMAT.tests(
    streamed=params(STREAMED + FAILED), every=params(EXCHANGES)
)


@pytest.mark.parametrize("exchange", params(WITH_THINKING))
def test_v1_reasoning_blocks_carry_their_signatures(
    exchange: Exchange, server: ScriptedServer
) -> None:
    """With `output_version="v1"`, each thinking block is one reasoning block, in order,
    with its signature in `extras` (a redacted one is a non-standard block carrying its
    encrypted data); the answer is in text blocks after it."""
    serve(exchange, server, "invoke")
    with make_model(exchange, server, streaming=exchange.is_sse, output_version="v1") as llm:
        message = llm.invoke(MESSAGES)
    expected = expected_for(exchange)
    assert isinstance(message.content, list)
    got = []
    for b in message.content:
        if isinstance(b, dict) and b["type"] == "reasoning":
            got.append(("thinking", b["reasoning"], b.get("extras", {}).get("signature")))
        elif isinstance(b, dict) and b["type"] == "non_standard":
            got.append(("redacted", b["value"].get("data"), None))
    assert got == [
        ("redacted", b.get("data"), None)
        if b["type"] == "redacted_thinking"
        else ("thinking", b.get("thinking", ""), b.get("signature"))
        for b in expected.thinking_blocks
    ]
    assert message.text == expected.text


@RECORDINGS_ONLY
def test_selection_is_complete() -> None:
    """Every Anthropic exchange is replayed, and every named special case exists."""
    names = {e.name for e in EXCHANGES}
    assert names == {e.name for e in STREAMED + WHOLE + FAILED}
    assert len(EXCHANGES) >= 28
    assert set(SPECIAL_CASES) <= names, set(SPECIAL_CASES) - names
    for stem in ROUND_TRIPS:
        assert {f"{stem}__i0", f"{stem}__i1"} <= names, stem


# --- multi-round: round 2's request, rebuilt ------------------------------------------------


def _recorded_request(exchange: Exchange) -> dict[str, Any]:
    request: dict[str, Any] = json.loads((exchange.path / "request.json").read_text())
    return request


def _conversation(request: dict[str, Any]) -> list[BaseMessage]:
    """Round 1's recorded request as LangChain messages (content kept as recorded)."""
    messages: list[BaseMessage] = []
    if "system" in request:
        messages.append(SystemMessage(content=request["system"]))
    for turn in request["messages"]:
        assert turn["role"] == "user", "round 1 holds only user turns"
        messages.append(HumanMessage(content=turn["content"]))
    return messages


def _model_for(
    request: dict[str, Any], server: ScriptedServer, output_version: str | None
) -> Runnable[LanguageModelInput, BaseMessage]:
    """A ChatBhumi configured the way round 1 was requested."""
    options: dict[str, Any] = {
        "max_tokens": request["max_tokens"],
        "streaming": bool(request.get("stream")),
    }
    if "temperature" in request:
        options["temperature"] = request["temperature"]
    thinking = request.get("thinking") or {}
    if thinking.get("type") == "enabled":
        options["thinking_budget"] = thinking["budget_tokens"]
    if output_version:
        options["output_version"] = output_version
    llm = ChatBhumi(
        model=f"anthropic/{request['model']}",
        base_url=server.url,
        api_key=API_KEY,
        max_retries=0,
        **options,
    )
    tools = request.get("tools")
    if not tools:
        return llm
    choice = request.get("tool_choice") or {}
    tool_choice = choice.get("name") if choice.get("type") == "tool" else choice.get("type")
    parallel = choice.get("disable_parallel_tool_use")
    return llm.bind_tools(
        tools,
        tool_choice=tool_choice,
        parallel_tool_calls=None if parallel is None else not parallel,
    )


def _normalized(request: dict[str, Any]) -> dict[str, Any]:
    """The recorded request without what no LangChain conversation carries (ROUND_TRIPS)."""
    request = copy.deepcopy(request)
    thinking = request.get("thinking")
    if isinstance(thinking, dict):
        thinking.pop("display", None)
    for turn in request["messages"]:
        if turn["role"] == "assistant" and isinstance(turn["content"], list):
            turn["content"] = [
                b
                for b in turn["content"]
                if not (b.get("type") == "text" and not b.get("text", "").strip())
            ]
    return request


def _round(exchange: Exchange) -> Scripted:
    return Scripted(parts=[exchange.body], content_type=exchange.content_type)


@RECORDINGS_ONLY
@pytest.mark.parametrize("output_version", [None, "v1", "v1-content-only"])
@pytest.mark.parametrize("stem", list(ROUND_TRIPS))
def test_multi_round_request_matches_the_recording(
    stem: str, output_version: str | None, server: ScriptedServer
) -> None:
    """Round 2 carries the tool_use ids, thinking signatures and tool_result blocks exactly
    as recorded (whole request compared, key order ignored). `v1-content-only` drops the
    `thinking_blocks` state, so signatures must come from the v1 reasoning blocks."""
    by_name = {e.name: e for e in EXCHANGES}
    first, second = by_name[f"{stem}__i0"], by_name[f"{stem}__i1"]
    request_1, request_2 = _recorded_request(first), _recorded_request(second)
    server.enqueue(_round(first), _round(second))
    version = "v1" if output_version else None
    llm = _model_for(request_1, server, version)

    conversation = _conversation(request_1)
    answer = llm.invoke(conversation)
    assert isinstance(answer, AIMessage)
    assert server.received[0].json() == _normalized(request_1)
    assert answer.tool_calls, "round 1 must end in tool calls"
    if output_version == "v1-content-only":
        answer.additional_kwargs.pop("thinking_blocks", None)

    results = request_2["messages"][-1]["content"]
    assert [r["type"] for r in results] == ["tool_result"] * len(answer.tool_calls)
    tool_messages = [
        ToolMessage(content=result["content"], tool_call_id=call["id"])
        for call, result in zip(answer.tool_calls, results, strict=True)
    ]
    final = llm.invoke([*conversation, answer, *tool_messages])
    assert server.received[1].json() == _normalized(request_2)
    assert final.text and not getattr(final, "tool_calls", None)
