"""Anthropic Messages, server direction: client requests -> LangChain, events -> SSE / JSON.

What an Anthropic SDK client talking to the proxy would notice: its requests understood
(every block type, tool results paired, thinking kept for replay), and answers it can
parse (block indices, `tool_use` input, signatures, usage with cache accounting, stop
reasons, errors). The round-trip properties feed our encoder's bytes through our own
client-direction decoder, and the official `anthropic` SDK, when installed.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    RefusalDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.framing import SSEFramer
from langchain_bhumi.protocols.anthropic.client import AnthropicProtocol
from langchain_bhumi.protocols.anthropic.server import (
    AnthropicEncoder,
    AnthropicServer,
    anthropic_error_type,
    stop_reason,
)
from langchain_bhumi.protocols.base import ChatRequest, IncomingRequest, RequestDecodeError
from langchain_bhumi.protocols.openai_chat.client import OpenAIChatProtocol

SERVER = AnthropicServer()
CLIENT = AnthropicProtocol()
SIG = "EqQBCkYIBxgCKkB-signature"
PNG = "iVBORw0KGgo="
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def incoming(**fields: Any) -> IncomingRequest:
    fields.setdefault("model", "claude-sonnet-4-5")
    fields.setdefault("max_tokens", 1024)
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return SERVER.decode_request(fields)


def decode(**fields: Any) -> ChatRequest:
    """The neutral request: what a backend of another format gets."""
    return incoming(**fields).chat


def for_anthropic(**fields: Any) -> ChatRequest:
    """The request an Anthropic backend gets (the client's Anthropic-only details kept)."""
    return SERVER.backend_request(incoming(**fields), CLIENT, "claude-sonnet-4-5")


def user(*content: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


def assistant(*content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(content)}


def tool_use(call_id: str, name: str = "get_weather", **args: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


# --- requests -------------------------------------------------------------------------------


def test_model_max_tokens_sampling_and_stream_are_read() -> None:
    incoming = SERVER.decode_request(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 333,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END", "STOP"],
        }
    )
    chat = incoming.chat
    assert (chat.model, chat.max_tokens, chat.stream) == ("claude-haiku-4-5", 333, True)
    assert (chat.temperature, chat.top_p, chat.top_k) == (0.2, 0.9, 40)
    assert chat.stop == ["END", "STOP"]
    assert chat.messages == [HumanMessage("hi")]
    assert incoming.include_usage and incoming.sse
    assert chat.extra_body == {}
    # The URL's model and stream flag win where a route supplies them.
    routed = SERVER.decode_request({"messages": [{"role": "user", "content": "x"}]}, model="m")
    assert (routed.chat.model, routed.chat.stream, routed.chat.max_tokens) == ("m", False, None)


def test_system_string_or_blocks_keeping_cache_control() -> None:
    assert decode(system="Be brief.").messages[0] == SystemMessage("Be brief.")
    blocks = [
        {"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "More."},
    ]
    assert for_anthropic(system=blocks).messages[0] == SystemMessage(blocks)
    # An Anthropic backend gets the cache breakpoint back; others the text, one block a line.
    assert CLIENT.encode_request(for_anthropic(system=blocks))["system"] == blocks
    assert decode(system=blocks).messages[0] == SystemMessage("Long rules.\nMore.")
    assert OpenAIChatProtocol().encode_request(decode(system=blocks))["messages"][0] == {
        "role": "system",
        "content": "Long rules.\nMore.",
    }


def test_user_blocks_images_and_documents_are_kept_for_every_backend() -> None:
    image_b64 = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    image_url = {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
    }
    text = {"type": "text", "text": "what are these?", "cache_control": {"type": "ephemeral"}}
    chat = decode(messages=[user(image_b64, image_url, pdf, text)])
    assert chat.messages == [HumanMessage([image_b64, image_url, pdf, text])]
    # Re-encoded for Anthropic unchanged; for OpenAI as image_url / file parts.
    assert CLIENT.encode_request(chat)["messages"] == [
        {"role": "user", "content": [image_b64, image_url, pdf, text]}
    ]
    openai = OpenAIChatProtocol().encode_request(chat)["messages"][0]["content"]
    assert [part["type"] for part in openai] == ["image_url", "image_url", "file", "text"]
    assert openai[0]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert openai[1]["image_url"]["url"] == "https://x.test/a.png"


def test_tool_results_become_tool_messages_in_order_then_the_rest_of_the_turn() -> None:
    chat = decode(
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            assistant(
                {"type": "text", "text": "Checking."},
                tool_use("toolu_a", city="Paris"),
                tool_use("toolu_b", "get_time", city="Rome"),
            ),
            user(
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": [{"type": "text", "text": "no clock"}],
                    "is_error": True,
                },
                {"type": "text", "text": "Also, be brief."},
            ),
        ]
    )
    _, ai, first, second, rest = chat.messages
    assert isinstance(ai, AIMessage)
    assert ai.content == "Checking."
    assert [(c["id"], c["name"], c["args"]) for c in ai.tool_calls] == [
        ("toolu_a", "get_weather", {"city": "Paris"}),
        ("toolu_b", "get_time", {"city": "Rome"}),
    ]
    assert isinstance(first, ToolMessage)
    assert isinstance(second, ToolMessage)
    assert (first.tool_call_id, first.name, first.content, first.status) == (
        "toolu_a",
        "get_weather",
        "sunny",
        "success",
    )
    assert (second.tool_call_id, second.name, second.status) == ("toolu_b", "get_time", "error")
    assert second.content == [{"type": "text", "text": "no clock"}]
    assert rest == HumanMessage([{"type": "text", "text": "Also, be brief."}])


def test_a_turn_of_only_tool_results_adds_no_empty_human_message() -> None:
    chat = decode(
        messages=[
            {"role": "user", "content": "go"},
            assistant(tool_use("toolu_a")),
            user({"type": "tool_result", "tool_use_id": "toolu_a"}),
        ]
    )
    assert [type(m).__name__ for m in chat.messages] == ["HumanMessage", "AIMessage", "ToolMessage"]
    assert chat.messages[-1].content == ""


def test_signed_thinking_is_kept_whole_for_replay_and_as_reasoning_text() -> None:
    search = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    chat = decode(
        messages=[
            {"role": "user", "content": "hi"},
            assistant(
                {"type": "thinking", "thinking": "Let me ", "signature": SIG},
                {"type": "redacted_thinking", "data": "ENCRYPTED"},
                {"type": "thinking", "thinking": "think.", "signature": ""},
                search,
                result,
                {"type": "text", "text": "Found it."},
                tool_use("toolu_a", city="Paris"),
            ),
        ]
    )
    ai = chat.messages[1]
    assert isinstance(ai, AIMessage)
    assert ai.content == "Found it."
    assert ai.additional_kwargs == {
        # Reasoning without a signature (this proxy's rendering of another backend's
        # reasoning) keeps its text but is never replayed as a signed block.
        "reasoning_content": "Let me think.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me ", "signature": SIG},
            {"type": "redacted_thinking", "data": "ENCRYPTED"},
        ],
        "server_tool_blocks": [search, result],
    }
    # Replayed to an Anthropic backend: thinking first, verbatim, as Anthropic requires.
    assert CLIENT.encode_request(chat)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Let me ", "signature": SIG},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
        search,
        result,
        {"type": "text", "text": "Found it."},
        tool_use("toolu_a", city="Paris"),
    ]


