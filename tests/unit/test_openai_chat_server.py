"""OpenAI chat completions, server direction: client requests -> LangChain, events -> chunks.

What an OpenAI SDK client talking to the proxy would notice: every field of the request
understood (translated for other formats, or kept for an OpenAI backend), custom tools and
legacy functions answered in the shape they were declared in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_bhumi.core.events import (
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.framing import SSEFramer
from langchain_bhumi.protocols.anthropic.client import AnthropicProtocol
from langchain_bhumi.protocols.base import ChatRequest, RequestDecodeError
from langchain_bhumi.protocols.gemini.client import GeminiProtocol
from langchain_bhumi.protocols.openai_chat.client import OpenAIChatProtocol
from langchain_bhumi.protocols.openai_chat.server import (
    OpenAIChatIncomingRequest,
    OpenAIChatServer,
)

SERVER = OpenAIChatServer()
CLIENT = OpenAIChatProtocol()
HI = [{"role": "user", "content": "hi"}]
READ_FILE = {
    "type": "function",
    "function": {
        "name": "read_file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
}
PATCH = {
    "type": "custom",
    "custom": {
        "name": "apply_patch",
        "description": "Apply a patch.",
        "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}},
    },
}


def incoming(**fields: Any) -> OpenAIChatIncomingRequest:
    fields.setdefault("model", "gpt-5")
    fields.setdefault("messages", HI)
    return SERVER.decode_request(fields)


def decode(**fields: Any) -> ChatRequest:
    """The neutral request: what a backend of another format gets."""
    return incoming(**fields).chat


def for_openai(**fields: Any) -> dict[str, Any]:
    """The body an OpenAI-compatible backend gets."""
    return CLIENT.encode_request(SERVER.backend_request(incoming(**fields), CLIENT, "gpt-5"))


# --- requests ---------------------------------------------------------------------------


def test_model_sampling_and_limits() -> None:
    chat = decode(
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop="END",
        reasoning_effort="low",
        presence_penalty=0.5,
        frequency_penalty=0.25,
        max_completion_tokens=300,
        parallel_tool_calls=False,
    )
    assert (chat.model, chat.temperature, chat.top_p, chat.seed) == ("gpt-5", 0.2, 0.9, 7)
    assert (chat.stop, chat.reasoning_effort, chat.max_tokens) == (["END"], "low", 300)
    assert (chat.presence_penalty, chat.frequency_penalty) == (0.5, 0.25)
    assert chat.parallel_tool_calls is False
    assert chat.extra_body == {}


@pytest.mark.parametrize(
    ("fields", "limit"),
    [
        ({"max_completion_tokens": 300}, 300),
        ({"max_tokens": 200}, 200),
        ({"max_completion_tokens": 300, "max_tokens": 200}, 300),
        ({"max_completion_tokens": None, "max_tokens": 512}, 512),  # lost the limit before
        ({"max_completion_tokens": None, "max_tokens": None}, None),
    ],
)
def test_the_first_output_limit_that_is_set_wins(fields: dict[str, Any], limit: int | None) -> None:
    assert decode(**fields).max_tokens == limit


@pytest.mark.parametrize("n", [None, 1])
def test_n_null_or_1_is_one_choice(n: int | None) -> None:
    assert decode(n=n).messages == [HumanMessage("hi")]


def test_stream_options_set_usage_and_the_rest_is_not_relayed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("DEBUG", logger="langchain_bhumi.proxy"):
        request = incoming(
            stream=True, stream_options={"include_usage": True, "include_obfuscation": False}
        )
    assert request.include_usage and request.chat.stream
    assert "stream_options.include_obfuscation" in caplog.text
    assert not incoming(stream=True, stream_options=None).include_usage


def test_developer_messages_keep_their_role_for_openai_backends() -> None:
    messages = [
        {"role": "developer", "content": "Prefer tabs."},
        {
            "role": "system",
            "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        },
        *HI,
    ]
    chat = decode(messages=messages)
    assert isinstance(chat.messages[0], SystemMessage)
    sent = for_openai(messages=messages)["messages"]
    assert sent[0] == {"role": "developer", "content": "Prefer tabs."}
    assert sent[1] == {"role": "system", "content": "A\nB"}  # text parts, one a line
    # Other formats read it as system text.
    anthropic = AnthropicProtocol().encode_request(chat)
    assert [b["text"] for b in anthropic["system"]] == ["Prefer tabs.", "A", "B"]


def test_custom_tools_are_function_tools_with_a_text_input_elsewhere() -> None:
    request = incoming(tools=[PATCH, READ_FILE], tool_choice="auto")
    assert request.chat.tools == [
        {
            "type": "function",
            "function": {
                "name": "apply_patch",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "input": {
                            "type": "string",
                            "description": "The tool's input: text matching this lark "
                            "grammar:\nstart: /.+/",
                        }
                    },
                    "required": ["input"],
                },
                "description": "Apply a patch.",
            },
        },
        READ_FILE,
    ]
    assert request.custom_tools == frozenset({"apply_patch"})
    assert for_openai(tools=[PATCH, READ_FILE])["tools"] == [PATCH, READ_FILE]


@pytest.mark.parametrize(
    ("choice", "neutral", "names"),
    [
        ("auto", "auto", ["apply_patch", "read_file"]),
        ("required", "required", ["apply_patch", "read_file"]),
        ("none", "none", ["apply_patch", "read_file"]),
        ({"type": "function", "function": {"name": "read_file"}}, "read_file", None),
        ({"type": "custom", "custom": {"name": "apply_patch"}}, "apply_patch", None),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "auto",
                    "tools": [{"type": "custom", "custom": {"name": "apply_patch"}}],
                },
            },
            "auto",
            ["apply_patch"],
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "read_file"}}],
                },
            },
            "required",
            ["read_file"],
        ),
    ],
)
def test_every_tool_choice(choice: Any, neutral: str, names: list[str] | None) -> None:
    chat = decode(tools=[PATCH, READ_FILE], tool_choice=choice)
    assert chat.tool_choice == neutral
    offered = [t["function"]["name"] for t in chat.tools or []]
    assert offered == (names or ["apply_patch", "read_file"])
    # An OpenAI backend gets the choice and the tools as the client sent them.
    sent = for_openai(tools=[PATCH, READ_FILE], tool_choice=choice)
    assert sent["tools"] == [PATCH, READ_FILE]
    if isinstance(choice, dict):
        assert sent["tool_choice"] == choice


def test_an_unknown_tool_choice_object_is_refused() -> None:
    with pytest.raises(RequestDecodeError, match="unsupported tool_choice"):
        decode(tools=[READ_FILE], tool_choice={"type": "magic"})


def test_tool_calls_function_custom_and_arguments_as_an_object() -> None:
    messages = [
        *HI,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}},
                {"id": "c2", "type": "custom", "custom": {"name": "apply_patch", "input": "P"}},
                {"id": "c3", "type": "function", "function": {"name": "g", "arguments": "{bad"}},
            ],
        },
    ]
    ai = decode(messages=messages).messages[1]
    assert isinstance(ai, AIMessage)
    assert [(c["id"], c["name"], c["args"]) for c in ai.tool_calls] == [
        ("c1", "f", {"x": 1}),
        ("c2", "apply_patch", {"input": "P"}),
    ]
    assert ai.invalid_tool_calls[0]["args"] == "{bad"
    # An OpenAI backend gets the custom call back as a custom call.
    sent = for_openai(messages=messages)["messages"][1]["tool_calls"]
    assert sent[1] == messages[1]["tool_calls"][1]  # type: ignore[index]
    assert sent[0]["function"] == {"name": "f", "arguments": '{"x": 1}'}


def test_legacy_functions_become_tools_calls_and_results() -> None:
    function = {"name": "read_file", "parameters": {"type": "object", "properties": {}}}
    messages = [
        *HI,
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "read_file", "arguments": "{}"},
        },
        {"role": "function", "name": "read_file", "content": "notes"},
    ]
    request = incoming(messages=messages, functions=[function], function_call={"name": "read_file"})
    chat = request.chat
    assert chat.tools == [{"type": "function", "function": function}]
    assert chat.tool_choice == "read_file"
    ai, result = chat.messages[1], chat.messages[2]
    assert isinstance(ai, AIMessage) and isinstance(result, ToolMessage)
    assert ai.tool_calls[0]["id"] == result.tool_call_id == "call_fn_1"
    assert result.name == "read_file" and result.content == "notes"
    assert request.legacy_functions
    # Declared both ways: one tool.
    both = decode(tools=[READ_FILE], functions=[{"name": "read_file"}])
    assert [t["function"]["name"] for t in both.tools or []] == ["read_file"]


def test_refusals_and_past_audio_are_not_relayed() -> None:
    messages = [
        *HI,
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        {"role": "assistant", "content": "Hi", "refusal": None, "audio": {"id": "audio_1"}},
    ]
    refusal, answer = decode(messages=messages).messages[1:]
    assert refusal.content == [] and answer.content == "Hi"


def test_audio_output_is_not_relayed_text_modality_is() -> None:
    request = incoming(modalities=["text", "audio"], audio={"voice": "marin", "format": "mp3"})
    assert request.chat.extra_body == {}
    sent = for_openai(modalities=["text", "audio"], audio={"voice": "marin", "format": "mp3"})
    assert sent["modalities"] == ["text"] and "audio" not in sent


def test_openai_only_fields_reach_an_openai_backend_only() -> None:
    only = {
        "logprobs": True,
        "top_logprobs": 2,
        "logit_bias": {"50256": -100},
        "prediction": {"type": "content", "content": "x"},
        "store": False,
        "metadata": {"a": "b"},
        "user": "u1",
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "verbosity": "low",
        "service_tier": "flex",
        "web_search_options": {},
    }
    request = incoming(**only)
    assert request.chat.extra_body == only
    sent = for_openai(**only)
    assert {k: sent[k] for k in only} == only
    other = SERVER.backend_request(request, AnthropicProtocol(), "claude-opus-4-6")
    assert other.extra_body == {}


def test_json_schema_without_a_schema_asks_for_json() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "answer"}}
    assert decode(response_format=fmt).response_format == {"type": "json_object"}
    assert for_openai(response_format=fmt)["response_format"] == fmt


def test_a_file_by_openai_id_is_refused_for_other_formats() -> None:
    part = {"type": "file", "file": {"file_id": "file-abc"}}
    request = incoming(messages=[{"role": "user", "content": [part]}])
    assert request.same_format_only == {
        "messages[0].content[0]": "an OpenAI file id (file-abc) means nothing to another provider"
    }
    with pytest.raises(RequestDecodeError, match="file-abc"):
        SERVER.backend_request(request, GeminiProtocol(), "gemini-2.5-flash")
    assert for_openai(messages=[{"role": "user", "content": [part]}])["messages"][0] == {
        "role": "user",
        "content": [part],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["x"], "must be a JSON object"),
        ({"model": "m", "messages": []}, "non-empty list"),
        ({"messages": HI}, "'model' is required"),
        ({"model": "m", "messages": HI, "n": 2}, "only n=1"),
        ({"model": "m", "messages": ["hi"]}, "must be an object"),
        ({"model": "m", "messages": [{"content": "x"}]}, "unknown message role"),
        ({"model": "m", "messages": HI, "tools": {"a": 1}}, "'tools' must be a list"),
        ({"model": "m", "messages": [{"role": "function", "content": "x"}]}, "needs a 'name'"),
        ({"model": "m", "messages": HI, "stream_options": "yes"}, "stream_options"),
    ],
)
def test_invalid_requests_are_refused_with_a_message(body: Any, message: str) -> None:
    with pytest.raises(RequestDecodeError, match=message):
        SERVER.decode_request(body)


# --- responses --------------------------------------------------------------------------


def chunks(encoder: Any, batches: list[list[StreamEvent]]) -> list[dict[str, Any]]:
    body = encoder.start() + b"".join(encoder.encode(b) for b in batches) + encoder.finish()
    frames = SSEFramer().feed(body)
    return [json.loads(f.data) for f in frames if f.data != "[DONE]"]


def call_events(name: str, args: dict[str, Any]) -> list[StreamEvent]:
    text = json.dumps(args)
    return [
        ToolCallDelta(0, "call_1", name, text[:5]),
        ToolCallDelta(0, None, None, text[5:]),
        ToolCallDone(0, "call_1", name, text, args),
        Usage(input_tokens=3, output_tokens=2),
        Finish("tool_calls"),
    ]


def test_a_custom_tool_call_streams_out_whole_once_complete() -> None:
    request = incoming(tools=[PATCH, READ_FILE], stream=True)
    encoder = SERVER.response_encoder(request, response_id="r1")
    events = call_events("apply_patch", {"input": "*** Begin"})
    sent = chunks(encoder, [events[:2], events[2:]])
    calls = [
        c["choices"][0]["delta"]["tool_calls"]
        for c in sent
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls == [
        [
            {
                "index": 0,
                "id": "call_1",
                "type": "custom",
                "custom": {"name": "apply_patch", "input": "*** Begin"},
            }
        ]
    ]
    assert sent[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # Function tools still stream their arguments piece by piece.
    function = chunks(
        SERVER.response_encoder(request, response_id="r2"),
        [call_events("read_file", {"path": "a"})],
    )
    pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in function
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert len(pieces) == 2 and pieces[0]["function"]["name"] == "read_file"


def test_a_whole_answer_has_custom_and_function_calls_in_their_shapes() -> None:
    request = incoming(tools=[PATCH, READ_FILE])
    events = [
        ToolCallDone(0, "c1", "apply_patch", '{"input": "P"}', {"input": "P"}),
        ToolCallDone(1, "c2", "read_file", '{"path": "a"}', {"path": "a"}),
        Finish("tool_calls"),
    ]
    message = SERVER.response_encoder(request, response_id="r").complete(events)["choices"][0]
    assert message["message"]["tool_calls"] == [
        {"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "P"}},
        {
            "id": "c2",
            "type": "function",
            "function": {"name": "read_file", "arguments": '{"path": "a"}'},
        },
    ]


def test_a_functions_request_gets_one_function_call() -> None:
    request = incoming(functions=[{"name": "read_file"}], stream=True)
    sent = chunks(
        SERVER.response_encoder(request, response_id="r"), [call_events("read_file", {"path": "a"})]
    )
    deltas = [c["choices"][0]["delta"] for c in sent]
    assert [d["function_call"] for d in deltas if "function_call" in d] == [
        {"name": "read_file", "arguments": '{"path": "a"}'}
    ]
    assert not any("tool_calls" in d for d in deltas)
    assert sent[-1]["choices"][0]["finish_reason"] == "function_call"
    events = [
        ToolCallDone(0, "c1", "read_file", "{}", {}),
        ToolCallDone(1, "c2", "read_file", '{"x": 1}', {"x": 1}),
        TextDelta("and"),
    ]
    whole = SERVER.response_encoder(request, response_id="r").complete(events)["choices"][0]
    assert whole["message"]["function_call"] == {"name": "read_file", "arguments": "{}"}
    assert whole["finish_reason"] == "function_call"


# --- an OpenAI backend's custom calls, read back -----------------------------------------


def test_a_backend_custom_call_is_read_whole_or_streamed_in_pieces() -> None:
    whole = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-5",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "custom",
                            "custom": {"name": "apply_patch", "input": 'a "b"\n'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    done = [e for e in CLIENT.decode_response(whole) if isinstance(e, ToolCallDone)]
    assert [(d.name, d.args) for d in done] == [("apply_patch", {"input": 'a "b"\n'})]

    def chunk(call: dict[str, Any], finish: str | None = None) -> bytes:
        delta = {"tool_calls": [call]} if call else {}
        body = {
            "id": "c",
            "model": "gpt-5",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    stream = (
        chunk(
            {
                "index": 0,
                "id": "call_1",
                "type": "custom",
                "custom": {"name": "apply_patch", "input": 'a "'},
            }
        )
        + chunk({"index": 0, "custom": {"input": 'b"\n'}})
        + chunk({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )
    decoder = CLIENT.stream_decoder()
    events = decoder.feed(SSEFramer().feed(stream)) + decoder.close()
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert [(d.name, d.args) for d in done] == [("apply_patch", {"input": 'a "b"\n'})]
