"""Anthropic Messages codec: LangChain messages -> request bodies, responses -> events."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi.core.errors import (
    ConfigurationError,
    InvalidStreamDataError,
    StreamCutError,
    StreamErrorEvent,
)
from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.framing import SSEFramer, WholeBodyFramer
from langchain_bhumi.message_builder import MessageBuilder
from langchain_bhumi.protocols import get_protocol
from langchain_bhumi.protocols.anthropic.client import (
    AnthropicProtocol,
    claude_version,
    default_max_tokens,
    encode_messages,
)
from langchain_bhumi.protocols.base import ChatRequest

PROTOCOL = AnthropicProtocol()
PNG = "iVBORw0KGgo="
SIG = "EqQBCkYIBxgCKkB-signature"


def body(model: str = "claude-sonnet-4-5", **fields: Any) -> dict[str, Any]:
    fields.setdefault("messages", [HumanMessage("hi")])
    return PROTOCOL.encode_request(ChatRequest(model=model, **fields))


def turns(*messages: Any) -> list[dict[str, Any]]:
    return encode_messages(list(messages))[1]


def weather_tool(strict: bool | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    if strict is not None:
        function["strict"] = strict
    return {"type": "function", "function": function}


# --- messages -----------------------------------------------------------------------------


def test_the_registry_serves_this_protocol() -> None:
    assert isinstance(get_protocol("anthropic"), AnthropicProtocol)


def test_system_messages_go_to_the_top_level_system_field() -> None:
    system, messages = encode_messages(
        [SystemMessage("Be brief."), HumanMessage("hi"), SystemMessage("Be kind.")]
    )
    assert system == "Be brief.\n\nBe kind."
    assert messages == [{"role": "user", "content": "hi"}]

    cached = {"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}
    system, _ = encode_messages([SystemMessage([cached]), SystemMessage("More.")])
    assert system == [cached, {"type": "text", "text": "More."}]


def test_consecutive_same_role_messages_merge_into_one_turn() -> None:
    assert turns(HumanMessage("a"), HumanMessage("b"), AIMessage("c"), AIMessage("d")) == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}],
        },
    ]


def test_user_blocks_keep_cache_control_and_unknown_blocks_pass_through() -> None:
    search = {"type": "search_result", "source": "s", "title": "t", "content": []}
    [turn] = turns(
        HumanMessage(
            [
                {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                search,
                {"type": "text", "text": ""},
            ]
        )
    )
    assert turn["content"] == [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
        search,
    ]


@pytest.mark.parametrize(
    ("block", "source"),
    [
        (
            {"type": "image", "base64": PNG, "mime_type": "image/png"},
            {"type": "base64", "media_type": "image/png", "data": PNG},
        ),
        (
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
            {"type": "base64", "media_type": "image/jpeg", "data": PNG},
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
            {"type": "url", "url": "https://x.test/a.png"},
        ),
        (
            {"type": "image", "url": "https://x.test/b.png"},
            {"type": "url", "url": "https://x.test/b.png"},
        ),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": PNG}},
            {"type": "base64", "media_type": "image/gif", "data": PNG},
        ),
        (
            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/webp"},
            {"type": "base64", "media_type": "image/webp", "data": PNG},
        ),
        ({"type": "image", "file_id": "file_1"}, {"type": "file", "file_id": "file_1"}),
    ],
)
def test_images_in_every_dialect_become_image_blocks(
    block: dict[str, Any], source: dict[str, Any]
) -> None:
    [turn] = turns(HumanMessage([{"type": "text", "text": "what is it?"}, block]))
    assert turn["content"][1] == {"type": "image", "source": source}


def test_documents_pdf_text_url_and_unsupported_media() -> None:
    [turn] = turns(
        HumanMessage(
            [
                {"type": "file", "base64": "JVBER", "mime_type": "application/pdf"},
                {"type": "file", "url": "https://x.test/a.pdf", "filename": "a.pdf"},
                {"type": "file", "base64": "aGVsbG8=", "mime_type": "text/plain"},
            ]
        )
    )
    assert turn["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
        },
        {
            "type": "document",
            "source": {"type": "url", "url": "https://x.test/a.pdf"},
            "title": "a.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "hello"},
        },
    ]
    with pytest.raises(ConfigurationError, match="audio"):
        turns(HumanMessage([{"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}]))


def test_assistant_tool_calls_become_tool_use_blocks_after_the_text() -> None:
    message = AIMessage(
        "Checking.",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_1"}],
        invalid_tool_calls=[
            {"name": "get_weather", "args": '{"city": ', "id": "toolu_2", "error": "cut"}
        ],
    )
    [turn] = turns(message)
    assert turn == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
        ],
    }


def test_tool_results_share_one_user_turn_with_is_error_and_following_text() -> None:
    call = {"name": "f", "args": {}, "id": "toolu_a"}
    other = {"name": "f", "args": {}, "id": "toolu_b"}
    encoded = turns(
        HumanMessage("go"),
        AIMessage("", tool_calls=[call, other]),
        ToolMessage("42", tool_call_id="toolu_a"),
        ToolMessage(
            [
                {"type": "text", "text": "boom"},
                {"type": "image", "base64": PNG, "mime_type": "image/png"},
            ],
            tool_call_id="toolu_b",
            status="error",
        ),
        HumanMessage("and now?"),
    )
    assert [t["role"] for t in encoded] == ["user", "assistant", "user"]
    assert encoded[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "42"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_b",
            "content": [
                {"type": "text", "text": "boom"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
            "is_error": True,
        },
        {"type": "text", "text": "and now?"},
    ]


def test_foreign_tool_call_ids_are_mapped_the_same_way_on_call_and_result() -> None:
    encoded = turns(
        HumanMessage("go"),
        AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "functions.f:0"}]),
        ToolMessage("ok", tool_call_id="functions.f:0"),
    )
    call_id = encoded[1]["content"][0]["id"]
    assert re.fullmatch(r"functions_f_0_[a-zA-Z0-9]{8}", call_id)
    assert encoded[2]["content"][0]["tool_use_id"] == call_id


def test_ids_that_sanitize_alike_stay_distinct() -> None:
    """`a.b` and `a:b` both read `a_b` once sanitized; Anthropic refuses two tool_use
    blocks with one id, and each result must still find its own call."""
    encoded = turns(
        HumanMessage("go"),
        AIMessage(
            "",
            tool_calls=[
                {"name": "f", "args": {"n": 1}, "id": "a.b"},
                {"name": "f", "args": {"n": 2}, "id": "a:b"},
                {"name": "f", "args": {"n": 3}, "id": "a_b"},
            ],
        ),
        ToolMessage("one", tool_call_id="a.b"),
        ToolMessage("two", tool_call_id="a:b"),
        ToolMessage("three", tool_call_id="a_b"),
    )
    sent = [block["id"] for block in encoded[1]["content"]]
    assert len(set(sent)) == 3
    assert sent[2] == "a_b"  # an accepted id is kept as it is
    assert [block["tool_use_id"] for block in encoded[2]["content"]] == sent


def test_thinking_blocks_are_replayed_verbatim_before_text_and_tool_use() -> None:
    state = [
        {"type": "thinking", "thinking": "Need weather.", "signature": SIG},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
    ]
    message = AIMessage(
        "On it.",
        additional_kwargs={"thinking_blocks": state, "reasoning_content": "Need weather."},
        tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "toolu_9"}],
    )
    [turn] = turns(message)
    assert turn["content"] == [
        *state,
        {"type": "text", "text": "On it."},
        {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Rome"}},
    ]


def test_signed_reasoning_blocks_replay_in_content_order_in_every_dialect() -> None:
    v1 = AIMessage(
        [
            {"type": "reasoning", "reasoning": "Hmm.", "extras": {"signature": SIG}},
            {"type": "text", "text": "Yes."},
        ]
    )
    anthropic_style = AIMessage(
        [
            {"type": "thinking", "thinking": "Hmm.", "signature": SIG, "index": 0},
            {"type": "redacted_thinking", "data": "ENC", "index": 1},
            {"type": "text", "text": "Yes.", "index": 2},
        ]
    )
    v1_redacted = AIMessage(
        [{"type": "non_standard", "value": {"type": "redacted_thinking", "data": "ENC"}}, "Yes."]
    )
    thinking = {"type": "thinking", "thinking": "Hmm.", "signature": SIG}
    text = {"type": "text", "text": "Yes."}
    assert turns(v1)[0]["content"] == [thinking, text]
    assert turns(anthropic_style)[0]["content"] == [
        thinking,
        {"type": "redacted_thinking", "data": "ENC"},
        text,
    ]
    assert turns(v1_redacted)[0]["content"] == [{"type": "redacted_thinking", "data": "ENC"}, text]


def test_reasoning_without_a_signature_is_never_sent() -> None:
    foreign = AIMessage(
        [
            {"type": "reasoning", "reasoning": "Other provider's thoughts."},
            {"type": "text", "text": "Hi."},
        ],
        additional_kwargs={"reasoning_content": "Other provider's thoughts."},
    )
    assert turns(foreign)[0]["content"] == [{"type": "text", "text": "Hi."}]


def test_server_tool_blocks_are_sent_back_and_empty_assistant_turns_dropped() -> None:
    server = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
    ]
    message = AIMessage("Found it.", additional_kwargs={"server_tool_blocks": server})
    encoded = turns(HumanMessage("a"), AIMessage(""), HumanMessage("b"), message)
    assert encoded[0] == {
        "role": "user",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
    }
    assert encoded[1]["content"] == [*server, {"type": "text", "text": "Found it."}]


def test_messages_anthropic_cannot_take_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="FunctionMessage"):
        encode_messages([FunctionMessage(name="f", content="x")])


# --- request fields -------------------------------------------------------------------------


def test_tools_become_input_schema_tools_and_native_tools_pass_through() -> None:
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    sent = body(tools=[weather_tool(strict=True), web_search], tool_choice="auto")
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
        web_search,
    ]
    assert sent["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize(
    ("choice", "parallel", "wire"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("any", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("get_weather", None, {"type": "tool", "name": "get_weather"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (
            {"type": "tool", "name": "get_weather"},
            True,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": False},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice(choice: Any, parallel: bool | None, wire: dict[str, Any]) -> None:
    sent = body(tools=[weather_tool()], tool_choice=choice, parallel_tool_calls=parallel)
    assert sent["tool_choice"] == wire


def test_no_tool_choice_without_tools() -> None:
    assert "tool_choice" not in body(tool_choice="auto", parallel_tool_calls=False)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-3-haiku-20240307", 4096),
        ("claude-3-opus-20240229", 4096),
        ("claude-3-5-sonnet-20241022", 8192),
        ("claude-3-7-sonnet@20250219", 64000),
        ("claude-opus-4-1-20250805", 32000),
        ("claude-sonnet-4-20250514", 64000),
        ("claude-haiku-4-5", 64000),
        ("claude-opus-4-6", 64000),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64000),
        ("qwen2.5-coder", 4096),
    ],
)
def test_max_tokens_is_always_sent_with_a_family_default(model: str, expected: int) -> None:
    assert default_max_tokens(model) == expected
    assert body(model)["max_tokens"] == expected
    assert body(model, max_tokens=77)["max_tokens"] == 77


@pytest.mark.parametrize(
    ("model", "fields", "thinking", "effort"),
    [
        (
            "claude-sonnet-4-5",
            {"thinking_budget": 2000},
            {"type": "enabled", "budget_tokens": 2000},
            None,
        ),
        (
            "claude-sonnet-4-5",
            {"reasoning_effort": "low"},
            {"type": "enabled", "budget_tokens": 2048},
            None,
        ),
        (
            "claude-3-7-sonnet-20250219",
            {"reasoning_effort": "high"},
            {"type": "enabled", "budget_tokens": 16384},
            None,
        ),
        ("claude-opus-4-6", {"reasoning_effort": "medium"}, {"type": "adaptive"}, "medium"),
        (
            "claude-opus-4-6",
            {"thinking_budget": 5000},
            {"type": "enabled", "budget_tokens": 5000},
            None,
        ),
        ("claude-opus-4-7", {"thinking_budget": 5000}, {"type": "adaptive"}, "medium"),
        ("claude-sonnet-5", {"reasoning_effort": "minimal"}, {"type": "adaptive"}, "low"),
        ("claude-sonnet-4-5", {"reasoning_effort": "none"}, None, None),
        ("claude-sonnet-4-5", {"thinking_budget": 0}, None, None),
        ("claude-sonnet-4-5", {}, None, None),
    ],
)
def test_thinking_from_budget_or_effort(
    model: str, fields: dict[str, Any], thinking: dict[str, Any] | None, effort: str | None
) -> None:
    sent = body(model, **fields)
    assert sent.get("thinking") == thinking
    assert sent.get("output_config", {}).get("effort") == effort


def test_the_default_max_tokens_leaves_room_for_a_large_budget() -> None:
    assert body("claude-3-5-sonnet-20241022", thinking_budget=10000)["max_tokens"] == 14096
    assert (
        body("claude-3-5-sonnet-20241022", thinking_budget=10000, max_tokens=9000)["max_tokens"]
        == 9000
    )


def test_a_forced_tool_is_relaxed_to_auto_while_thinking() -> None:
    sent = body(
        tools=[weather_tool()],
        tool_choice="get_weather",
        parallel_tool_calls=False,
        thinking_budget=2048,
    )
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    forced = body(tools=[weather_tool()], tool_choice="get_weather")
    assert forced["tool_choice"] == {"type": "tool", "name": "get_weather"}


def test_sampling_fields_stop_sequences_and_extra_body_last() -> None:
    sent = body(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop=["END"],
        seed=7,
        stream=True,
        extra_body={"metadata": {"user_id": "u1"}},
    )
    assert (sent["temperature"], sent["top_p"], sent["top_k"]) == (0.2, 0.9, 40)
    assert sent["stop_sequences"] == ["END"]
    assert sent["stream"] is True
    assert "seed" not in sent and "stop" not in sent
    assert sent["metadata"] == {"user_id": "u1"}


def test_sampling_that_anthropic_refuses_with_thinking_is_left_out() -> None:
    """gemini-cli sends temperature 1, topP 0.95 and topK 64 with every request; Anthropic
    refuses top_k, temperature other than 1 and top_p under 0.95 while thinking is on."""
    thinking = {"type": "enabled", "budget_tokens": 1024, "display": "summarized"}
    sent = body(temperature=0.2, top_p=0.9, top_k=40, extra_body={"thinking": thinking})
    assert sent["thinking"] == thinking
    assert not {"temperature", "top_p", "top_k"} & set(sent)
    allowed = body(temperature=1, top_p=0.95, top_k=64, reasoning_effort="high")
    assert (allowed["temperature"], allowed["top_p"]) == (1, 0.95)
    assert "top_k" not in allowed


def test_json_schema_response_format_becomes_output_config_format() -> None:
    schema = {
        "type": "object",
        "properties": {"who": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "required": ["who"],
    }
    sent = body(
        response_format={"type": "json_schema", "json_schema": {"name": "P", "schema": schema}},
        extra_body={"output_config": {"effort": "low"}},
    )
    assert sent["output_config"] == {
        "effort": "low",
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "properties": {
                    "who": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "additionalProperties": False,
                    }
                },
                "required": ["who"],
                "additionalProperties": False,
            },
        },
    }
    assert "output_config" not in body(response_format={"type": "text"})
    with pytest.raises(ConfigurationError, match="no JSON mode"):
        body(response_format={"type": "json_object"})


def test_headers_carry_the_key_as_x_api_key_never_bearer() -> None:
    assert PROTOCOL.auth_headers("sk-ant-1") == {
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-1",
    }
    assert PROTOCOL.auth_headers(None) == {"anthropic-version": "2023-06-01"}
    assert PROTOCOL.path("claude-x", stream=True) == "/messages"


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-sonnet-4-5-20250929", True),
        ("claude-opus-4-1", True),
        ("claude-haiku-4-5", True),
        ("claude-opus-4-6", True),
        ("claude-sonnet-4-20250514", False),
        ("claude-3-5-haiku-latest", False),
        ("my-local-model", False),
    ],
)
def test_native_structured_output_by_model(model: str, native: bool) -> None:
    assert PROTOCOL.supports_response_format(model, "json_schema") is native
    assert PROTOCOL.supports_response_format(model, "json_object") is False


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("claude-3-5-sonnet-20241022", ("sonnet", (3, 5))),
        ("claude-sonnet-4-5-20250929", ("sonnet", (4, 5))),
        ("claude-sonnet-4-20250514", ("sonnet", (4, 0))),
        ("claude-3-opus-20240229", ("opus", (3, 0))),
        ("claude-2.1", ("", (2, 1))),
        ("claude-fable-5", ("fable", (5, 0))),
        ("gpt-4o", None),
    ],
)
def test_claude_version_reads_every_naming_scheme(
    name: str, parsed: tuple[str, tuple[int, int]] | None
) -> None:
    assert claude_version(name) == parsed


# --- responses ------------------------------------------------------------------------------


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def start(usage: dict[str, Any] | None = None, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(reason: str | None, **usage: Any) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": usage,
    }


MESSAGE_STOP = {"type": "message_stop"}
PING = {"type": "ping"}

THINKING_TOOL_STREAM = [
    start(
        {
            "input_tokens": 50,
            "cache_read_input_tokens": 30,
            "cache_creation_input_tokens": 5,
            "output_tokens": 1,
        }
    ),
    block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    PING,
    delta(0, type="thinking_delta", thinking="Weather "),
    delta(0, type="thinking_delta", thinking="needed."),
    delta(0, type="signature_delta", signature=SIG),
    stop(0),
    block_start(1, {"type": "text", "text": ""}),
    delta(1, type="text_delta", text="Checking "),
    delta(1, type="text_delta", text="both."),
    stop(1),
    block_start(2, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
    delta(2, type="input_json_delta", partial_json=""),
    delta(2, type="input_json_delta", partial_json='{"city": '),
    delta(2, type="input_json_delta", partial_json='"Paris"}'),
    stop(2),
    block_start(3, {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}}),
    delta(3, type="input_json_delta", partial_json='{"city": "Rome"}'),
    stop(3),
    message_delta("tool_use", output_tokens=42, output_tokens_details={"thinking_tokens": 12}),
    MESSAGE_STOP,
]

THINKING_TOOL_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Weather needed.", "signature": SIG},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 50,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 5,
        "output_tokens": 42,
        "output_tokens_details": {"thinking_tokens": 12},
    },
}


def decode_stream(raw: bytes, pieces: int = 1) -> list[StreamEvent]:
    """Feed `raw` through the SSE framer in `pieces` equal reads, then close."""
    decoder = PROTOCOL.stream_decoder()
    framer = SSEFramer()
    events: list[StreamEvent] = []
    size = max(1, len(raw) // pieces)
    for offset in range(0, len(raw), size):
        events.extend(decoder.feed(framer.feed(raw[offset : offset + size])))
    frames, _ = framer.flush()
    events.extend(decoder.feed(frames))
    events.extend(decoder.close())
    return events


def view(message: AIMessage) -> tuple[Any, ...]:
    return (
        message.content,
        message.tool_calls,
        message.invalid_tool_calls,
        message.usage_metadata,
        message.additional_kwargs,
        message.response_metadata,
        message.id,
    )


def test_streamed_and_whole_responses_build_the_same_message() -> None:
    streamed = MessageBuilder().message(decode_stream(sse(*THINKING_TOOL_STREAM), pieces=7))
    whole = MessageBuilder().message(PROTOCOL.decode_response(THINKING_TOOL_MESSAGE))
    assert view(streamed) == view(whole)
    assert streamed.content == "Checking both."
    assert streamed.additional_kwargs["reasoning_content"] == "Weather needed."
    assert streamed.additional_kwargs["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Weather needed.", "signature": SIG}
    ]
    assert [(c["id"], c["args"]) for c in streamed.tool_calls] == [
        ("toolu_a", {"city": "Paris"}),
        ("toolu_b", {"city": "Rome"}),
    ]
    assert streamed.usage_metadata == {
        "input_tokens": 85,
        "output_tokens": 42,
        "total_tokens": 127,
        "input_token_details": {"cache_read": 30, "cache_creation": 5},
        "output_token_details": {"reasoning": 12},
    }
    assert streamed.response_metadata["finish_reason"] == "tool_calls"
    assert streamed.response_metadata["native_finish_reason"] == "tool_use"


def test_v1_streamed_and_whole_messages_agree_and_carry_the_signature() -> None:
    streamed = MessageBuilder(v1=True).message(decode_stream(sse(*THINKING_TOOL_STREAM)))
    whole = MessageBuilder(v1=True).message(PROTOCOL.decode_response(THINKING_TOOL_MESSAGE))
    assert view(streamed) == view(whole)
    assert streamed.content[0] == {
        "type": "reasoning",
        "reasoning": "Weather needed.",
        "extras": {"signature": SIG},
    }


def test_a_tool_use_block_may_arrive_with_its_input_filled_in() -> None:
    events = decode_stream(
        sse(
            start(),
            block_start(
                0, {"type": "tool_use", "id": "toolu_x", "name": "lookup", "input": {"q": "ü"}}
            ),
            stop(0),
            block_start(1, {"type": "tool_use", "id": "toolu_y", "name": "now", "input": {}}),
            stop(1),
            message_delta("tool_use", output_tokens=3),
            MESSAGE_STOP,
        )
    )
    message = MessageBuilder().message(events)
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("lookup", {"q": "ü"}),
        ("now", {}),
    ]


def test_truncated_tool_input_is_an_invalid_call_and_the_finish_is_length() -> None:
    events = decode_stream(
        sse(
            start(),
            block_start(0, {"type": "tool_use", "id": "toolu_x", "name": "write", "input": {}}),
            delta(0, type="input_json_delta", partial_json='{"text": "long'),
            message_delta("max_tokens", output_tokens=100),
            MESSAGE_STOP,
        )
    )
    message = MessageBuilder().message(events)
    assert message.tool_calls == []
    [invalid] = message.invalid_tool_calls
    assert (invalid["name"], invalid["args"]) == ("write", '{"text": "long')
    assert "not valid JSON" in (invalid["error"] or "")
    assert message.response_metadata["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("native", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
    ],
)
def test_stop_reasons_are_normalized(native: str, reason: str) -> None:
    end = message_delta(native, output_tokens=1)
    end["delta"]["stop_sequence"] = "END" if native == "stop_sequence" else None
    message = MessageBuilder().message(decode_stream(sse(start(), end, MESSAGE_STOP)))
    metadata = message.response_metadata
    assert metadata["finish_reason"] == reason
    assert metadata.get("native_finish_reason", reason) == native
    assert metadata.get("stop_sequence") == ("END" if native == "stop_sequence" else None)


def test_message_delta_usage_is_cumulative_and_wins() -> None:
    events = decode_stream(
        sse(
            start({"input_tokens": 43, "output_tokens": 1}),
            message_delta("end_turn", input_tokens=61, output_tokens=2),
            MESSAGE_STOP,
        )
    )
    usage = MessageBuilder().message(events).usage_metadata
    assert usage == {"input_tokens": 61, "output_tokens": 2, "total_tokens": 63}


def test_citations_and_server_tool_blocks_are_kept_for_the_next_turn() -> None:
    citation = {"type": "web_search_result_location", "url": "https://x.test", "cited_text": "c"}
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    events = decode_stream(
        sse(
            start(),
            block_start(
                0,
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            ),
            delta(0, type="input_json_delta", partial_json='{"query": '),
            delta(0, type="input_json_delta", partial_json='"x"}'),
            stop(0),
            block_start(1, result),
            stop(1),
            block_start(2, {"type": "text", "text": "", "citations": []}),
            delta(2, type="citations_delta", citation=citation),
            delta(2, type="text_delta", text="It is x."),
            stop(2),
            message_delta("end_turn", output_tokens=9),
            MESSAGE_STOP,
        )
    )
    message = MessageBuilder().message(events)
    assert message.content == "It is x."
    assert message.tool_calls == []
    assert message.additional_kwargs["server_tool_blocks"] == [
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "x"},
        },
        result,
    ]
    assert message.additional_kwargs["citations"] == [citation]
    assert message.response_metadata["finish_reason"] == "stop"


def test_an_error_event_raises_a_typed_error_naming_its_type() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    decoder = PROTOCOL.stream_decoder()
    framer = SSEFramer()
    events = decoder.feed(framer.feed(sse(start(), block_start(0, {"type": "text", "text": ""}))))
    assert events
    with pytest.raises(StreamErrorEvent) as info:
        decoder.feed(framer.feed(sse(error)))
    assert info.value.error_type == "overloaded_error"
    assert "Overloaded" in str(info.value)
    with pytest.raises(StreamErrorEvent, match="not json"):
        PROTOCOL.stream_decoder().feed(SSEFramer().feed(b"event: error\ndata: not json\n\n"))


def test_a_stream_without_message_stop_is_cut() -> None:
    with pytest.raises(StreamCutError, match="before message_stop"):
        decode_stream(sse(start(), message_delta("end_turn", output_tokens=1)))
    with pytest.raises(StreamCutError, match="without sending a single event"):
        PROTOCOL.stream_decoder().close()


def test_pings_and_unknown_events_are_ignored_but_bad_json_is_not() -> None:
    events = decode_stream(
        sse(
            start(), PING, {"type": "future_event", "x": 1}, message_delta("end_turn"), MESSAGE_STOP
        )
    )
    assert MessageBuilder().message(events).response_metadata["finish_reason"] == "stop"
    with pytest.raises(InvalidStreamDataError):
        PROTOCOL.stream_decoder().feed(SSEFramer().feed(b"data: {oops\n\n"))


def test_a_whole_json_body_answering_a_stream_is_decoded_and_errors_raise() -> None:
    decoder = PROTOCOL.stream_decoder()
    framer = decoder.new_framer("application/json")
    assert isinstance(framer, WholeBodyFramer)
    framer.feed(json.dumps(THINKING_TOOL_MESSAGE).encode())
    frames, _ = framer.flush()
    events = decoder.feed(frames) + decoder.close()
    assert view(MessageBuilder().message(events)) == view(
        MessageBuilder().message(PROTOCOL.decode_response(THINKING_TOOL_MESSAGE))
    )
    with pytest.raises(StreamErrorEvent) as info:
        PROTOCOL.decode_response({"type": "error", "error": {"type": "api_error", "message": "x"}})
    assert info.value.error_type == "api_error"


def test_signatures_from_another_wire_format_are_never_sent() -> None:
    """A Gemini thought signature in a v1 reasoning block means nothing to Claude."""
    from langchain_core.messages import AIMessage as _AI

    from langchain_bhumi.protocols.anthropic.client import encode_assistant as _encode

    content = [
        {"type": "reasoning", "reasoning": "hm", "extras": {"signature": "sig"}},
        {"type": "text", "text": "ok"},
    ]
    gemini = _AI(content=content, response_metadata={"wire_format": "gemini"})
    claude = _AI(content=content, response_metadata={"wire_format": "anthropic"})
    assert [b["type"] for b in _encode(gemini)] == ["text"]
    assert [b["type"] for b in _encode(claude)] == ["thinking", "text"]


def test_tool_cache_control_is_kept() -> None:
    """Dropping it would silently turn off prompt caching of large tool sets."""
    from langchain_bhumi.protocols.anthropic.client import encode_tool as _encode_tool

    tool = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
        "cache_control": {"type": "ephemeral"},
    }
    assert _encode_tool(tool)["cache_control"] == {"type": "ephemeral"}