def test_several_assistant_text_blocks_stay_separate() -> None:
    chat = decode(
        messages=[
            {"role": "user", "content": "hi"},
            assistant({"type": "text", "text": "One."}, {"type": "text", "text": "Two."}),
            {"role": "assistant", "content": "prefill"},
        ]
    )
    assert chat.messages[1].content == [
        {"type": "text", "text": "One."},
        {"type": "text", "text": "Two."},
    ]
    assert chat.messages[2] == AIMessage("prefill")


def test_tools_become_function_tools_and_server_tools_pass_through() -> None:
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    strict_tool = {**WEATHER_TOOL, "name": "strict_one", "strict": True, "type": "custom"}
    tools = [WEATHER_TOOL, strict_tool, search]
    # Other formats: the client's tools as function tools; server tools are Anthropic's.
    assert decode(tools=tools).tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER_TOOL["input_schema"],
                "description": "Weather for a city.",
            },
        },
        {
            "type": "function",
            "function": {
                "name": "strict_one",
                "parameters": WEATHER_TOOL["input_schema"],
                "description": "Weather for a city.",
                "strict": True,
            },
        },
    ]
    # An Anthropic backend gets every tool exactly as the client sent it.
    assert CLIENT.encode_request(for_anthropic(tools=tools))["tools"] == tools


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        ({"type": "tool", "name": "get_weather"}, "get_weather", None),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
        ({"type": "any", "disable_parallel_tool_use": False}, "required", True),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: str, parallel: bool | None) -> None:
    chat = decode(tools=[WEATHER_TOOL], tool_choice=choice)
    assert (chat.tool_choice, chat.parallel_tool_calls) == (expected, parallel)
    assert (
        CLIENT.encode_request(for_anthropic(tools=[WEATHER_TOOL], tool_choice=choice))[
            "tool_choice"
        ]
        == choice
    )


@pytest.mark.parametrize(
    ("thinking", "output_config", "budget", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, None, 2048, None),
        ({"type": "adaptive"}, {"effort": "low"}, None, "low"),
        ({"type": "adaptive"}, {"effort": "max"}, None, "high"),
        ({"type": "adaptive"}, None, None, "high"),
        ({"type": "between_tools"}, None, None, "high"),
        ({"type": "between_tools"}, {"effort": "medium"}, None, "medium"),
        ({"type": "a_type_newer_than_this_module"}, None, None, "high"),
        ({"type": "enabled", "budget_tokens": 0}, None, 0, None),
        ({"type": "disabled"}, None, None, None),
        # An effort without thinking must not switch thinking on for other backends.
        (None, {"effort": "low"}, None, None),
    ],
)
def test_thinking(
    thinking: dict[str, Any] | None,
    output_config: dict[str, Any] | None,
    budget: int | None,
    effort: str | None,
) -> None:
    fields: dict[str, Any] = {}
    if thinking is not None:
        fields["thinking"] = thinking
    if output_config is not None:
        fields["output_config"] = output_config
    chat = decode(**fields)
    assert (chat.thinking_budget, chat.reasoning_effort) == (budget, effort)
    assert chat.extra_body == {}
    # An Anthropic backend gets `thinking` and `output_config` exactly as they came.
    sent = CLIENT.encode_request(for_anthropic(model="claude-opus-4-6", **fields))
    assert (sent.get("thinking"), sent.get("output_config")) == (thinking, output_config)


def test_thinking_reaches_an_anthropic_backend_as_the_client_sent_it() -> None:
    thinking = {"type": "enabled", "budget_tokens": 3000, "display": "omitted"}
    budget = for_anthropic(model="claude-sonnet-4-5", thinking=thinking)
    assert CLIENT.encode_request(budget)["thinking"] == thinking
    adaptive = for_anthropic(
        model="claude-opus-4-6", thinking={"type": "adaptive"}, output_config={"effort": "max"}
    )
    body = CLIENT.encode_request(adaptive)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "max"}
    off = CLIENT.encode_request(for_anthropic(thinking={"type": "disabled"}))
    assert off["thinking"] == {"type": "disabled"}
    # Other formats: the thinking text is not shown when the client asked to omit it.
    assert not incoming(thinking=thinking).show_reasoning  # type: ignore[attr-defined]
    assert incoming(thinking={**thinking, "display": "summarized"}).show_reasoning  # type: ignore[attr-defined]


def test_structured_output_metadata_and_unknown_fields() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    config = {"format": {"type": "json_schema", "schema": schema}}
    fields: dict[str, Any] = {
        "output_config": config,
        "metadata": {"user_id": "u1"},
        "service_tier": "auto",
        "mcp_servers": [{"type": "url", "url": "https://x.test", "name": "x"}],
    }
    chat = decode(**fields)
    assert chat.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }
    # Only an Anthropic backend gets the fields only Anthropic has, as they came.
    assert chat.extra_body == {k: v for k, v in fields.items() if k != "output_config"}
    sent = CLIENT.encode_request(for_anthropic(**fields))
    assert {k: sent[k] for k in fields} == fields


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "'model' is required"),
        ({"model": "m", "messages": []}, "'messages' must be a non-empty list"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "role must be"),
        ({"model": "m", "messages": [{"role": "system", "content": 3}]}, "text blocks"),
        ({"model": "m", "messages": ["hi"]}, r"messages\[0\] must be an object"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "string or a list"),
        ({"model": "m", "messages": [user("text")]}, r"content\[0\] must be a content block"),
        ({"model": "m", "messages": [user({"type": "tool_result"})]}, "tool_use_id"),
        ({"model": "m", "messages": [user(tool_use("t"))]}, "user turn cannot contain"),
        (
            {"model": "m", "messages": [assistant({"type": "tool_use", "name": "f", "input": {}})]},
            "needs an 'id' and a 'name'",
        ),
        (
            {"model": "m", "messages": [assistant({"type": "tool_result", "tool_use_id": "t"})]},
            "assistant turn cannot contain",
        ),
        (
            {"model": "m", "messages": [assistant({"type": "redacted_thinking"})]},
            "needs 'data'",
        ),
        ({"model": "m", "max_tokens": -1, "messages": [user()]}, "'max_tokens' must be an integer"),
        ({"model": "m", "max_tokens": "9", "messages": [user()]}, "'max_tokens' must be"),
        ({"model": "m", "temperature": "hot", "messages": [user()]}, "'temperature' must be"),
        ({"model": "m", "stop_sequences": "END", "messages": [user()]}, "stop_sequences"),
        ({"model": "m", "system": [{"type": "image"}], "messages": [user()]}, "text blocks"),
        ({"model": "m", "tools": [{"name": "f"}], "messages": [user()]}, "input_schema"),
        ({"model": "m", "tools": {"name": "f"}, "messages": [user()]}, "'tools' must be a list"),
        ({"model": "m", "tool_choice": "auto", "messages": [user()]}, "tool_choice"),
        ({"model": "m", "tool_choice": {"type": "tool"}, "messages": [user()]}, "needs a 'name'"),
        ({"model": "m", "tool_choice": {"type": "some"}, "messages": [user()]}, "unsupported"),
        ({"model": "m", "thinking": {"type": "enabled"}, "messages": [user()]}, "budget_tokens"),
        ({"model": "m", "thinking": {"budget_tokens": 9}, "messages": [user()]}, "'type'"),
        (
            {"model": "m", "output_config": {"format": {"type": "xml"}}, "messages": [user()]},
            "json_schema",
        ),
    ],
)
def test_invalid_requests_are_refused_with_a_message_naming_the_field(
    body: Any, message: str
) -> None:
    with pytest.raises(RequestDecodeError, match=message):
        SERVER.decode_request(body)


