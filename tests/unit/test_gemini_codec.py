"""The Gemini codec: LangChain messages -> `generateContent` bodies, responses -> events."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi import ContentBlockedError
from langchain_bhumi.core.errors import (
    ConfigurationError,
    InvalidStreamDataError,
    StreamCutError,
    StreamErrorEvent,
)
from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.protocols.base import ChatRequest
from langchain_bhumi.protocols.gemini.client import GeminiProtocol

PROTOCOL = GeminiProtocol()


def encode(messages: list[BaseMessage], **fields: Any) -> dict[str, Any]:
    return PROTOCOL.encode_request(
        ChatRequest(model="gemini-2.5-flash", messages=messages, **fields)
    )


def decode_stream(chunks: list[dict[str, Any]], *, json_array: bool = False) -> list[StreamEvent]:
    """Run chunks through framer, decoder and close, as the transport does."""
    decoder = PROTOCOL.stream_decoder()
    if json_array:
        framer = decoder.new_framer("application/json; charset=UTF-8")
        body = ("[" + ",\r\n".join(json.dumps(c, indent=2) for c in chunks) + "]").encode()
    else:
        framer = decoder.new_framer("text/event-stream")
        body = b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks)
    events = decoder.feed(framer.feed(body))
    tail, _ = framer.flush()
    events += decoder.feed(tail)
    return events + decoder.close()


def of(events: list[StreamEvent], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def candidate(*parts: dict[str, Any], finish: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": list(parts)}, "index": 0}],
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp-1",
        **extra,
    }
    if finish is not None:
        body["candidates"][0]["finishReason"] = finish
    return body


# --- request: conversation --------------------------------------------------------------


def test_system_instruction_and_turns_of_one_role_merged() -> None:
    body = encode(
        [
            SystemMessage("Be brief."),
            HumanMessage("Hi"),
            HumanMessage([{"type": "text", "text": "there"}]),
            AIMessage("Hello."),
            SystemMessage("And polite."),
            HumanMessage("Bye"),
        ]
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "And polite."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
        {"role": "model", "parts": [{"text": "Hello."}]},
        {"role": "user", "parts": [{"text": "Bye"}]},
    ]


def test_chat_message_roles() -> None:
    body = encode(
        [
            ChatMessage("s", role="system"),
            ChatMessage("u", role="user"),
            ChatMessage("a", role="assistant"),
        ]
    )
    assert body["systemInstruction"] == {"parts": [{"text": "s"}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model"]


def test_media_inline_and_by_uri() -> None:
    png = "iVBORw0KGgoAAAANSUhEUg"
    pdf = "JVBERi0xLjQK"
    body = encode(
        [
            HumanMessage(
                [
                    {"type": "text", "text": "Compare"},
                    {"type": "image", "base64": png, "mime_type": "image/png"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{png}"}},
                    {"type": "file", "base64": pdf},
                    {"type": "file", "url": "gs://bucket/report.pdf"},
                    {"type": "video", "url": "https://www.youtube.com/watch?v=abc"},
                    {
                        "type": "image",
                        "file_id": "https://generativelanguage.googleapis.com/v1beta/files/f1",
                        "mime_type": "image/png",
                    },
                ]
            )
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"inlineData": {"mimeType": "image/jpeg", "data": png}},
        {"inlineData": {"mimeType": "application/pdf", "data": pdf}},
        {"fileData": {"fileUri": "gs://bucket/report.pdf", "mimeType": "application/pdf"}},
        {"fileData": {"fileUri": "https://www.youtube.com/watch?v=abc"}},
        {
            "fileData": {
                "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/f1",
                "mimeType": "image/png",
            }
        },
    ]


def test_blocks_of_other_dialects_are_left_out_and_native_parts_pass() -> None:
    body = encode(
        [
            HumanMessage(
                [
                    {"type": "text", "text": "x"},
                    {"type": "server_tool_result", "output": "?"},
                    {"executableCode": {"language": "PYTHON", "code": "1+1"}},
                ]
            )
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"text": "x"},
        {"executableCode": {"language": "PYTHON", "code": "1+1"}},
    ]


SIGNATURE = "CiIBvj72+0cS1gnature=="


def tool_turn() -> AIMessage:
    """Two parallel calls as ChatBhumi decodes them: the first carries Gemini's thought
    signature, the second an id Gemini gave (Gemini 3)."""
    return AIMessage(
        "",
        tool_calls=[
            {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1", "type": "tool_call"},
            {"name": "multiply", "args": {"a": 2, "b": 3}, "id": "k0srpqrc", "type": "tool_call"},
        ],
        additional_kwargs={
            "tool_call_extras": {
                "call_1": {"google": {"thought_signature": SIGNATURE}},
                "k0srpqrc": {"native_id": True},
            }
        },
    )


def test_calls_replay_signatures_and_results_pair_in_call_order() -> None:
    """Results are named after their call and sent in the calls' order, whatever order
    the tools finished in; ids go back only where Gemini gave them."""
    body = encode(
        [
            HumanMessage("2 and 3?"),
            tool_turn(),
            ToolMessage('{"result": 6}', tool_call_id="k0srpqrc"),
            ToolMessage("5", tool_call_id="call_1"),
            HumanMessage("Thanks"),
        ]
    )
    model, user = body["contents"][1:]
    assert model == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "add", "args": {"a": 2, "b": 3}},
                "thoughtSignature": SIGNATURE,
            },
            {"functionCall": {"name": "multiply", "args": {"a": 2, "b": 3}, "id": "k0srpqrc"}},
        ],
    }
    assert user == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "add", "response": {"output": "5"}}},
            {"functionResponse": {"id": "k0srpqrc", "name": "multiply", "response": {"result": 6}}},
            {"text": "Thanks"},
        ],
    }


def test_results_with_unknown_ids_pair_by_position_and_errors_say_so() -> None:
    body = encode(
        [
            HumanMessage("go"),
            tool_turn(),
            ToolMessage("boom", tool_call_id="lost-1", status="error"),
            ToolMessage("[1, 2]", tool_call_id="lost-2"),
        ]
    )
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "add", "response": {"error": "boom"}}},
        {
            "functionResponse": {
                "id": "k0srpqrc",
                "name": "multiply",
                "response": {"output": [1, 2]},
            }
        },
    ]


def test_a_result_with_no_call_needs_a_name() -> None:
    named = encode([HumanMessage("x"), ToolMessage("ok", tool_call_id="t", name="lookup")])
    assert named["contents"][0]["parts"][1] == {
        "functionResponse": {"name": "lookup", "response": {"output": "ok"}}
    }
    with pytest.raises(ConfigurationError, match="pairs results with calls by function name"):
        encode([HumanMessage("x"), ToolMessage("ok", tool_call_id="t")])


def test_a_message_signature_goes_back_on_the_text_or_an_empty_part() -> None:
    signed = {"extra_content": {"google": {"thought_signature": SIGNATURE}}}
    with_text = encode([HumanMessage("q"), AIMessage("Answer.", additional_kwargs=signed)])
    assert with_text["contents"][1]["parts"] == [{"text": "Answer.", "thoughtSignature": SIGNATURE}]
    no_text = encode([HumanMessage("q"), AIMessage("", additional_kwargs=signed)])
    assert no_text["contents"][1]["parts"] == [{"text": "", "thoughtSignature": SIGNATURE}]


def test_reasoning_goes_back_only_when_asked() -> None:
    answer = AIMessage("4", additional_kwargs={"reasoning_content": "2+2"})
    assert encode([HumanMessage("q"), answer])["contents"][1]["parts"] == [{"text": "4"}]
    parts = encode([HumanMessage("q"), answer], send_reasoning=True)["contents"][1]["parts"]
    assert parts == [{"text": "2+2", "thought": True}, {"text": "4"}]


def test_other_providers_signatures_are_not_replayed() -> None:
    """An Anthropic thinking signature means nothing to Gemini."""
    answer = AIMessage(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "anthropic-sig"},
            {"type": "text", "text": "ok"},
        ]
    )
    parts = encode([HumanMessage("q"), answer])["contents"][1]["parts"]
    assert parts == [{"text": "ok"}]


# --- request: tools and options -----------------------------------------------------------


def weather_tool(**parameters: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather.", "parameters": parameters},
    }


def test_tools_become_declarations_and_native_tools_pass_through() -> None:
    body = encode(
        [HumanMessage("x")],
        tools=[
            weather_tool(type="object", properties={"city": {"type": "string"}}, required=["city"]),
            {
                "type": "function",
                "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
            },
            {"googleSearch": {}},
        ],
    )
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather.",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                },
                {"name": "now"},
            ]
        },
        {"googleSearch": {}},
    ]


def test_a_schema_that_cannot_be_converted_is_sent_as_json_schema() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    [declaration] = encode([HumanMessage("x")], tools=[weather_tool(**tree)])["tools"][0][
        "functionDeclarations"
    ]
    assert "parameters" not in declaration
    assert declaration["parametersJsonSchema"] == {k: v for k, v in tree.items() if k != "$schema"}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("any", {"mode": "ANY"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    body = encode([HumanMessage("x")], tools=[weather_tool()], tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_generation_config_and_parallel_calls_not_sent() -> None:
    body = encode(
        [HumanMessage("x")],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_tokens=100,
        stop=["END"],
        seed=7,
        parallel_tool_calls=False,
        tools=[weather_tool()],
    )
    assert body["generationConfig"] == {
        "candidateCount": 1,
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "seed": 7,
    }
    assert "parallel_tool_calls" not in json.dumps(body)


@pytest.mark.parametrize(
    ("budget", "effort", "thinking"),
    [
        (1024, None, {"thinkingBudget": 1024, "includeThoughts": True}),
        (0, None, {"thinkingBudget": 0}),
        (None, "high", {"thinkingLevel": "HIGH", "includeThoughts": True}),
        (None, "none", {"thinkingBudget": 0}),
        # Gemini refuses a level and a budget together (-1, dynamic, is no budget).
        (-1, "low", {"thinkingLevel": "LOW", "includeThoughts": True}),
        (2048, "high", {"thinkingBudget": 2048, "includeThoughts": True}),
        (None, "max", {"thinkingLevel": "XHIGH", "includeThoughts": True}),
    ],
)
def test_thinking_config(budget: int | None, effort: str | None, thinking: dict[str, Any]) -> None:
    body = encode([HumanMessage("x")], thinking_budget=budget, reasoning_effort=effort)
    assert body["generationConfig"]["thinkingConfig"] == thinking


def test_structured_output_formats() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": schema, "strict": True},
    }
    config = encode([HumanMessage("x")], response_format=fmt)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}},
        "required": ["name"],
        "propertyOrdering": ["name"],
    }
    mode = encode([HumanMessage("x")], response_format={"type": "json_object"})
    assert mode["generationConfig"] == {"candidateCount": 1, "responseMimeType": "application/json"}
    mapping = {"type": "object", "additionalProperties": {"type": "integer"}}
    free = encode(
        [HumanMessage("x")],
        response_format={"type": "json_schema", "json_schema": {"name": "M", "schema": mapping}},
    )
    assert free["generationConfig"]["responseJsonSchema"] == mapping
    with pytest.raises(ConfigurationError, match="not supported by Gemini"):
        encode([HumanMessage("x")], response_format={"type": "regex"})


def test_extra_body_merges_dicts_appends_tools_and_passes_safety_settings() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    body = encode(
        [HumanMessage("x")],
        temperature=0.1,
        tools=[weather_tool()],
        extra_body={
            "generationConfig": {"responseModalities": ["TEXT"], "temperature": 0.3},
            "safetySettings": safety,
            "tools": [{"codeExecution": {}}],
            "cachedContent": "cachedContents/abc",
        },
    )
    assert body["generationConfig"] == {
        "candidateCount": 1,
        "temperature": 0.3,
        "responseModalities": ["TEXT"],
    }
    assert body["safetySettings"] == safety
    assert body["tools"][1:] == [{"codeExecution": {}}]
    assert body["cachedContent"] == "cachedContents/abc"


def test_paths_and_key_headers() -> None:
    assert (
        PROTOCOL.path("gemini-2.5-flash", stream=False)
        == "/models/gemini-2.5-flash:generateContent"
    )
    assert (
        PROTOCOL.path("models/gemini-2.0-flash", stream=True)
        == "/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    assert PROTOCOL.path("tunedModels/mine", stream=False) == "/tunedModels/mine:generateContent"
    assert PROTOCOL.auth_headers("AIzaKey") == {"x-goog-api-key": "AIzaKey"}
    assert PROTOCOL.auth_headers("ya29.token") == {"authorization": "Bearer ya29.token"}
    assert PROTOCOL.auth_headers(None) == {}


# --- responses --------------------------------------------------------------------------


def test_text_reasoning_and_identity() -> None:
    events = decode_stream(
        [
            candidate({"text": "Let me think.", "thought": True}),
            candidate({"text": "Hel"}),
            candidate({"text": "lo", "thoughtSignature": "sig-text"}, finish="STOP"),
        ]
    )
    assert [e.text for e in of(events, ReasoningDelta)] == ["Let me think."]
    assert [e.text for e in of(events, TextDelta)] == ["Hel", "lo"]
    assert of(events, ProviderState) == [
        ProviderState("extra_content", {"google": {"thought_signature": "sig-text"}})
    ]
    info = of(events, ResponseInfo)[-1]
    assert (info.id, info.model) == ("resp-1", "gemini-2.5-flash-001")
    assert of(events, Finish) == [Finish("stop", "STOP")]


def test_parallel_calls_in_one_chunk_each_get_an_index_and_an_id() -> None:
    events = decode_stream(
        [
            candidate(
                {"functionCall": {"name": "add", "args": {"a": 2}}, "thoughtSignature": "sig-1"},
                {"functionCall": {"name": "add", "args": {"a": 3}}},
                {"functionCall": {"name": "now"}},
                finish="STOP",
            )
        ]
    )
    deltas = of(events, ToolCallDelta)
    assert [(d.index, d.name) for d in deltas] == [(0, "add"), (1, "add"), (2, "now")]
    assert all(d.id and d.id.startswith("call_") for d in deltas)
    assert len({d.id for d in deltas}) == 3
    done = of(events, ToolCallDone)
    assert [(d.name, d.args) for d in done] == [("add", {"a": 2}), ("add", {"a": 3}), ("now", {})]
    assert [d.extras for d in done] == [{"google": {"thought_signature": "sig-1"}}, None, None]
    assert of(events, Finish) == [Finish("tool_calls", "STOP")]


def test_ids_gemini_gives_are_kept_and_marked() -> None:
    events = decode_stream(
        [candidate({"functionCall": {"name": "f", "args": {}, "id": "8hd01vsf"}}, finish="STOP")]
    )
    [done] = of(events, ToolCallDone)
    assert (done.id, done.extras) == ("8hd01vsf", {"native_id": True})


def test_streamed_arguments_are_assembled_into_one_call() -> None:
    """Vertex AI `partialArgs`: nested paths, list indexes, strings in pieces."""
    call = lambda **fields: candidate({"functionCall": fields})  # noqa: E731
    events = decode_stream(
        [
            call(name="plan", willContinue=True),
            call(
                partialArgs=[
                    {"jsonPath": "$.trip.city", "stringValue": "San ", "willContinue": True}
                ],
                willContinue=True,
            ),
            call(
                partialArgs=[{"jsonPath": "$.trip.city", "stringValue": "Jose"}], willContinue=True
            ),
            call(
                partialArgs=[
                    {"jsonPath": "$.days[1]", "numberValue": 3.0},
                    {"jsonPath": "$['late arrival']", "boolValue": True},
                    {"jsonPath": "$.note", "nullValue": "NULL_VALUE"},
                    {"jsonPath": "$.ratio", "numberValue": 0.5},
                ],
                willContinue=True,
            ),
            call(),
            candidate({"text": ""}, finish="STOP"),
        ]
    )
    [done] = of(events, ToolCallDone)
    assert done.name == "plan"
    assert done.args == {
        "trip": {"city": "San Jose"},
        "days": [None, 3],
        "late arrival": True,
        "note": None,
        "ratio": 0.5,
    }
    first = of(events, ToolCallDelta)[0]
    assert (first.name, first.args) == ("plan", "")


def test_usage_is_the_last_cumulative_value_once() -> None:
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 1, "totalTokenCount": 11}
    final = {
        "promptTokenCount": 100,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 64,
        "toolUsePromptTokenCount": 5,
        "totalTokenCount": 155,
    }
    events = decode_stream(
        [
            candidate({"text": "a"}, usageMetadata=usage),
            candidate({"text": "b"}, finish="STOP", usageMetadata=final),
        ]
    )
    assert of(events, Usage) == [
        Usage(
            input_tokens=105,
            output_tokens=50,
            total_tokens=155,
            cache_read=64,
            reasoning=30,
        )
    ]


def test_usage_without_token_counts_is_not_usage() -> None:
    events = decode_stream(
        [candidate({"text": "a"}, finish="STOP", usageMetadata={"trafficType": "ON_DEMAND"})]
    )
    assert of(events, Usage) == []


def snake(value: Any) -> Any:
    """camelCase keys made snake_case (what captured SDK requests and some proxies use)."""
    if isinstance(value, list):
        return [snake(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = "".join("_" + c.lower() if c.isupper() else c for c in key)
        out[name] = item if key == "args" else snake(item)
    return out


def test_snake_case_fields_decode_the_same() -> None:
    chunks = [
        candidate({"text": "Hmm", "thought": True}),
        candidate(
            {"functionCall": {"name": "f", "args": {"someArg": 1}}, "thoughtSignature": "s"},
            finish="MAX_TOKENS",
            usageMetadata={
                "promptTokenCount": 3,
                "candidatesTokenCount": 4,
                "thoughtsTokenCount": 5,
            },
        ),
    ]
    camel = decode_stream(chunks)
    snaked = decode_stream(snake(chunks))
    assert json.dumps(snake(chunks)).count("finish_reason") == 1

    def view(events: list[StreamEvent]) -> list[Any]:
        return [e for e in events if not isinstance(e, ToolCallDelta | ToolCallDone)] + [
            (d.name, d.args, d.extras) for d in of(events, ToolCallDone)
        ]

    assert view(snaked) == view(camel)
    assert of(camel, Finish) == [Finish("length", "MAX_TOKENS")]


@pytest.mark.parametrize(
    ("native", "finish"),
    [
        (1, Finish("stop", "STOP")),
        (2, Finish("length", "MAX_TOKENS")),
        ("SAFETY", Finish("content_filter", "SAFETY")),
        ("RECITATION", Finish("content_filter", "RECITATION")),
        ("PROHIBITED_CONTENT", Finish("content_filter", "PROHIBITED_CONTENT")),
        ("OTHER", Finish("OTHER", "OTHER")),
        (12, Finish("12", "12")),
    ],
)
def test_finish_reasons(native: Any, finish: Finish) -> None:
    events = decode_stream([candidate({"text": "x"}, finish=native)], json_array=True)
    assert of(events, Finish) == [finish]


def test_a_malformed_call_says_so_in_the_finish(caplog: pytest.LogCaptureFixture) -> None:
    message = "Malformed function call: print(default_api.f(x=))"
    chunk = candidate(finish="MALFORMED_FUNCTION_CALL")
    chunk["candidates"][0]["finishMessage"] = message
    with caplog.at_level(logging.WARNING, logger="langchain_bhumi"):
        events = decode_stream([chunk])
    assert of(events, Finish) == [Finish("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL")]
    assert of(events, ResponseInfo)[-1].extra == {"finish_message": message}
    assert message in caplog.text


@pytest.mark.parametrize("reason", ["SAFETY", 1])
def test_a_blocked_prompt_is_a_typed_error(reason: Any) -> None:
    blocked = {
        "promptFeedback": {"blockReason": reason, "blockReasonMessage": "unsafe"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
    }
    with pytest.raises(ContentBlockedError) as info:
        decode_stream([blocked])
    assert info.value.block_reason == "SAFETY"
    assert "blocked the prompt (SAFETY): unsafe" in str(info.value)
    assert isinstance(info.value, StreamErrorEvent)
    with pytest.raises(ContentBlockedError):
        PROTOCOL.decode_response(blocked)


def test_an_error_object_in_the_stream() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(StreamErrorEvent) as info:
        decode_stream([candidate({"text": "par"}), error])
    assert info.value.error_type == "UNAVAILABLE"
    assert "overloaded" in str(info.value)


def test_a_whole_response_and_a_whole_array_decode_alike() -> None:
    chunks = [candidate({"text": "a"}), candidate({"text": "b"}, finish="STOP")]
    whole = PROTOCOL.decode_response(chunks)
    assert [e.text for e in of(whole, TextDelta)] == ["a", "b"]
    assert of(whole, Finish) == [Finish("stop", "STOP")]
    with pytest.raises(InvalidStreamDataError):
        PROTOCOL.decode_response(["not a chunk"])


# --- where a stream ends ------------------------------------------------------------------


def test_an_sse_stream_without_a_finish_reason_was_cut() -> None:
    with pytest.raises(StreamCutError, match="before a finishReason"):
        decode_stream([candidate({"text": "Hel"})])


def test_an_empty_body_was_cut() -> None:
    decoder = PROTOCOL.stream_decoder()
    decoder.new_framer("text/event-stream")
    with pytest.raises(StreamCutError, match="without sending a single chunk"):
        decoder.close()


def test_a_json_array_ends_with_its_bracket() -> None:
    """The closing `]` is an end marker: a finishReason is then not required; a body
    without it was cut even after a finishReason."""
    events = decode_stream([candidate({"text": "a"})], json_array=True)
    assert [e.text for e in of(events, TextDelta)] == ["a"]
    decoder = PROTOCOL.stream_decoder()
    framer = decoder.new_framer("application/json")
    decoder.feed(framer.feed(("[" + json.dumps(candidate({"text": "a"}, finish="STOP"))).encode()))
    assert framer.flush() == ([], True)
    with pytest.raises(StreamCutError, match="closing"):
        decoder.close()
