"""Chat-completions codec: LangChain messages -> request bodies, responses -> events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.framing import ServerSentEvent
from langchain_bhumi.protocols.base import ChatRequest, ReasoningReplay
from langchain_bhumi.protocols.openai_chat.client import (
    OpenAIChatProtocol,
    encode_message,
    encode_tool_choice,
)

PROTOCOL = OpenAIChatProtocol()
PNG = "iVBORw0KGgo="


def body(**fields: Any) -> dict[str, Any]:
    fields.setdefault("messages", [HumanMessage("hi")])
    return PROTOCOL.encode_request(ChatRequest(model="m", **fields))


# --- messages -------------------------------------------------------------------------


def test_system_user_and_named_messages() -> None:
    assert encode_message(SystemMessage("be brief")) == {"role": "system", "content": "be brief"}
    assert encode_message(HumanMessage("hi", name="ann")) == {
        "role": "user",
        "content": "hi",
        "name": "ann",
    }
    assert encode_message(ChatMessage(role="developer", content="x")) == {
        "role": "developer",
        "content": "x",
    }


@pytest.mark.parametrize(
    "image_block",
    [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image", "base64": PNG, "mime_type": "image/png"},  # v1 standard block
        {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},  # v0
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ],
    ids=["openai", "v1", "v0", "anthropic"],
)
def test_images_in_every_dialect_become_image_url_parts(image_block: dict[str, Any]) -> None:
    message = HumanMessage([{"type": "text", "text": "what is this?"}, image_block])
    assert encode_message(message)["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]


def test_image_urls_keep_url_and_detail() -> None:
    message = HumanMessage(
        [{"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}}]
    )
    assert encode_message(message)["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}}
    ]


def test_text_only_block_lists_collapse_to_a_string() -> None:
    """Servers that only accept string content (many local ones) still work; blocks stay
    apart, one a line (glued together, two blocks would read as one run-on text)."""
    message = HumanMessage([{"type": "text", "text": "a"}, "b"])
    assert encode_message(message)["content"] == "a\nb"


def test_pdf_files_are_sent_inline() -> None:
    message = HumanMessage(
        [
            {
                "type": "file",
                "base64": "JVBERi0=",
                "mime_type": "application/pdf",
                "filename": "a.pdf",
            }
        ]
    )
    assert encode_message(message)["content"] == [
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
        }
    ]


def test_assistant_tool_calls_round_trip_with_json_arguments() -> None:
    message = AIMessage(
        "",
        tool_calls=[
            {"name": "get_weather", "args": {"city": "Zürich"}, "id": "call_1", "type": "tool_call"}
        ],
    )
    encoded = encode_message(message)
    assert encoded["role"] == "assistant" and encoded["content"] is None
    [call] = encoded["tool_calls"]
    assert call == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'},
    }


def test_invalid_tool_calls_are_sent_back_with_their_raw_arguments() -> None:
    """The server sees the call it made, so the error ToolMessage that follows pairs up."""
    message = AIMessage(
        "",
        invalid_tool_calls=[
            {
                "name": "f",
                "args": '{"a": ',
                "id": "call_9",
                "error": "bad",
                "type": "invalid_tool_call",
            }
        ],
    )
    assert encode_message(message)["tool_calls"][0]["function"]["arguments"] == '{"a": '


def test_tool_results_are_strings_paired_by_id() -> None:
    assert encode_message(ToolMessage("22 C", tool_call_id="call_1")) == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "22 C",
    }
    listed = ToolMessage(
        [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], tool_call_id="c"
    )
    assert encode_message(listed)["content"] == "a\nb"


def test_provider_state_is_sent_back_on_the_next_turn() -> None:
    """OpenRouter reasoning_details and Gemini-compat thought signatures go back verbatim."""
    details = [{"type": "reasoning.text", "text": "hm", "signature": "s", "index": 0}]
    message = AIMessage(
        "",
        tool_calls=[{"name": "f", "args": {}, "id": "c1", "type": "tool_call"}],
        additional_kwargs={
            "reasoning_details": details,
            "tool_call_extras": {"c1": {"google": {"thought_signature": "sig"}}},
        },
    )
    encoded = encode_message(message)
    assert encoded["reasoning_details"] == details
    assert encoded["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "sig"}}


def test_reasoning_text_is_sent_back_only_when_the_provider_wants_it() -> None:
    message = AIMessage("4", additional_kwargs={"reasoning_content": "2+2"})
    assert "reasoning_content" not in encode_message(message)
    assert encode_message(message, ReasoningReplay("always"))["reasoning_content"] == "2+2"


# --- request fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        (
            {"type": "function", "function": {"name": "x"}},
            {"type": "function", "function": {"name": "x"}},
        ),
    ],
)
def test_tool_choice(choice: Any, wire: Any) -> None:
    assert encode_tool_choice(choice) == wire


def test_streaming_asks_for_usage_unless_told_not_to() -> None:
    assert body(stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body(stream=True, include_usage=False)
    assert "stream_options" not in body(stream=False)


def test_sampling_fields_and_the_max_tokens_field_name() -> None:
    sent = body(temperature=0, top_p=0.5, max_tokens=7, stop=["\n"], seed=3)
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"], sent["seed"]) == (
        0,
        0.5,
        7,
        ["\n"],
        3,
    )
    assert (
        body(max_tokens=7, max_tokens_field="max_completion_tokens")["max_completion_tokens"] == 7
    )


def test_parallel_tool_calls_only_with_tools_and_extra_body_last() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert "parallel_tool_calls" not in body(parallel_tool_calls=False)
    sent = body(tools=tools, parallel_tool_calls=False, extra_body={"temperature": 1, "x": 2})
    assert sent["parallel_tool_calls"] is False
    assert sent["tools"] == tools
    assert (sent["temperature"], sent["x"]) == (1, 2)


# --- responses ------------------------------------------------------------------------


def test_non_streamed_response_decodes_to_the_same_events_as_a_stream() -> None:
    response = {
        "id": "chatcmpl-1",
        "model": "m-1",
        "system_fingerprint": "fp",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "ok",
                    "reasoning_content": "think",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        },
                        {
                            "id": "b",
                            "type": "function",
                            "function": {"name": "g", "arguments": '{"x":1}'},
                        },
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    events = PROTOCOL.decode_response(response)
    stream = PROTOCOL.stream_decoder()
    chunk = {**response, "object": "chat.completion.chunk"}
    chunk["choices"] = [{**response["choices"][0], "delta": response["choices"][0]["message"]}]
    del chunk["choices"][0]["message"]
    streamed = stream.feed([ServerSentEvent(data=json.dumps(chunk))]) + stream.close()

    def summary(evs: list[Any]) -> list[Any]:
        return [
            e
            for e in evs
            if isinstance(e, TextDelta | ReasoningDelta | ToolCallDone | Usage | Finish)
        ]

    assert summary(events) == summary(streamed)
    assert [e.name for e in events if isinstance(e, ToolCallDone)] == ["f", "g"]
    [usage] = [e for e in events if isinstance(e, Usage)]
    assert (usage.cache_read, usage.reasoning) == (4, 2)


def test_refusals_and_gemini_compat_extra_content() -> None:
    response = {
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "refusal": "I can't help with that.",
                    "extra_content": {"google": {"thought_signature": "sig"}},
                },
            }
        ]
    }
    events = PROTOCOL.decode_response(response)
    assert RefusalDelta("I can't help with that.") in events
    assert ProviderState("extra_content", {"google": {"thought_signature": "sig"}}) in events


def test_provider_state_goes_back_only_to_the_provider_that_produced_it() -> None:
    """OpenRouter's reasoning_details or Gemini-compat signatures would be unknown fields,
    rejected by strict servers (Mistral), if sent to another provider."""
    message = AIMessage(
        "",
        tool_calls=[{"name": "f", "args": {}, "id": "c1", "type": "tool_call"}],
        additional_kwargs={
            "reasoning_details": [{"type": "reasoning.text", "text": "hm"}],
            "tool_call_extras": {"c1": {"google": {"thought_signature": "sig"}}},
        },
        response_metadata={"provider": "openrouter"},
    )
    to_openrouter = encode_message(message, provider="openrouter")
    to_mistral = encode_message(message, provider="mistral")
    assert (
        "reasoning_details" in to_openrouter and "extra_content" in to_openrouter["tool_calls"][0]
    )
    assert (
        "reasoning_details" not in to_mistral and "extra_content" not in to_mistral["tool_calls"][0]
    )