def _normalized(messages: list[BaseMessage]) -> list[tuple[Any, ...]]:
    """What each message means to a model: role, text, calls, results, replay state."""
    view: list[tuple[Any, ...]] = []
    for message in messages:
        content = message.content
        if isinstance(content, list) and all(
            isinstance(b, dict) and b.get("type") == "text" and len(b) == 2 for b in content
        ):
            content = "".join(b["text"] for b in content)
        if isinstance(message, AIMessage):
            view.append(
                (
                    "ai",
                    content,
                    [(c["id"], c["name"], c["args"]) for c in message.tool_calls],
                    message.additional_kwargs.get("thinking_blocks"),
                    message.additional_kwargs.get("server_tool_blocks"),
                )
            )
        elif isinstance(message, ToolMessage):
            view.append(("tool", message.tool_call_id, content, message.status))
        else:
            view.append((message.type, content))
    return view


CONVERSATION: list[BaseMessage] = [
    SystemMessage("You are terse."),
    HumanMessage("Weather in Paris and Rome?"),
    AIMessage(
        "Checking both.",
        tool_calls=[
            {"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_a"},
            {"name": "get_weather", "args": {"city": "Rome", "units": ["c"]}, "id": "toolu_b"},
        ],
        additional_kwargs={
            "reasoning_content": "Two cities.",
            "thinking_blocks": [
                {"type": "thinking", "thinking": "Two cities.", "signature": SIG},
                {"type": "redacted_thinking", "data": "ENC"},
            ],
        },
    ),
    ToolMessage("sunny", tool_call_id="toolu_a"),
    ToolMessage("no such city", tool_call_id="toolu_b", status="error"),
    HumanMessage(
        [
            {"type": "text", "text": "And the picture?"},
            {"type": "image", "url": "https://x.test/p.png"},
        ]
    ),
    AIMessage("A cat."),
    HumanMessage("Thanks"),
]


def test_a_conversation_encoded_by_the_client_direction_decodes_to_the_same_meaning() -> None:
    body = CLIENT.encode_request(
        ChatRequest(
            model="claude-sonnet-4-5",
            messages=CONVERSATION,
            stream=True,
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            tool_choice="auto",  # a forced tool is relaxed to auto while thinking
            parallel_tool_calls=False,
            temperature=1,
            stop=["###"],
            thinking_budget=2048,
        )
    )
    decoded = SERVER.decode_request(body)
    chat = decoded.chat
    original = _normalized(list(CONVERSATION))
    original[5] = ("human", [{"type": "text", "text": "And the picture?"}, {"type": "image", "source": {"type": "url", "url": "https://x.test/p.png"}}])  # fmt: skip
    assert _normalized(list(chat.messages)) == original
    assert chat.messages[2].additional_kwargs["reasoning_content"] == "Two cities."
    assert (chat.tool_choice, chat.parallel_tool_calls, chat.thinking_budget) == (
        "auto",
        False,
        2048,
    )
    assert (chat.temperature, chat.stop, chat.stream) == (1, ["###"], True)
    # A fixed point: what the client direction sends again is exactly what it sent.
    assert CLIENT.encode_request(SERVER.backend_request(decoded, CLIENT, chat.model)) == body


def test_system_turns_stay_in_place_for_anthropic_and_join_the_system_text_elsewhere() -> None:
    turns = [
        {"role": "system", "content": "First."},
        user({"type": "text", "text": "hi"}),
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "A", "cache_control": EPHEMERAL},
                {"type": "text", "text": "B"},
            ],
        },
        assistant({"type": "text", "text": "ok"}),
        {"role": "system", "content": "Until the next user turn.", "clear_at": "next_user_message"},
        user({"type": "text", "text": "go"}),
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Last."},
                {"type": "tool_addition", "definition": WEATHER_TOOL},
            ],
            "output_config": {"effort": "low"},
        },
    ]
    request = incoming(system="Top.", messages=turns)
    # Other formats: one system text, in order, one block a line; a cleared turn left out.
    assert request.chat.messages[0] == SystemMessage("Top.\nFirst.\nA\nB\nLast.")
    assert [type(m).__name__ for m in request.chat.messages] == [
        "SystemMessage", "HumanMessage", "AIMessage", "HumanMessage",
    ]  # fmt: skip
    assert "messages[6]: tool_addition block" in request.dropped_elsewhere
    assert "messages[6].output_config" in request.dropped_elsewhere
    # Anthropic: every turn where and as the client put it.
    sent = CLIENT.encode_request(SERVER.backend_request(request, CLIENT, "claude-opus-4-6"))
    assert sent["system"] == "Top."
    ok = {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}
    assert sent["messages"] == [*turns[:3], ok, *turns[4:]]


EPHEMERAL = {"type": "ephemeral"}


def test_every_cache_control_reaches_an_anthropic_backend_and_no_other() -> None:
    tools = [
        {
            **WEATHER_TOOL,
            "cache_control": EPHEMERAL,
            "defer_loading": True,
            "input_examples": [{"city": "Oslo"}],
        },
    ]
    messages = [
        user({"type": "text", "text": "Weather?", "cache_control": EPHEMERAL}),
        assistant(
            {
                "type": "text",
                "text": "Checking.",
                "cache_control": EPHEMERAL,
                "citations": [
                    {
                        "type": "char_location",
                        "cited_text": "x",
                        "document_index": 0,
                        "start_char_index": 0,
                        "end_char_index": 1,
                    }
                ],
            },
            {
                **tool_use("toolu_1", city="Oslo"),
                "cache_control": EPHEMERAL,
                "caller": {"type": "direct"},
            },
        ),
        user(
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": "sunny",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
        ),
    ]
    request = incoming(messages=messages, tools=tools, cache_control=EPHEMERAL)
    sent = CLIENT.encode_request(SERVER.backend_request(request, CLIENT, "claude-opus-4-6"))
    assert sent["tools"] == tools
    assert sent["messages"] == messages
    assert sent["cache_control"] == EPHEMERAL
    elsewhere = OpenAIChatProtocol().encode_request(
        SERVER.backend_request(request, OpenAIChatProtocol(), "gpt-5")
    )
    assert "cache_control" not in json.dumps(elsewhere)
    assert "defer_loading" not in json.dumps(elsewhere)


PDF_SOURCE = {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}


def test_documents_and_search_results_become_portable_for_other_formats() -> None:
    blocks = [
        {
            "type": "document",
            "source": PDF_SOURCE,
            "title": "spec.pdf",
            "context": "v2",
            "citations": {"enabled": True},
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "log"},
            "title": "ci.txt",
        },
        {
            "type": "document",
            "source": {
                "type": "content",
                "content": [
                    {"type": "text", "text": "one"},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                ],
            },
        },
        {
            "type": "image",
            "source": {"type": "url", "url": "https://x.test/b.png"},
            "transformations": {"oversized_image": "resize"},
        },
        {
            "type": "search_result",
            "source": "https://w.test",
            "title": "Runbook",
            "content": [{"type": "text", "text": "Flush."}],
        },
        {"type": "container_upload", "file_id": "file_1"},
        {"type": "text", "text": "Review."},
    ]
    request = incoming(messages=[user(*blocks)])
    human = request.chat.messages[0]
    assert human.content == [
        blocks[0],
        {"type": "text", "text": '<document title="ci.txt">\nlog\n</document>'},
        {"type": "text", "text": "one"},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        blocks[3],
        {
            "type": "text",
            "text": '<search_result source="https://w.test" title="Runbook">\nFlush.\n</search_result>',
        },
        blocks[6],
    ]
    assert request.dropped_elsewhere == ["messages[0].content[5] (container_upload)"]
    # An Anthropic backend gets every block as sent (title, context, citations, transformations).
    sent = CLIENT.encode_request(SERVER.backend_request(request, CLIENT, "claude-opus-4-6"))
    assert sent["messages"] == [user(*blocks)]


def test_anthropic_file_ids_are_refused_for_other_formats_only() -> None:
    by_id = {"type": "image", "source": {"type": "file", "file_id": "file_011img"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [by_id]}
    messages = [user({"type": "text", "text": "x"}), assistant(tool_use("toolu_1")), user(result)]
    request = incoming(messages=messages)
    assert set(request.same_format_only) == {"messages[2].content[0].content[0]"}
    with pytest.raises(RequestDecodeError, match=r"file_011img\) means nothing"):
        SERVER.backend_request(request, OpenAIChatProtocol(), "gpt-5")
    sent = CLIENT.encode_request(SERVER.backend_request(request, CLIENT, "claude-opus-4-6"))
    assert sent["messages"][2]["content"][0]["content"] == [by_id]


def test_server_tools_are_anthropics_and_named_when_left_out() -> None:
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    request = incoming(
        tools=[WEATHER_TOOL, search],
        mcp_servers=[{"type": "url", "url": "https://m.test", "name": "m"}],
    )
    assert [t["function"]["name"] for t in request.chat.tools or []] == ["get_weather"]
    assert request.dropped_elsewhere == ["tools[1] (web_search_20250305 web_search)"]
    assert list(request.chat.extra_body) == ["mcp_servers"]


def test_max_tokens_zero_is_zero_for_anthropic_and_one_unseen_token_elsewhere() -> None:
    request = incoming(max_tokens=0)
    assert request.chat.max_tokens == 1
    sent = CLIENT.encode_request(SERVER.backend_request(request, CLIENT, "claude-opus-4-6"))
    assert sent["max_tokens"] == 0
    events: list[StreamEvent] = [
        TextDelta("leaked"),
        ToolCallDone(0, "t", "f", "{}", {}),
        Usage(input_tokens=9, output_tokens=1),
        Finish("length"),
    ]
    whole = SERVER.response_encoder(request, response_id="m").complete(events)
    assert (whole["content"], whole["stop_reason"]) == ([], "max_tokens")
    assert whole["usage"]["input_tokens"] == 9
    encoder = SERVER.response_encoder(request, response_id="m")
    streamed = encoder.start() + encoder.encode(events) + encoder.finish()
    assert b"leaked" not in streamed and b"content_block" not in streamed
    assert b'"stop_reason":"max_tokens"' in streamed


def test_a_decoded_conversation_pairs_calls_and_results_for_an_openai_backend() -> None:
    body = CLIENT.encode_request(ChatRequest(model="claude-sonnet-4-5", messages=CONVERSATION))
    chat = SERVER.decode_request(body).chat
    chat.send_reasoning = True
    wire = OpenAIChatProtocol().encode_request(chat)["messages"]
    assert [m["role"] for m in wire] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "assistant",
        "user",
    ]
    assert wire[2]["reasoning_content"] == "Two cities."
    assert [c["id"] for c in wire[2]["tool_calls"]] == ["toolu_a", "toolu_b"]
    assert json.loads(wire[2]["tool_calls"][1]["function"]["arguments"]) == {
        "city": "Rome",
        "units": ["c"],
    }
    assert [(m["tool_call_id"], m["content"]) for m in wire[3:5]] == [
        ("toolu_a", "sunny"),
        ("toolu_b", "no such city"),
    ]


# --- responses: helpers -----------------------------------------------------------------------


def frames(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """`(event name, data)` of each SSE frame, checking the name matches the data's type."""
    parsed: list[tuple[str, dict[str, Any]]] = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk:
            continue
        name_line, data_line = chunk.split("\n")
        name = name_line.removeprefix("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        parsed.append((name, data))
    return parsed


def outline(raw: bytes) -> list[str]:
    """A compact view of a stream: `start 0 text`, `delta 0 text_delta`, `stop 0`, ..."""
    lines: list[str] = []
    for name, data in frames(raw):
        if name == "content_block_start":
            lines.append(f"start {data['index']} {data['content_block']['type']}")
        elif name == "content_block_delta":
            lines.append(f"delta {data['index']} {data['delta']['type']}")
        elif name == "content_block_stop":
            lines.append(f"stop {data['index']}")
        else:
            lines.append(name)
    return lines


def stream(events: list[StreamEvent], *, show_reasoning: bool = True) -> bytes:
    encoder = AnthropicEncoder(model="claude-x", response_id="msg_1", show_reasoning=show_reasoning)
    return encoder.start() + encoder.encode(events) + encoder.finish()


def call(
    index: int, call_id: str, name: str, args: dict[str, Any], *pieces: str
) -> list[StreamEvent]:
    text = "".join(pieces) if pieces else json.dumps(args)
    parts = list(pieces) if pieces else [text]
    first: list[StreamEvent] = [ToolCallDelta(index, call_id, name, parts[0])]
    rest: list[StreamEvent] = [ToolCallDelta(index, None, None, p) for p in parts[1:]]
    return [*first, *rest, ToolCallDone(index, call_id, name, text, args)]


def client_decode(raw: bytes, cuts: list[int] | None = None) -> list[StreamEvent]:
    """Our client direction's events for `raw`, read in pieces split at `cuts`."""
    decoder = CLIENT.stream_decoder()
    framer = SSEFramer()
    events: list[StreamEvent] = []
    bounds = [0, *sorted(cuts or []), len(raw)]
    for start, end in itertools.pairwise(bounds):
        events.extend(decoder.feed(framer.feed(raw[start:end])))
    tail, _ = framer.flush()
    events.extend(decoder.feed(tail))
    events.extend(decoder.close())
    return events


THINKING_TEXT_TOOLS: list[StreamEvent] = [
    ResponseInfo("msg_backend", "claude-sonnet-4-5"),
    ReasoningDelta("Weather ", 0),
    ReasoningDelta("needed.", 0),
    ReasoningDelta("", 0, SIG),
    TextDelta("Checking ", 1),
    TextDelta("both.", 1),
    *call(0, "toolu_a", "get_weather", {"city": "Paris"}, '{"city": ', '"Paris"}'),
    *call(1, "toolu_b", "get_weather", {"city": "Rome"}),
    Usage(input_tokens=85, output_tokens=42, cache_read=30, cache_creation=5, reasoning=12),
    ProviderState(
        "thinking_blocks", [{"type": "thinking", "thinking": "Weather needed.", "signature": SIG}]
    ),
    Finish("tool_calls", "tool_use"),
]


# --- responses: streamed ----------------------------------------------------------------------


def test_the_full_event_sequence_with_block_indices() -> None:
    raw = stream(THINKING_TEXT_TOOLS)
    assert outline(raw) == [
        "message_start",
        "ping",
        "start 0 thinking",
        "delta 0 thinking_delta",
        "delta 0 thinking_delta",
        "delta 0 signature_delta",
        "stop 0",
        "start 1 text",
        "delta 1 text_delta",
        "delta 1 text_delta",
        "stop 1",
        "start 2 tool_use",
        "delta 2 input_json_delta",
        "delta 2 input_json_delta",
        "stop 2",
        "start 3 tool_use",
        "delta 3 input_json_delta",
        "stop 3",
        "message_delta",
        "message_stop",
    ]
    parsed = frames(raw)
    message = parsed[0][1]["message"]
    assert message["id"] == "msg_1"
    assert message["model"] == "claude-x"  # the name the client asked for
    assert (message["role"], message["content"], message["stop_reason"]) == ("assistant", [], None)
    assert parsed[2][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert parsed[5][1]["delta"] == {"type": "signature_delta", "signature": SIG}
    assert parsed[11][1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_a",
        "name": "get_weather",
        "input": {},
    }
    assert [p[1]["delta"]["partial_json"] for p in parsed[12:14]] == ['{"city": ', '"Paris"}']
    assert parsed[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 50,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 30,
            "output_tokens": 42,
            "output_tokens_details": {"thinking_tokens": 12},
        },
    }


def test_batches_split_anywhere_give_the_same_bytes() -> None:
    whole = stream(THINKING_TEXT_TOOLS)
    encoder = AnthropicEncoder(model="claude-x", response_id="msg_1")
    pieces = [encoder.start()]
    pieces.extend(encoder.encode([event]) for event in THINKING_TEXT_TOOLS)
    pieces.append(encoder.encode([]))
    pieces.append(encoder.finish())
    assert b"".join(pieces) == whole


def test_encode_without_start_still_opens_the_message() -> None:
    encoder = AnthropicEncoder(model="m", response_id="msg_1")
    raw = encoder.encode([TextDelta("hi")]) + encoder.finish()
    assert outline(raw)[:3] == ["message_start", "ping", "start 0 text"]
    assert encoder.ping() == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_interleaved_parallel_calls_are_sent_one_block_at_a_time_with_all_their_pieces() -> None:
    # A backend that interleaves two calls' fragments (and text) by index.
    events: list[StreamEvent] = [
        ToolCallDelta(0, "call_a", "get_weather", '{"city": '),
        ToolCallDelta(1, "call_b", "get_time", '{"zone": '),
        TextDelta("(thinking aloud)"),
        ToolCallDelta(0, None, None, '"Paris"'),
        ToolCallDelta(1, None, None, '"CET"}'),
        ToolCallDelta(0, None, None, "}"),
        ToolCallDone(0, "call_a", "get_weather", '{"city": "Paris"}', {"city": "Paris"}),
        ToolCallDone(1, "call_b", "get_time", '{"zone": "CET"}', {"zone": "CET"}),
        Finish("tool_calls"),
    ]
    raw = stream(events)
    assert outline(raw) == [
        "message_start",
        "ping",
        "start 0 tool_use",
        "delta 0 input_json_delta",
        "delta 0 input_json_delta",
        "delta 0 input_json_delta",
        "stop 0",
        "start 1 tool_use",
        "delta 1 input_json_delta",
        "delta 1 input_json_delta",
        "stop 1",
        "start 2 text",
        "delta 2 text_delta",
        "stop 2",
        "message_delta",
        "message_stop",
    ]
    done = [e for e in client_decode(raw) if isinstance(e, ToolCallDone)]
    assert [(c.id, c.name, c.args) for c in done] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"zone": "CET"}),
    ]


def test_a_call_whose_arguments_never_complete_is_still_closed_at_the_end() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, "call_a", "f", '{"a": '),
        TextDelta("after"),
        Finish("length"),
    ]
    raw = stream(events)
    assert outline(raw)[2:-2] == [
        "start 0 tool_use",
        "delta 0 input_json_delta",
        "stop 0",
        "start 1 text",
        "delta 1 text_delta",
        "stop 1",
    ]
    assert frames(raw)[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_unsigned_reasoning_is_shown_only_when_the_client_asked_for_thinking() -> None:
    events: list[StreamEvent] = [ReasoningDelta("hmm", 0), TextDelta("Hi!", 0), Finish("stop")]
    shown = stream(events, show_reasoning=True)
    assert outline(shown)[2:8] == [
        "start 0 thinking",
        "delta 0 thinking_delta",
        "stop 0",
        "start 1 text",
        "delta 1 text_delta",
        "stop 1",
    ]
    assert "signature_delta" not in shown.decode()
    hidden = stream(events, show_reasoning=False)
    assert outline(hidden)[2:5] == ["start 0 text", "delta 0 text_delta", "stop 0"]
    assert b"hmm" not in hidden


def test_the_encoder_follows_whether_the_request_asked_for_thinking() -> None:
    events: list[StreamEvent] = [ReasoningDelta("hmm", 0), TextDelta("Hi!", 0)]

    def encoded(**fields: Any) -> bytes:
        encoder = SERVER.response_encoder(
            SERVER.decode_request({"model": "m", "max_tokens": 9, "messages": [user()], **fields}),
            response_id="msg_1",
        )
        return encoder.encode(events) + encoder.finish()

    assert b"hmm" in encoded(thinking={"type": "enabled", "budget_tokens": 1024})
    assert b"hmm" in encoded(thinking={"type": "adaptive"})
    assert b"hmm" not in encoded()
    assert b"hmm" not in encoded(thinking={"type": "disabled"})


def test_signed_reasoning_is_kept_even_when_the_client_did_not_ask() -> None:
    # Thinking switched on by the backend's configuration: Anthropic refuses the next
    # tool-use turn unless the client sends the signed block back, so it is shown whole.
    events: list[StreamEvent] = [
        ReasoningDelta("Let me ", 0),
        ReasoningDelta("see.", 0),
        ReasoningDelta("", 0, SIG),
        ReasoningDelta("", 1, redacted="ENC"),
        TextDelta("Hi!", 2),
    ]
    raw = stream(events, show_reasoning=False)
    blocks = [d for n, d in frames(raw) if n in ("content_block_start", "content_block_delta")]
    assert blocks == [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me see."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIG}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "ENC"}},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Hi!"}},
    ]  # fmt: skip


def test_a_new_source_block_starts_a_new_anthropic_block() -> None:
    events: list[StreamEvent] = [
        ReasoningDelta("a", 0),
        ReasoningDelta("", 0, "S1"),
        ReasoningDelta("b", 1),
        ReasoningDelta("", 1, "S2"),
        TextDelta("x", 2),
        TextDelta("y", 3),
        RefusalDelta("no"),
    ]
    starts = [line for line in outline(stream(events)) if line.startswith("start")]
    assert starts == [
        "start 0 thinking",
        "start 1 thinking",
        "start 2 text",
        "start 3 text",
        "start 4 text",
    ]


def test_server_tool_blocks_from_an_anthropic_backend_are_sent_whole() -> None:
    search = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "x"},
    }
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    raw = stream(
        [
            TextDelta("Found."),
            ProviderState("server_tool_blocks", [search, result]),
            Finish("stop", "end_turn"),
        ]
    )
    assert outline(raw)[2:-2] == [
        "start 0 text",
        "delta 0 text_delta",
        "stop 0",
        "start 1 server_tool_use",
        "stop 1",
        "start 2 web_search_tool_result",
        "stop 2",
    ]
    events = client_decode(raw)
    assert ProviderState("server_tool_blocks", [search, result]) in events


@pytest.mark.parametrize(
    ("finish", "calls", "expected"),
    [
        (Finish("stop", "stop"), False, "end_turn"),
        (Finish("stop", "STOP"), True, "tool_use"),  # calls made: agent loops look for tool_use
        (Finish("length", "length"), False, "max_tokens"),
        (Finish("length", "MAX_TOKENS"), True, "max_tokens"),
        (Finish("tool_calls", "tool_calls"), True, "tool_use"),
        (Finish("tool_calls", "tool_calls"), False, "end_turn"),  # no tool_use block to run
        (Finish("content_filter", "SAFETY"), False, "refusal"),
        (Finish("stop", "stop_sequence"), False, "stop_sequence"),
        (Finish("pause_turn", "pause_turn"), False, "pause_turn"),
        (Finish("length", "model_context_window_exceeded"), False, "model_context_window_exceeded"),
        (Finish("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL"), False, "end_turn"),
        (None, False, "end_turn"),
        (None, True, "tool_use"),
    ],
)
def test_stop_reasons(finish: Finish | None, calls: bool, expected: str) -> None:
    assert stop_reason(finish, calls) == expected


def test_the_stop_sequence_is_reported_when_the_backend_named_it() -> None:
    events: list[StreamEvent] = [
        TextDelta("one two"),
        ResponseInfo("msg_b", "claude", {"stop_sequence": "three"}),
        Finish("stop", "stop_sequence"),
    ]
    assert frames(stream(events))[-2][1]["delta"] == {
        "stop_reason": "stop_sequence",
        "stop_sequence": "three",
    }
    body = AnthropicEncoder(model="m", response_id="msg_1").complete(events)
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "three")


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            Usage(input_tokens=100, output_tokens=20, cache_read=60, cache_creation=10, reasoning=5),
            {"input_tokens": 30, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 60, "output_tokens": 20, "output_tokens_details": {"thinking_tokens": 5}},
        ),
        (  # an OpenAI-compatible backend: cached tokens only, no cache writes
            Usage(input_tokens=100, output_tokens=7, cache_read=40),
            {"input_tokens": 60, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 40, "output_tokens": 7},
        ),
        (
            Usage(input_tokens=12, output_tokens=3),
            {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 3},
        ),
        (None, {"input_tokens": 0, "output_tokens": 0}),
    ],
)  # fmt: skip
def test_usage_excludes_cached_tokens_from_input_as_anthropic_counts(
    usage: Usage | None, expected: dict[str, Any]
) -> None:
    events: list[StreamEvent] = [TextDelta("x")]
    if usage is not None:
        events.append(usage)
    assert frames(stream(events))[-2][1]["usage"] == expected
    assert AnthropicEncoder(model="m", response_id="r").complete(events)["usage"] == expected
    if usage is not None:  # and our own client direction reads back the same totals
        [decoded] = [e for e in client_decode(stream(events)) if isinstance(e, Usage)]
        assert (decoded.input_tokens, decoded.output_tokens, decoded.reasoning) == (
            usage.input_tokens,
            usage.output_tokens,
            usage.reasoning,
        )


@pytest.mark.parametrize(
    ("status", "given", "expected"),
    [
        (529, "api_error", "overloaded_error"),
        (503, "whatever", "overloaded_error"),
        (500, "server_error", "api_error"),
        (502, "bad_gateway", "api_error"),
        (429, "rate_limited", "rate_limit_error"),
        (401, "unauthorized", "authentication_error"),
        (404, "no_model", "not_found_error"),
        (400, "bad", "invalid_request_error"),
        (422, "unprocessable", "invalid_request_error"),
        (504, "timeout", "timeout_error"),
        (599, "odd", "api_error"),
        (500, "overloaded_error", "overloaded_error"),  # already Anthropic's word: kept
    ],
)
def test_error_types(status: int, given: str, expected: str) -> None:
    assert anthropic_error_type(status, given) == expected
    assert SERVER.error_body(status, given, "boom") == {
        "type": "error",
        "error": {"type": expected, "message": "boom"},
    }
    encoder = AnthropicEncoder(model="m", response_id="msg_1")
    assert frames(encoder.error(status, given, "boom")) == [
        ("error", {"type": "error", "error": {"type": expected, "message": "boom"}})
    ]


def test_an_error_mid_stream_reaches_our_client_direction_as_a_stream_error() -> None:
    from langchain_bhumi.core.errors import StreamErrorEvent

    encoder = AnthropicEncoder(model="m", response_id="msg_1")
    raw = (
        encoder.start() + encoder.encode([TextDelta("par")]) + encoder.error(529, "x", "Overloaded")
    )
    with pytest.raises(StreamErrorEvent) as caught:
        client_decode(raw)
    assert caught.value.error_type == "overloaded_error"


# --- responses: whole -------------------------------------------------------------------------


def test_a_whole_message_has_every_block_in_order_with_usage() -> None:
    body = AnthropicEncoder(model="claude-x", response_id="msg_1").complete(THINKING_TEXT_TOOLS)
    assert body == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Weather needed.", "signature": SIG},
            {"type": "text", "text": "Checking both."},
            {
                "type": "tool_use",
                "id": "toolu_a",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 50,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 30,
            "output_tokens": 42,
            "output_tokens_details": {"thinking_tokens": 12},
        },
    }


def test_a_whole_message_hides_unsigned_reasoning_unless_asked_and_never_sends_bad_input() -> None:
    events: list[StreamEvent] = [
        ReasoningDelta("hmm", 0),
        TextDelta("Calling."),
        ToolCallDelta(0, "call_a", "f", '{"a": '),
        ToolCallDone(0, "call_a", "f", '{"a": ', None, "arguments are not valid JSON"),
        Finish("length"),
    ]
    hidden = AnthropicEncoder(model="m", response_id="r", show_reasoning=False).complete(events)
    assert hidden["content"] == [
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "call_a", "name": "f", "input": {}},
    ]
    assert hidden["stop_reason"] == "max_tokens"
    shown = AnthropicEncoder(model="m", response_id="r", show_reasoning=True).complete(events)
    assert shown["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": ""}


# --- round trips through our own client direction ---------------------------------------------


@dataclass
class Expected:
    """What a client must read back from an encoded response."""

    texts: list[str] = field(default_factory=list)
    reasoning: list[tuple[str, str | None]] = field(default_factory=list)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


_ARGS = st.dictionaries(
    st.text("abcxyz_", min_size=1, max_size=6),
    st.one_of(
        st.integers(-5, 500),
        st.text(max_size=8),
        st.booleans(),
        st.lists(st.integers(0, 9), max_size=3),
    ),
    max_size=3,
)
_TEXT = st.text(min_size=1, max_size=12)
_PIECES = st.lists(_TEXT, min_size=1, max_size=4)


@st.composite
def responses(draw: st.DrawFn) -> tuple[list[StreamEvent], Expected, Usage, Finish]:
    """A backend's normalized events: reasoning and text blocks, then tool calls whose
    fragments may interleave (with each other and with a trailing text block), usage and
    a finish."""
    expected = Expected()
    events: list[StreamEvent] = []
    block = 0
    for kind, pieces in draw(
        st.lists(st.tuples(st.sampled_from(["reasoning", "signed", "text"]), _PIECES), max_size=4)
    ):
        if kind == "text":
            events.extend(TextDelta(p, block) for p in pieces)
            expected.texts.append("".join(pieces))
        else:
            events.extend(ReasoningDelta(p, block) for p in pieces)
            signature = None
            if kind == "signed":
                signature = draw(st.text("ABCdef0123+/=", min_size=4, max_size=20))
                events.append(ReasoningDelta("", block, signature))
            expected.reasoning.append(("".join(pieces), signature))
        block += 1
    streams: list[list[StreamEvent]] = []
    for index in range(draw(st.integers(0, 3))):
        args = draw(_ARGS)
        text = (
            ""
            if not args and draw(st.booleans())
            else json.dumps(args, ensure_ascii=draw(st.booleans()))
        )
        cuts = (
            sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=4)))
            if len(text) > 1
            else []
        )
        parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=False)] or [""]
        call_id, name = f"call_{index}", draw(st.sampled_from(["get_weather", "search", "noop"]))
        fragments: list[StreamEvent] = [ToolCallDelta(index, call_id, name, parts[0])]
        fragments.extend(ToolCallDelta(index, None, None, p) for p in parts[1:])
        fragments.append(ToolCallDone(index, call_id, name, text, args))
        streams.append(fragments)
        expected.calls.append((call_id, name, args))
    trailing_kind = draw(st.sampled_from([None, "text", "reasoning", "signed"]))
    if streams and trailing_kind is not None:
        # One event arriving among the calls' fragments (possibly while one is open).
        trailing = draw(_TEXT)
        if trailing_kind == "text":
            streams.append([TextDelta(trailing, block)])
            expected.texts.append(trailing)
        else:
            signature = "SIGTRAIL" if trailing_kind == "signed" else None
            streams.append([ReasoningDelta(trailing, block, signature)])
            expected.reasoning.append((trailing, signature))
    # Merge the streams in a random interleaving; each call's first fragment keeps its
    # order (indices are numbered by first appearance), `Done`s may come late.
    rng = random.Random(draw(st.integers(0, 2**16)))
    remaining = [list(s) for s in streams]
    merged: list[StreamEvent] = []
    unstarted = 0
    while any(remaining):
        choices = [i for i in range(unstarted) if remaining[i]]
        if unstarted < len(streams):
            choices.append(unstarted)
        chosen = rng.choice(choices)
        if chosen == unstarted:
            unstarted += 1
        merged.append(remaining[chosen].pop(0))
    dones = [e for e in merged if isinstance(e, ToolCallDone)]
    if draw(st.booleans()):  # an OpenAI-style backend: every call completes at the end
        merged = [e for e in merged if not isinstance(e, ToolCallDone)] + dones
    events.extend(merged)
    cache_read = draw(st.integers(0, 50))
    cache_creation = draw(st.integers(0, 50))
    usage = Usage(
        input_tokens=cache_read + cache_creation + draw(st.integers(0, 500)),
        output_tokens=draw(st.integers(0, 500)),
        cache_read=cache_read,
        cache_creation=cache_creation,
        reasoning=draw(st.one_of(st.none(), st.integers(0, 50))),
    )
    finish = (
        Finish("tool_calls")
        if streams and expected.calls
        else Finish(draw(st.sampled_from(["stop", "length"])))
    )
    events.extend([usage, finish])
    return events, expected, usage, finish


def _read_back(events: list[StreamEvent]) -> Expected:
    texts: dict[int, list[str]] = {}
    reasoning: dict[int, list[str]] = {}
    signatures: dict[int, str] = {}
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for event in events:
        if isinstance(event, TextDelta):
            texts.setdefault(event.block, []).append(event.text)
        elif isinstance(event, ReasoningDelta):
            reasoning.setdefault(event.block, []).append(event.text)
            if event.signature:
                signatures[event.block] = event.signature
        elif isinstance(event, ToolCallDone):
            assert event.args is not None, event.error
            calls.append((event.id, event.name, event.args))
    return Expected(
        texts=["".join(p) for _, p in sorted(texts.items())],
        reasoning=[("".join(p), signatures.get(b)) for b, p in sorted(reasoning.items())],
        calls=calls,
    )


def _check(
    decoded: list[StreamEvent], expected: Expected, usage: Usage, finish: Finish, *, shown: bool
) -> None:
    if not shown:  # unsigned reasoning left out, as Anthropic leaves thinking out
        expected = Expected(
            expected.texts, [r for r in expected.reasoning if r[1] is not None], expected.calls
        )
    assert _read_back(decoded) == expected
    [read_usage] = [e for e in decoded if isinstance(e, Usage)]
    assert (read_usage.input_tokens, read_usage.output_tokens) == (
        usage.input_tokens,
        usage.output_tokens,
    )
    assert (read_usage.cache_read, read_usage.cache_creation, read_usage.reasoning) == (
        usage.cache_read,
        usage.cache_creation,
        usage.reasoning,
    )
    [read_finish] = [e for e in decoded if isinstance(e, Finish)]
    assert read_finish.reason == finish.reason
    signed = [
        {"type": "thinking", "thinking": text, "signature": sig or ""}
        for text, sig in expected.reasoning
    ]
    replay = [
        e.value for e in decoded if isinstance(e, ProviderState) and e.key == "thinking_blocks"
    ]
    assert replay == ([signed] if signed else [])


@settings(max_examples=200, deadline=None)
@given(responses(), st.lists(st.integers(0, 10_000), max_size=12), st.booleans())
def test_streamed_bytes_read_back_through_our_client_direction_split_anywhere(
    response: tuple[list[StreamEvent], Expected, Usage, Finish], cuts: list[int], shown: bool
) -> None:
    events, expected, usage, finish = response
    raw = stream(events, show_reasoning=shown)
    decoded = client_decode(raw, [c % (len(raw) + 1) for c in cuts])
    _check(decoded, expected, usage, finish, shown=shown)
    # Block indices are 0, 1, 2, ... and each block is stopped before the next starts.
    open_index: int | None = None
    next_index = 0
    for name, data in frames(raw):
        if name == "content_block_start":
            assert open_index is None
            assert data["index"] == next_index
            open_index, next_index = data["index"], next_index + 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None


@settings(max_examples=100, deadline=None)
@given(responses(), st.booleans())
def test_a_whole_message_reads_back_through_our_client_direction(
    response: tuple[list[StreamEvent], Expected, Usage, Finish], shown: bool
) -> None:
    events, expected, usage, finish = response
    body = AnthropicEncoder(model="m", response_id="msg_1", show_reasoning=shown).complete(events)
    decoded = CLIENT.decode_response(json.loads(json.dumps(body)))
    _check(decoded, expected, usage, finish, shown=shown)


# --- the official SDK as the client -----------------------------------------------------------


@dataclass
class SDK:
    client: Any
    replies: list[tuple[int, bytes, str]]
    sent: list[dict[str, Any]]


@pytest.fixture
def sdk() -> Iterator[SDK]:
    anthropic = pytest.importorskip("anthropic")
    try:
        import httpx2 as http  # the anthropic SDK's own fork of httpx, in recent versions
    except ImportError:  # pragma: no cover - older SDKs use httpx
        import httpx as http  # type: ignore[no-redef]
    replies: list[tuple[int, bytes, str]] = []
    sent: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        sent.append(json.loads(request.content))
        status, body, media_type = replies.pop(0)
        return http.Response(status, content=body, headers={"content-type": media_type})

    client = anthropic.Anthropic(
        api_key="test-key",
        base_url="http://127.0.0.1:9",
        max_retries=0,
        http_client=http.Client(transport=http.MockTransport(handler)),
    )
    yield SDK(client, replies, sent)
    client.close()


def test_the_anthropic_sdk_parses_our_stream_into_the_final_message(sdk: SDK) -> None:
    sdk.replies.append((200, stream(THINKING_TEXT_TOOLS), "text/event-stream"))
    with sdk.client.messages.stream(
        model="claude-x",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
        tools=[WEATHER_TOOL],
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as events:
        texts = list(events.text_stream)
        message = events.get_final_message()
    assert "".join(texts) == "Checking both."
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert (message.content[0].thinking, message.content[0].signature) == ("Weather needed.", SIG)
    assert [(b.id, b.name, b.input) for b in message.content[2:]] == [
        ("toolu_a", "get_weather", {"city": "Paris"}),
        ("toolu_b", "get_weather", {"city": "Rome"}),
    ]
    assert (message.id, message.model, message.stop_reason) == ("msg_1", "claude-x", "tool_use")
    usage = message.usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        usage.output_tokens,
    ) == (50, 30, 5, 42)
    # And what the SDK sent decodes into the request the backend needs.
    chat = SERVER.decode_request(sdk.sent[0]).chat
    assert (chat.stream, chat.thinking_budget, chat.max_tokens) == (True, 1024, 1024)
    assert chat.tools is not None
    assert chat.tools[0]["function"]["name"] == "get_weather"


def test_the_sdk_tool_loop_round_trips_through_decode_and_encode(sdk: SDK) -> None:
    """Two rounds as an SDK agent loop does them: the assistant content (unsigned
    thinking included) is sent back as-is with the tool results, and decodes."""
    first: list[StreamEvent] = [
        ReasoningDelta("need weather", 0),
        *call(0, "call_x", "get_weather", {"city": "Paris"}),
        Finish("tool_calls"),
    ]
    sdk.replies.append((200, stream(first), "text/event-stream"))
    sdk.replies.append(
        (
            200,
            json.dumps(
                AnthropicEncoder(model="claude-x", response_id="msg_2").complete(
                    [TextDelta("Sunny.")]
                )
            ).encode(),
            "application/json",
        )
    )
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    with sdk.client.messages.stream(
        model="claude-x",
        max_tokens=512,
        messages=history,
        tools=[WEATHER_TOOL],
        thinking={"type": "adaptive"},
    ) as s:
        reply = s.get_final_message()
    assert reply.stop_reason == "tool_use"
    tool_block = reply.content[-1]
    history.append(
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]}
    )
    history.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_block.id, "content": "sunny"}],
        }
    )
    final = sdk.client.messages.create(
        model="claude-x", max_tokens=512, messages=history, tools=[WEATHER_TOOL]
    )
    assert final.content[0].text == "Sunny."
    assert final.stop_reason == "end_turn"
    chat = SERVER.decode_request(sdk.sent[1]).chat
    ai, result = chat.messages[1], chat.messages[2]
    assert isinstance(ai, AIMessage)
    assert isinstance(result, ToolMessage)
    assert ai.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_x", "type": "tool_call"}
    ]
    assert ai.additional_kwargs == {"reasoning_content": "need weather"}  # no fake signature
    assert (result.tool_call_id, result.name, result.content) == ("call_x", "get_weather", "sunny")


def test_the_sdk_raises_our_error_events_and_bodies(sdk: SDK) -> None:
    import anthropic

    encoder = AnthropicEncoder(model="m", response_id="msg_1")
    raw = (
        encoder.start() + encoder.encode([TextDelta("par")]) + encoder.error(529, "x", "Overloaded")
    )
    sdk.replies.append((200, raw, "text/event-stream"))
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        sdk.client.messages.stream(
            model="m", max_tokens=9, messages=[user({"type": "text", "text": "hi"})]
        ) as s,
    ):
        s.get_final_message()
    assert caught.value.body["error"]["type"] == "overloaded_error"
    sdk.replies.append(
        (429, json.dumps(SERVER.error_body(429, "x", "slow down")).encode(), "application/json")
    )
    with pytest.raises(anthropic.RateLimitError, match="slow down"):
        sdk.client.messages.create(
            model="m", max_tokens=9, messages=[{"role": "user", "content": "hi"}]
        )
