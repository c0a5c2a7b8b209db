"""The Gemini format, server direction: what the proxy's Gemini frontend reads and sends.

A Gemini client (gemini-cli, google-genai) sends `generateContent` bodies and reads
`GenerateContentResponse` chunks. These tests decode such bodies into LangChain messages,
encode normalized events into chunks, and check both against our own client direction
(`GeminiProtocol`), which has its own tests against real Gemini streams: what the server
side writes, the client side must read back unchanged, however the bytes are split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi.core.errors import StreamErrorEvent
from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.protocols.anthropic.client import AnthropicProtocol
from langchain_bhumi.protocols.base import ChatRequest, IncomingRequest, RequestDecodeError
from langchain_bhumi.protocols.gemini.client import GeminiProtocol
from langchain_bhumi.protocols.gemini.schema import from_gemini_schema, to_gemini_schema
from langchain_bhumi.protocols.gemini.server import (
    GeminiIncomingRequest,
    GeminiServer,
    encode_usage,
)
from langchain_bhumi.protocols.openai_chat.client import OpenAIChatProtocol
from tests.support.server import Scripted, ScriptedServer

SERVER = GeminiServer()
CLIENT = GeminiProtocol()
SIG = "c2lnbmF0dXJl"


def decode(body: dict[str, Any], **kwargs: Any) -> GeminiIncomingRequest:
    return SERVER.decode_request(body, model=kwargs.pop("model", "gemini-2.5-pro"), **kwargs)


def for_gemini(request: IncomingRequest) -> ChatRequest:
    """The request a Gemini backend gets (the client's Gemini-only fields kept)."""
    return SERVER.backend_request(request, CLIENT, "gemini-2.5-pro")


def gemini_extras(request: IncomingRequest) -> dict[str, Any]:
    """What only a Gemini backend gets, besides `contents` and `systemInstruction`
    (which it gets exactly as the client sent them)."""
    extra = request.native["extra_body"]
    return {k: v for k, v in extra.items() if k not in ("contents", "systemInstruction")}


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def call(name: str, args: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    function_call: dict[str, Any] = {"name": name, "args": args or {}}
    if "id" in extra:
        function_call["id"] = extra.pop("id")
    return {"functionCall": function_call, **extra}


def result(name: str, response: Any, **extra: Any) -> dict[str, Any]:
    return {"functionResponse": {"name": name, "response": response, **extra}}


def tool_pairs(messages: Sequence[BaseMessage]) -> list[tuple[str, dict[str, Any], Any]]:
    """(call name, call args, result content) for every ToolMessage, via its call id."""
    calls = {c["id"]: c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    return [
        (calls[m.tool_call_id]["name"], calls[m.tool_call_id]["args"], m.content)
        for m in messages
        if isinstance(m, ToolMessage)
    ]


def encoder(
    *, sse: bool = True, include_thoughts: bool = True, name: str = "gemini-2.5-pro"
) -> Any:
    chat = ChatRequest(model=name, messages=[])
    request = GeminiIncomingRequest(chat, sse=sse, include_thoughts=include_thoughts)
    return SERVER.response_encoder(request, response_id="resp-1")


def stream(batches: list[list[StreamEvent]], **kwargs: Any) -> tuple[bytes, str]:
    """The whole streamed body for these event batches, and its media type."""
    enc = encoder(**kwargs)
    body = enc.start() + b"".join(enc.encode(batch) for batch in batches) + enc.finish()
    return body, enc.media_type


def chunks_of(body: bytes, media_type: str) -> list[dict[str, Any]]:
    """Parse a body the strict way: every SSE event is `data: <json>` + CRLF CRLF, or
    the whole body is one JSON array."""
    if media_type.startswith("application/json"):
        parsed = json.loads(body)
        assert isinstance(parsed, list)
        return parsed
    assert media_type == "text/event-stream"
    events = body.split(b"\r\n\r\n")
    assert events[-1] == b""
    out = []
    for event in events[:-1]:
        assert event.startswith(b"data: ")
        out.append(json.loads(event[6:]))
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def client_read(
    body: bytes, media_type: str, cuts: tuple[int, ...] | list[int] = ()
) -> list[StreamEvent]:
    """What our client direction decodes from these bytes, read in pieces."""
    decoder = CLIENT.stream_decoder()
    framer = decoder.new_framer(media_type)
    events: list[StreamEvent] = []
    for piece in split(body, list(cuts)):
        events += decoder.feed(framer.feed(piece))
    tail, unterminated = framer.flush()
    assert not unterminated
    events += decoder.feed(tail)
    events += decoder.close()
    return events


def summary(events: list[StreamEvent]) -> dict[str, Any]:
    """What a user of the answer sees: text, reasoning, calls, usage, finish."""
    usage = [e for e in events if isinstance(e, Usage)]
    finish = [e.reason for e in events if isinstance(e, Finish)]
    return {
        "text": "".join(e.text for e in events if isinstance(e, TextDelta)),
        "reasoning": "".join(e.text for e in events if isinstance(e, ReasoningDelta)),
        "calls": [(e.id, e.name, e.args) for e in events if isinstance(e, ToolCallDone)],
        "usage": [
            (u.input_tokens, u.output_tokens, u.total_tokens, u.cache_read, u.reasoning)
            for u in usage
        ],
        "finish": finish,
    }


# --- decoding requests -------------------------------------------------------------------


CAMEL = {
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        user(
            {"text": "Weather in Paris?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        ),
        model(call("get_weather", {"city": "Paris"}, thoughtSignature=SIG)),
        user(result("get_weather", {"output": "sunny"})),
    ],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ],
    "toolConfig": {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    },
    "generationConfig": {
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "candidateCount": 1,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    },
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}
SNAKE = {
    "system_instruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        user(
            {"text": "Weather in Paris?"},
            {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}},
        ),
        model(
            {
                "function_call": {"name": "get_weather", "args": {"city": "Paris"}},
                "thought_signature": SIG,
            }
        ),
        user({"function_response": {"name": "get_weather", "response": {"output": "sunny"}}}),
    ],
    "tools": [
        {
            "function_declarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ],
    "tool_config": {
        "function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_weather"]}
    },
    "generation_config": {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "max_output_tokens": 256,
        "stop_sequences": ["END"],
        "candidate_count": 1,
        "thinking_config": {"thinking_budget": 1024, "include_thoughts": True},
    },
    "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}


def test_camel_and_snake_case_bodies_decode_the_same() -> None:
    """google-genai sends camelCase, hand-written clients often snake_case: both are the
    same request, down to the extras forwarded to a Gemini backend."""
    camel, snake = decode(CAMEL, stream=True), decode(SNAKE, stream=True)
    assert camel.chat.messages == snake.chat.messages
    assert gemini_extras(camel) == gemini_extras(snake)
    chat = camel.chat
    assert (chat.model, chat.stream, chat.temperature, chat.top_p, chat.top_k) == (
        "gemini-2.5-pro", True, 0.2, 0.9, 40,
    )  # fmt: skip
    assert (chat.max_tokens, chat.stop, chat.thinking_budget) == (256, ["END"], 1024)
    assert chat.tool_choice == snake.chat.tool_choice == "get_weather"
    assert chat.tools == snake.chat.tools
    assert camel.include_thoughts and snake.include_thoughts
    assert gemini_extras(camel)["safetySettings"] == CAMEL["safetySettings"]
    system, human, ai, tool = chat.messages
    assert system == SystemMessage(content="Be brief.")
    assert human.content == [
        {"type": "text", "text": "Weather in Paris?"},
        {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"},
    ]
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["args"] == {"city": "Paris"}
    assert isinstance(tool, ToolMessage)
    assert (tool.content, tool.tool_call_id, tool.name) == (
        "sunny",
        ai.tool_calls[0]["id"],
        "get_weather",
    )


def test_every_part_kind_becomes_the_matching_block() -> None:
    body = {
        "contents": [
            user(
                {"text": "Compare these."},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGR"}},
                {"fileData": {"fileUri": "gs://bucket/report.pdf", "mimeType": "application/pdf"}},
                {"fileData": {"fileUri": "https://youtu.be/x", "mimeType": "video/mp4"}},
            ),
            model(
                {"text": "Let me think", "thought": True},
                {"text": " step by step.", "thought": True, "thoughtSignature": "sig-thought"},
                {"text": "Here is "},
                {"text": "code:", "thoughtSignature": "sig-text"},
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
            ),
        ]
    }
    human, ai = decode(body).chat.messages
    assert human.content == [
        {"type": "text", "text": "Compare these."},
        {"type": "audio", "base64": "UklGR", "mime_type": "audio/wav"},
        {"type": "file", "url": "gs://bucket/report.pdf", "mime_type": "application/pdf"},
        {"type": "video", "url": "https://youtu.be/x", "mime_type": "video/mp4"},
    ]
    assert ai.content == [
        {
            "type": "reasoning",
            "reasoning": "Let me think step by step.",
            "extras": {"signature": "sig-thought"},
        },
        {"type": "text", "text": "Here is "},
        {"type": "text", "text": "code:"},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
        {"type": "image", "base64": "iVBOR", "mime_type": "image/png"},
    ]
    # The first non-call signature is the message's, where the client direction reads it.
    assert ai.additional_kwargs["extra_content"] == {"google": {"thought_signature": "sig-thought"}}


def test_plain_model_text_is_one_string_and_thoughts_in_user_turns_are_dropped() -> None:
    body = {
        "contents": [
            user({"text": "hi"}, {"text": "ignored?", "thought": True}),
            model({"text": "Hel"}, {"text": "lo"}),
            {"role": "model", "parts": [{"text": "!"}]},  # SDKs record one content per chunk
        ]
    }
    human, ai = decode(body).chat.messages
    assert human == HumanMessage(content="hi")
    # Marked as Gemini's, so no other format's encoder trusts its thought signatures.
    assert ai == AIMessage(content="Hello!", response_metadata={"wire_format": "gemini"})


def test_responses_pair_by_name_and_position_across_rounds() -> None:
    """Round 1 has parallel calls, two to the same function; the client answers them in
    another order. Round 2 has one call. Each result reaches the call it answers."""
    body = {
        "contents": [
            user({"text": "Weather in Paris and Rome, and the time?"}),
            model(
                call("get_weather", {"city": "Paris"}),
                call("get_time", {"tz": "CET"}),
                call("get_weather", {"city": "Rome"}),
            ),
            user(
                result("get_time", {"output": "12:00"}),
                result("get_weather", {"output": "sunny"}),
                result("get_weather", {"output": "rainy"}),
            ),
            model(
                {"text": "Paris sunny, Rome rainy. Tomorrow?"},
                call("get_weather", {"city": "Paris", "day": 1}),
            ),
            user(result("get_weather", {"temp": 21})),
            model({"text": "21 degrees."}),
        ]
    }
    messages = decode(body).chat.messages
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage", "AIMessage", "ToolMessage", "ToolMessage", "ToolMessage",
        "AIMessage", "ToolMessage", "AIMessage",
    ]  # fmt: skip
    # ToolMessages follow their calls' order (what OpenAI and Anthropic backends need).
    assert tool_pairs(messages) == [
        ("get_weather", {"city": "Paris"}, "sunny"),
        ("get_time", {"tz": "CET"}, "12:00"),
        ("get_weather", {"city": "Rome"}, "rainy"),
        ("get_weather", {"city": "Paris", "day": 1}, '{"temp": 21}'),
    ]
    ids = [c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    assert len(set(ids)) == 4


def test_response_ids_pair_exactly_and_unknown_ids_fall_back_to_name() -> None:
    """Calls sent with ids (this frontend always sends them) are answered by id, in any
    order; gemini-cli answers calls that had no id with ids of its own, which match
    nothing: those pair by name and position."""
    body = {
        "contents": [
            user({"text": "go"}),
            model(call("read", {"path": "a"}, id="c-a"), call("read", {"path": "b"}, id="c-b")),
            user(
                result("read", {"output": "B"}, id="c-b"),
                result("read", {"output": "A"}, id="c-a"),
            ),
            model(call("read", {"path": "c"}), call("read", {"path": "d"})),
            user(
                result("read", {"output": "C"}, id="read-1700000000-1f"),
                result("read", {"output": "D"}, id="read-1700000000-2e"),
            ),
        ]
    }
    messages = decode(body).chat.messages
    assert tool_pairs(messages) == [
        ("read", {"path": "a"}, "A"),
        ("read", {"path": "b"}, "B"),
        ("read", {"path": "c"}, "C"),
        ("read", {"path": "d"}, "D"),
    ]
    first_ai = messages[1]
    assert isinstance(first_ai, AIMessage)
    assert [c["id"] for c in first_ai.tool_calls] == ["c-a", "c-b"]


def test_positional_ids_are_deterministic_unique_and_stable_as_history_grows() -> None:
    turn_1 = [user({"text": "go"}), model(call("f"), call("f"))]
    turn_2 = [user(result("f", {}), result("f", {})), model(call("f", id="call_1_0"))]
    short = decode({"contents": turn_1}).chat.messages
    long = decode({"contents": turn_1 + turn_2 + [user(result("f", {}))]}).chat.messages
    again = decode({"contents": turn_1 + turn_2 + [user(result("f", {}))]}).chat.messages
    assert long == again
    ids = [[c["id"] for c in m.tool_calls] for m in long if isinstance(m, AIMessage)]
    assert ids[0] == [c["id"] for c in short[1].tool_calls]  # type: ignore[attr-defined]
    # A client id that repeats one already used gets a fresh id: backends want them unique.
    assert len({i for group in ids for i in group}) == 3
    assert [m.tool_call_id for m in long if isinstance(m, ToolMessage)] == [*ids[0], *ids[1]]


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ([user({"text": "hi"}), user(result("f", {}))], "must follow a model turn"),
        (
            [user({"text": "x"}), model(call("f")), user(result("g", {}))],
            "cannot pair functionResponse 'g'",
        ),
        (
            [user({"text": "x"}), model(call("f")), user(result("f", {}), result("f", {}))],
            "cannot pair functionResponse 'f'",
        ),
        (
            [
                user({"text": "x"}),
                model(call("f", id="1"), call("g")),
                user(result("g", {}, id="1")),
            ],
            "has the id of a call to 'f'",
        ),
        (
            [
                user({"text": "x"}),
                model(call("f"), call("g")),
                user({"functionResponse": {"response": {}}}),
            ],
            "cannot pair functionResponse None",
        ),
    ],
)
def test_a_response_that_answers_no_call_is_refused(contents: list[Any], message: str) -> None:
    """Never a silently wrong pairing: the client gets a 400 that says what is wrong."""
    with pytest.raises(RequestDecodeError, match=message):
        decode({"contents": contents})


def test_a_nameless_response_pairs_when_only_one_call_waits() -> None:
    contents = [
        user({"text": "x"}),
        model(call("f")),
        user({"functionResponse": {"response": {"output": "ok"}}}),
    ]
    assert tool_pairs(decode({"contents": contents}).chat.messages) == [("f", {}, "ok")]


@pytest.mark.parametrize(
    ("response", "content", "status"),
    [
        ({"output": "sunny"}, "sunny", "success"),
        ({"error": "file not found"}, "file not found", "error"),
        ({"output": [1, 2]}, "[1, 2]", "success"),
        ({"temp": 21, "unit": "C"}, '{"temp": 21, "unit": "C"}', "success"),
        ({"output": "x", "extra": 1}, '{"output": "x", "extra": 1}', "success"),
        (None, "{}", "success"),
    ],
)
def test_tool_results_become_tool_message_content(response: Any, content: str, status: str) -> None:
    contents = [user({"text": "x"}), model(call("f")), user(result("f", response))]
    tool = decode({"contents": contents}).chat.messages[-1]
    assert isinstance(tool, ToolMessage)
    assert (tool.content, tool.status) == (content, status)


def test_multimodal_results_and_trailing_user_parts() -> None:
    """gemini-cli sends a file it read as the result plus an image; a user turn may
    carry text after the results: the ToolMessage comes first, then the HumanMessage."""
    contents = [
        user({"text": "x"}),
        model(call("read_file", {"path": "a.png"})),
        user(
            {"text": "Also this."},
            {
                "functionResponse": {
                    "name": "read_file",
                    "response": {"output": "binary"},
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}],
                }
            },
        ),
    ]
    *_, tool, human = decode({"contents": contents}).chat.messages
    assert isinstance(tool, ToolMessage)
    assert tool.content == [
        {"type": "text", "text": "binary"},
        {"type": "image", "base64": "iVBOR", "mime_type": "image/png"},
    ]
    assert human == HumanMessage(content="Also this.")


def test_signatures_and_ids_replay_to_a_gemini_backend_as_the_client_sent_them() -> None:
    """Gemini 3 refuses a function call whose thought signature is missing: a history
    decoded here and encoded for a Gemini backend must carry every signature on the same
    part, and send back the ids the client sent (and no invented ones)."""
    contents = [
        user({"text": "Weather?"}),
        model(
            {"text": "Checking.", "thoughtSignature": "sig-text"},
            call("get_weather", {"city": "Paris"}, id="fc-1", thoughtSignature="sig-1"),
            call("get_weather", {"city": "Rome"}, id="fc-2"),
        ),
        user(
            result("get_weather", {"output": "sunny"}, id="fc-1"),
            result("get_weather", {"output": "rainy"}, id="fc-2"),
        ),
        model(call("get_time", thoughtSignature="sig-2")),
        user(result("get_time", {"output": "noon"})),
    ]
    messages = decode({"contents": contents}).chat.messages
    replayed = CLIENT.encode_request(ChatRequest(model="gemini-3-pro", messages=messages))
    assert replayed["contents"] == contents


def test_tool_declarations_become_json_schema_tools() -> None:
    declarations: list[dict[str, Any]] = [
        {
            "name": "search",
            "description": "Search the web",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "query": {"type": "STRING", "description": "What to look for"},
                    "limit": {"type": "INTEGER", "nullable": True, "minimum": 1},
                    "kind": {"type": "STRING", "format": "enum", "enum": ["news", "images"]},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "5"},
                },
                "required": ["query"],
                "propertyOrdering": ["query", "limit", "kind", "tags"],
            },
        },
        {"name": "now"},
        {
            "name": "lookup",
            "parametersJsonSchema": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    ]
    body = {
        "contents": [user({"text": "x"})],
        "tools": [
            {"functionDeclarations": declarations, "googleSearch": {}},
            {"code_execution": {}},
        ],
    }
    request = decode(body)
    assert request.chat.tools == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to look for"},
                        "limit": {"type": ["integer", "null"], "minimum": 1},
                        "kind": {"type": "string", "enum": ["news", "images"]},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                    },
                    "required": ["query"],
                },
            },
        },
        {
            "type": "function",
            "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
        },
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    ]
    # A Gemini backend gets the declarations as given (each schema in its own flavour),
    # and the native tools, which other formats lack.
    assert CLIENT.encode_request(for_gemini(request))["tools"] == [
        {"functionDeclarations": declarations},
        {"googleSearch": {}},
        {"codeExecution": {}},
    ]
    assert request.dropped_elsewhere == ["tools[0].googleSearch", "tools[1].codeExecution"]


def test_schema_types_sent_as_enum_numbers_are_not_a_shape_error() -> None:
    """Gemini's `Schema` is a protobuf message: clients such as langchaingo send `type` as
    the enum's number (6 is OBJECT), which the field checks must let through; a list of
    objects there is still a 400 that names the field."""
    schema = {"type": 6, "properties": {"q": {"type": 1}}, "required": ["q"]}
    body = {
        "contents": [user({"text": "x"})],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": schema}]}],
    }
    assert decode(body).chat.tools is not None
    schema["type"] = [{}]
    with pytest.raises(RequestDecodeError, match=r"functionDeclarations\[0\]\.parameters\.type"):
        decode(body)


def test_schema_conversion_round_trips_both_ways() -> None:
    gemini = {
        "type": "OBJECT",
        "description": "A person",
        "properties": {
            "name": {"type": "STRING", "nullable": True},
            "mood": {"type": "STRING", "format": "enum", "enum": ["ok", "meh"], "nullable": True},
            "pets": {
                "type": "ARRAY",
                "items": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
            },
            "when": {"type": "STRING", "format": "date-time", "example": "2025-01-01"},
        },
        "required": ["name"],
    }
    json_schema = from_gemini_schema(gemini)
    assert json_schema["properties"]["mood"] == {
        "type": ["string", "null"],
        "enum": ["ok", "meh", None],
    }
    assert json_schema["properties"]["when"]["examples"] == ["2025-01-01"]
    del gemini["properties"]["when"]["example"]  # type: ignore[index]
    assert to_gemini_schema(json_schema) == gemini
    assert from_gemini_schema({"anyOf": [{"type": "STRING"}], "nullable": True}) == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }


@pytest.mark.parametrize(
    ("config", "choice", "names"),
    [
        ({"mode": "AUTO"}, "auto", ["a", "b", "c"]),
        ({"mode": "ANY"}, "required", ["a", "b", "c"]),
        ({"mode": "any"}, "required", ["a", "b", "c"]),
        ({"mode": "NONE"}, "none", ["a", "b", "c"]),
        ({"mode": "ANY", "allowedFunctionNames": ["b"]}, "b", ["a", "b", "c"]),
        ({"mode": "ANY", "allowedFunctionNames": ["a", "c"]}, "required", ["a", "c"]),
        ({"mode": "AUTO", "allowedFunctionNames": ["a", "c"]}, "auto", ["a", "c"]),
        ({"mode": "AUTO", "allowedFunctionNames": ["b"]}, "auto", ["b"]),
        ({"mode": "VALIDATED"}, "auto", ["a", "b", "c"]),
        ({"mode": "VALIDATED", "allowedFunctionNames": ["c"]}, "auto", ["c"]),
        ({"mode": "NONE", "allowedFunctionNames": ["c"]}, "none", ["a", "b", "c"]),
        ({"mode": "MODE_UNSPECIFIED"}, None, ["a", "b", "c"]),
        ({}, None, ["a", "b", "c"]),
        ({"mode": "ANY", "allowed_function_names": ["a", "b"]}, "required", ["a", "b"]),
    ],
)
def test_function_calling_config_becomes_tool_choice(
    config: dict[str, Any], choice: str | None, names: list[str]
) -> None:
    body = {
        "contents": [user({"text": "x"})],
        "tools": [{"functionDeclarations": [{"name": n} for n in "abc"]}],
        "toolConfig": {"functionCallingConfig": config},
    }
    request = decode(body)
    chat = request.chat
    assert chat.tool_choice == choice
    # Other formats: the allowed functions are the ones offered (the same choice).
    assert [t["function"]["name"] for t in chat.tools or []] == names
    # A Gemini backend gets the config as sent, in camelCase (no field twice).
    camel = {
        "allowedFunctionNames" if k == "allowed_function_names" else k: v for k, v in config.items()
    }
    assert CLIENT.encode_request(for_gemini(request))["toolConfig"] == {
        "functionCallingConfig": camel
    }


@pytest.mark.parametrize(
    ("config", "fields", "extra"),
    [
        (
            {"seed": 7, "presencePenalty": 0.5, "frequency_penalty": 0.25},
            {"seed": 7, "presence_penalty": 0.5, "frequency_penalty": 0.25},
            {},
        ),
        (
            {"responseMimeType": "application/json"},
            {"response_format": {"type": "json_object"}},
            {"generationConfig": {"responseMimeType": "application/json"}},
        ),
        (
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}},
            },
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "response",
                        "schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
                    },
                }
            },
            {  # a Gemini backend gets the schema in the client's flavour
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}},
                }
            },
        ),
        (
            {
                "response_mime_type": "application/json",
                "response_json_schema": {"type": "object", "$defs": {}},
            },
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": {"type": "object", "$defs": {}}},
                }
            },
            {
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseJsonSchema": {"type": "object", "$defs": {}},
                }
            },
        ),
        (
            {
                "responseMimeType": "text/x.enum",
                "responseSchema": {"type": "STRING", "enum": ["a"]},
            },
            {"response_format": None},
            {
                "generationConfig": {
                    "responseMimeType": "text/x.enum",
                    "responseSchema": {"type": "STRING", "enum": ["a"]},
                }
            },
        ),
        (
            {"thinkingConfig": {"thinkingBudget": -1, "includeThoughts": True}},
            {"thinking_budget": None, "reasoning_effort": None},
            {
                "generationConfig": {
                    "thinkingConfig": {"thinkingBudget": -1, "includeThoughts": True}
                }
            },
        ),
        (
            {"thinking_config": {"thinking_level": "LOW"}},
            {"reasoning_effort": "low", "thinking_budget": None},
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
        ),
        (
            {"thinkingConfig": {"thinkingBudget": 0}},
            {"thinking_budget": 0},
            {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
        ),
    ],
)
def test_generation_config_mapping(
    config: dict[str, Any], fields: dict[str, Any], extra: dict[str, Any]
) -> None:
    request = decode({"contents": [user({"text": "x"})], "generationConfig": config})
    assert {k: getattr(request.chat, k) for k in fields} == fields
    assert gemini_extras(request) == extra
    assert request.include_thoughts is bool(config.get("thinkingConfig", {}).get("includeThoughts"))


def test_unknown_fields_go_to_extra_body_in_camel_case() -> None:
    body = {
        "contents": [user({"text": "x"})],
        "cached_content": "cachedContents/abc",
        "labels": {"team": "a"},
        "generationConfig": {"response_modalities": ["TEXT"]},
    }
    request = decode(body)
    assert gemini_extras(request) == {
        "cachedContent": "cachedContents/abc",
        "labels": {"team": "a"},
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
    sent = CLIENT.encode_request(for_gemini(request))
    assert sent["cachedContent"] == "cachedContents/abc"
    assert sent["generationConfig"]["responseModalities"] == ["TEXT"]


@pytest.mark.parametrize(
    ("instruction", "texts"),
    [
        ({"role": "system"}, []),
        ({"parts": None}, []),
        ({"role": "user", "parts": [{"text": "A"}, {"text": "B"}]}, ["A", "B"]),
        ({"parts": {"text": "A"}}, ["A"]),
        (
            {"parts": [{"text": "A"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]},
            ["A"],
        ),
        ({"text": "A"}, ["A"]),
        ("A", ["A"]),
        (["A", {"text": "B"}], ["A", "B"]),
    ],
)
def test_system_instruction_in_every_shape(instruction: Any, texts: list[str]) -> None:
    request = decode({"contents": [user({"text": "x"})], "systemInstruction": instruction})
    messages = request.chat.messages
    # Other formats: one system text, one part a line.
    expected = [SystemMessage("\n".join(texts))] if texts else []
    assert messages[: len(expected)] == expected
    assert len(messages) == len(expected) + 1
    # A Gemini backend: the content as sent.
    sent = CLIENT.encode_request(for_gemini(request))
    if isinstance(instruction, dict) and "text" not in instruction:
        assert sent["systemInstruction"] == instruction
    elif texts:  # a shorthand: the one system text
        assert sent["systemInstruction"] == {"parts": [{"text": "\n".join(texts)}]}


def test_a_gemini_backend_gets_contents_exactly_as_sent() -> None:
    """Per-part thought signatures, multimodal function responses, video clips and part
    resolutions: what LangChain messages cannot hold reaches a Gemini backend anyway."""
    contents = [
        user(
            {"text": "Describe", "partMetadata": {"k": "v"}},
            {
                "fileData": {"fileUri": "https://youtu.be/x", "mimeType": "video/mp4"},
                "videoMetadata": {"startOffset": "1s", "endOffset": "5s"},
            },
            {
                "inlineData": {"mimeType": "application/pdf", "data": "JVBER"},
                "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"},
            },
        ),
        model(
            {"text": "Thinking", "thought": True, "thoughtSignature": "c2lnMQ=="},
            {"text": "Looking.", "thoughtSignature": "c2lnMg=="},
            call("shot", {}, id="fc_1", thoughtSignature="c2lnMw=="),
        ),
        user(
            {
                "functionResponse": {
                    "id": "fc_1",
                    "name": "shot",
                    "response": {"output": "ok"},
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}],
                }
            }
        ),
    ]
    request = decode(
        {"contents": contents, "tools": [{"functionDeclarations": [{"name": "shot"}]}]}
    )
    assert CLIENT.encode_request(for_gemini(request))["contents"] == contents


@pytest.mark.parametrize(
    ("body", "field", "sent"),
    [
        (
            {"cachedContent": "cachedContents/abc"},
            "cachedContent",
            {"cachedContent": "cachedContents/abc"},
        ),
        (
            {"cached_content": "cachedContents/abc"},
            "cachedContent",
            {"cachedContent": "cachedContents/abc"},
        ),
        (
            {"generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}},
            "generationConfig",
            {"generationConfig": {"candidateCount": 1, "responseModalities": ["TEXT", "IMAGE"]}},
        ),
        (
            {"generationConfig": {"response_modalities": ["AUDIO"]}},
            "generationConfig",
            {"generationConfig": {"candidateCount": 1, "responseModalities": ["AUDIO"]}},
        ),
        (
            {"generationConfig": {"responseFormat": [{"image": {}}]}},
            "generationConfig",
            {"generationConfig": {"candidateCount": 1, "responseFormat": [{"image": {}}]}},
        ),
    ],
)
def test_what_only_a_gemini_backend_can_honour_is_refused_elsewhere(
    body: dict[str, Any], field: str, sent: dict[str, Any]
) -> None:
    request = decode({"contents": [user({"text": "x"})], **body})
    assert set(request.same_format_only) == {field}
    with pytest.raises(RequestDecodeError, match=field):
        SERVER.backend_request(request, OpenAIChatProtocol(), "gpt-5")
    got = CLIENT.encode_request(for_gemini(request))  # a Gemini backend gets it
    assert {k: got[k] for k in sent} == sent


def test_a_response_schema_reaches_gemini_as_given_and_others_as_json_schema() -> None:
    """gemini-cli's routing calls send `responseJsonSchema` with Gemini's upper-case types."""
    schema = {"type": "OBJECT", "properties": {"score": {"type": "INTEGER"}}}
    config = {"responseMimeType": "application/json", "responseJsonSchema": schema}
    request = decode({"contents": [user({"text": "x"})], "generationConfig": config})
    assert request.chat.response_format == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "properties": {"score": {"type": "integer"}}},
        },
    }
    sent = CLIENT.encode_request(for_gemini(request))["generationConfig"]
    assert {k: sent[k] for k in config} == config
    assert "responseSchema" not in sent


def test_text_answers_and_ordinary_files_are_fine_everywhere() -> None:
    body = {
        "contents": [
            user(
                {"text": "x"},
                {"fileData": {"fileUri": "https://x.test/a.pdf", "mimeType": "application/pdf"}},
            )
        ],
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
    assert decode(body).same_format_only == {}


@pytest.mark.parametrize(
    "uri",
    ["https://generativelanguage.googleapis.com/v1beta/files/abc", "gs://bucket/report.pdf"],
)
def test_files_only_gemini_can_read_are_refused_elsewhere(uri: str) -> None:
    part = {"fileData": {"fileUri": uri, "mimeType": "application/pdf"}}
    request = decode({"contents": [user({"text": "x"}, part)]})
    assert request.same_format_only == {
        "contents[0].parts[1]": f"{uri} is readable only with Gemini's key"
    }
    with pytest.raises(RequestDecodeError, match="readable only with Gemini's key"):
        SERVER.backend_request(request, AnthropicProtocol(), "claude-opus-4-6")


def test_what_other_formats_lack_is_named() -> None:
    body = {
        "contents": [user({"text": "x"})],
        "tools": [{"functionDeclarations": [{"name": "f"}], "googleSearch": {}}],
        "toolConfig": {
            "functionCallingConfig": {"mode": "VALIDATED"},
            "retrievalConfig": {"languageCode": "en"},
        },
        "generationConfig": {
            "mediaResolution": "MEDIA_RESOLUTION_LOW",
            "responseLogprobs": True,
            "logprobs": 2,
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "labels": {"team": "a"},
    }
    assert decode(body).dropped_elsewhere == [
        "tools[0].googleSearch",
        "toolConfig.retrievalConfig",
        "functionCallingConfig mode VALIDATED (sent as AUTO)",
        "generationConfig.mediaResolution",
        "generationConfig.responseLogprobs",
        "generationConfig.logprobs",
        "safetySettings",
        "labels",
    ]


def test_model_stream_and_framing_come_from_the_url() -> None:
    request = decode(
        {"contents": [user({"text": "x"})]}, model="models/gemini-flash", stream=True, sse=False
    )
    assert (request.chat.model, request.chat.stream, request.sse) == ("gemini-flash", True, False)
    assert isinstance(request, IncomingRequest) and request.include_usage
    assert decode({"contents": [user({"text": "x"})]}).chat.stream is False


def test_a_count_tokens_body_wraps_the_request() -> None:
    body = {"generateContentRequest": {"model": "models/g", "contents": [user({"text": "hi"})]}}
    assert SERVER.decode_request(body).chat.messages == [HumanMessage(content="hi")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'contents' must be a non-empty list"),
        ({"contents": {"parts": []}}, "'contents' must be a non-empty list"),
        ({"contents": ["hi"]}, r"contents\[0\] must be an object"),
        (
            {"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
            "role must be 'user' or 'model'",
        ),
        (
            {"contents": [{"role": "user", "parts": {"text": "x"}}]},
            r"contents\[0\].parts must be a list",
        ),
        ({"contents": [user("x")]}, r"parts\[0\] must be an object"),  # type: ignore[arg-type]
        ({"contents": [user(call("f"))]}, "functionCall belongs in a model turn"),
        ({"contents": [model(result("f", {}))]}, "functionResponse belongs in a user turn"),
        ({"contents": [model({"functionCall": {"args": {}}})]}, "needs a 'name'"),
        (
            {"contents": [model({"functionCall": {"name": "f", "args": "{}"}})]},
            "args must be an object",
        ),
        ({"contents": [user({"inlineData": {"mimeType": "image/png"}})]}, "needs base64 'data'"),
        ({"contents": [user({"fileData": {}})]}, "needs a 'fileUri'"),
        (
            {"contents": [user({"text": "x"})], "generationConfig": {"candidateCount": 2}},
            "candidateCount 1",
        ),
        (
            {"contents": [user({"text": "x"})], "generationConfig": {"temperature": "hot"}},
            "temperature must be a number",
        ),
        (
            {"contents": [user({"text": "x"})], "generationConfig": {"stopSequences": [1]}},
            "stopSequences",
        ),
        (
            {"contents": [user({"text": "x"})], "generationConfig": []},
            "'generationConfig' must be an object",
        ),
        (
            {"contents": [user({"text": "x"})], "tools": {"functionDeclarations": []}},
            "'tools' must be a list",
        ),
        (
            {
                "contents": [user({"text": "x"})],
                "tools": [{"functionDeclarations": [{"description": "?"}]}],
            },
            "needs a 'name'",
        ),
        (
            {
                "contents": [user({"text": "x"})],
                "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}},
            },
            "unknown functionCallingConfig mode",
        ),
        (
            {
                "contents": [user({"text": "x"})],
                "tools": [{"functionDeclarations": [{"name": "a"}]}],
                "toolConfig": {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["zz"]}
                },
            },
            "undeclared functions: zz",
        ),
        (
            {"contents": [user({"text": "x"})], "systemInstruction": 3},
            "'systemInstruction' must be a content, parts or text",
        ),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestDecodeError, match=message):
        decode(body)


def test_the_model_is_required() -> None:
    with pytest.raises(RequestDecodeError, match="model"):
        SERVER.decode_request({"contents": [user({"text": "x"})]})


# --- encoding responses ------------------------------------------------------------------


def test_text_and_thoughts_stream_as_parts() -> None:
    body, media_type = stream(
        [
            [ReasoningDelta("Think"), ReasoningDelta("ing."), TextDelta("Hel"), TextDelta("lo")],
            [],
            [TextDelta(" world"), Usage(3, 4), Finish("stop")],
        ]
    )
    chunks = chunks_of(body, media_type)
    assert [c["candidates"][0].get("content", {}).get("parts") for c in chunks] == [
        [{"text": "Thinking.", "thought": True}, {"text": "Hello"}],
        [{"text": " world"}],
        None,
    ]
    assert all(
        c["modelVersion"] == "gemini-2.5-pro" and c["responseId"] == "resp-1" for c in chunks
    )
    assert all(c["candidates"][0]["content"]["role"] == "model" for c in chunks[:2])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "finishReason" not in chunks[0]["candidates"][0]


def test_thoughts_are_sent_only_when_the_client_asked_for_them() -> None:
    """Like the real API: no `includeThoughts`, no thought parts (the reasoning is still
    counted in `thoughtsTokenCount`)."""
    body, media_type = stream(
        [[ReasoningDelta("hidden"), TextDelta("shown"), Usage(1, 5, reasoning=3), Finish("stop")]],
        include_thoughts=False,
    )
    chunks = chunks_of(body, media_type)
    assert chunks[0]["candidates"][0]["content"]["parts"] == [{"text": "shown"}]
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] == 3


def test_signed_reasoning_keeps_its_signature_on_the_thought_part() -> None:
    body, media_type = stream(
        [
            [ReasoningDelta("a"), ReasoningDelta("b"), ReasoningDelta("", signature="s1")],
            [TextDelta("x")],
        ]
    )
    parts = chunks_of(body, media_type)[0]["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "ab", "thought": True, "thoughtSignature": "s1"}]


def test_a_call_is_sent_whole_and_only_once_its_arguments_are_complete() -> None:
    """The Louter bug: translating argument fragments one by one sent `{}`. Fragments
    produce nothing; the completed call goes out once, with its exact arguments."""
    args_text = '{"file_path": "touch.yaml", "content": "a: 1\\n"}'
    pieces = ['{"file', '_path": "tou', 'ch.yaml", "content"', ': "a: 1\\n"}']
    enc = encoder()
    fragments = [ToolCallDelta(0, "call_1", "WriteFile", pieces[0])] + [
        ToolCallDelta(0, None, None, p) for p in pieces[1:]
    ]
    assert enc.start() == b""
    assert [enc.encode([f]) for f in fragments] == [b""] * 4
    done = ToolCallDone(0, "call_1", "WriteFile", args_text, json.loads(args_text))
    sent = enc.encode([done])
    [chunk] = chunks_of(sent, enc.media_type)
    assert chunk["candidates"][0]["content"]["parts"] == [
        {
            "functionCall": {
                "id": "call_1",
                "name": "WriteFile",
                "args": {"file_path": "touch.yaml", "content": "a: 1\n"},
            }
        }
    ]
    final = enc.encode([Finish("tool_calls")]) + enc.finish()
    assert b"functionCall" not in final
    assert chunks_of(final, enc.media_type)[-1]["candidates"][0]["finishReason"] == "STOP"


def test_parallel_calls_are_separate_parts_in_call_order_with_signatures() -> None:
    events: list[StreamEvent] = [
        TextDelta("Checking both."),
        ToolCallDelta(0, "c0", "get_weather", '{"city":'),
        ToolCallDelta(1, "c1", "get_weather", '{"city": "Rome"}'),
        ToolCallDelta(0, None, None, ' "Paris"}'),
        ToolCallDone(
            0,
            "c0",
            "get_weather",
            '{"city": "Paris"}',
            {"city": "Paris"},
            extras={"google": {"thought_signature": "sig0"}},
        ),
        ToolCallDone(1, "c1", "get_weather", '{"city": "Rome"}', {"city": "Rome"}),
        Finish("tool_calls"),
    ]
    body, media_type = stream([events])
    assert chunks_of(body, media_type)[0]["candidates"][0]["content"]["parts"] == [
        {"text": "Checking both."},
        {
            "functionCall": {"id": "c0", "name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": "sig0",
        },
        {"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Rome"}}},
    ]
    calls = summary(client_read(body, media_type))["calls"]
    assert calls == [
        ("c0", "get_weather", {"city": "Paris"}),
        ("c1", "get_weather", {"city": "Rome"}),
    ]


@pytest.mark.parametrize(
    ("backend_finish", "reason"),
    [("tool_calls", "MALFORMED_FUNCTION_CALL"), ("length", "MAX_TOKENS")],
)
def test_a_call_with_broken_arguments_is_not_sent_and_the_finish_says_why(
    backend_finish: str, reason: str
) -> None:
    """No functionCall with made-up arguments: Gemini's own answer to a broken call is
    MALFORMED_FUNCTION_CALL (gemini-cli retries on it); a call cut by the token limit
    says MAX_TOKENS. A well-formed sibling call is still sent."""
    events: list[StreamEvent] = [
        ToolCallDone(0, "c0", "ok_tool", "{}", {}),
        ToolCallDone(
            1,
            "c1",
            "write",
            '{"path": "a.txt", "content": "unfini',
            None,
            error="arguments are not valid JSON",
        ),
        Finish(backend_finish),
    ]
    body, media_type = stream([events])
    chunks = chunks_of(body, media_type)
    assert b'"write"' not in body.split(b"finishMessage")[0]
    assert chunks[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "c0", "name": "ok_tool", "args": {}}}
    ]
    final = chunks[-1]["candidates"][0]
    assert final["finishReason"] == reason
    assert "write" in final["finishMessage"] and "not valid JSON" in final["finishMessage"]
    whole = encoder().complete(events)
    assert whole["candidates"][0]["finishReason"] == reason
    assert [p["functionCall"]["name"] for p in whole["candidates"][0]["content"]["parts"]] == [
        "ok_tool"
    ]


def test_usage_mapping() -> None:
    usage = Usage(input_tokens=100, output_tokens=50, total_tokens=150, cache_read=40, reasoning=20)
    assert encode_usage(usage) == {
        "promptTokenCount": 100,
        "candidatesTokenCount": 30,
        "totalTokenCount": 150,
        "cachedContentTokenCount": 40,
        "thoughtsTokenCount": 20,
    }
    assert encode_usage(Usage(7, 3)) == {
        "promptTokenCount": 7,
        "candidatesTokenCount": 3,
        "totalTokenCount": 10,
    }
    body, media_type = stream([[TextDelta("x"), usage, Finish("stop")]])
    assert summary(client_read(body, media_type))["usage"] == [(100, 50, 150, 40, 20)]


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        (None, "STOP"),
        (Finish("stop", "end_turn"), "STOP"),
        (Finish("length"), "MAX_TOKENS"),
        (Finish("tool_calls"), "STOP"),
        (Finish("content_filter"), "SAFETY"),
        (Finish("content_filter", "RECITATION"), "RECITATION"),
        (Finish("UNEXPECTED_TOOL_CALL", "UNEXPECTED_TOOL_CALL"), "UNEXPECTED_TOOL_CALL"),
        (Finish("pause_turn"), "OTHER"),
    ],
)
def test_finish_reasons(finish: Finish | None, reason: str) -> None:
    events: list[StreamEvent] = [TextDelta("x")] if finish is None else [TextDelta("x"), finish]
    body, media_type = stream([events])
    assert chunks_of(body, media_type)[-1]["candidates"][0]["finishReason"] == reason


def test_sse_framing_is_what_google_sends() -> None:
    body, media_type = stream([[TextDelta("a")], [TextDelta("b"), Finish("stop")]])
    assert media_type == "text/event-stream"
    assert body.startswith(
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"a"}]}'
    )
    assert body.count(b"\r\n\r\n") == 3 and body.endswith(b"\r\n\r\n")


def test_json_array_framing_streams_elements_and_closes_the_array() -> None:
    enc = encoder(sse=False)
    assert enc.media_type.startswith("application/json")
    pieces = [
        enc.start(),
        enc.encode([TextDelta("a")]),
        enc.encode([]),
        enc.encode([TextDelta("b")]),
        enc.finish(),
    ]
    assert pieces[0] == b"[" and pieces[2] == b"" and pieces[-1].endswith(b"]")
    assert pieces[3].startswith(b",\r\n{")
    body = b"".join(pieces)
    parsed = json.loads(body)
    assert [c["candidates"][0].get("content", {}).get("parts") for c in parsed] == [
        [{"text": "a"}],
        [{"text": "b"}],
        None,
    ]
    assert summary(client_read(body, enc.media_type))["text"] == "ab"


@pytest.mark.parametrize("sse", [True, False])
def test_an_error_mid_stream_ends_the_stream_in_gemini_shape(sse: bool) -> None:
    enc = encoder(sse=sse)
    body = (
        enc.start()
        + enc.encode([TextDelta("partial")])
        + enc.error(429, "rate_limit_error", "slow down")
    )
    chunks = chunks_of(body, enc.media_type)  # for the array: still one valid JSON value
    assert chunks[-1] == {
        "error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    }
    with pytest.raises(StreamErrorEvent, match="slow down"):
        client_read(body, enc.media_type)


def test_an_error_before_anything_still_makes_a_valid_array() -> None:
    enc = encoder(sse=False)
    assert json.loads(enc.error(503, "overloaded_error", "busy")) == [
        {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
    ]


@pytest.mark.parametrize(
    ("status", "error_type", "name"),
    [
        (400, "invalid_request_error", "INVALID_ARGUMENT"),
        (401, "authentication_error", "UNAUTHENTICATED"),
        (403, "permission_error", "PERMISSION_DENIED"),
        (404, "not_found_error", "NOT_FOUND"),
        (429, "rate_limit_error", "RESOURCE_EXHAUSTED"),
        (500, "api_error", "INTERNAL"),
        (503, "overloaded_error", "UNAVAILABLE"),
        (504, "timeout", "DEADLINE_EXCEEDED"),
        (418, "teapot", "INVALID_ARGUMENT"),
        (599, "odd", "INTERNAL"),
        (400, "FAILED_PRECONDITION", "FAILED_PRECONDITION"),
    ],
)
def test_error_bodies_carry_google_status_names(status: int, error_type: str, name: str) -> None:
    assert SERVER.error_body(status, error_type, "why") == {
        "error": {"code": status, "message": "why", "status": name}
    }


def test_a_whole_response_is_one_generate_content_response() -> None:
    events: list[StreamEvent] = [
        ReasoningDelta("hmm"),
        TextDelta("It is "),
        TextDelta("sunny."),
        RefusalDelta(""),
        ToolCallDelta(0, "c0", "log", "{}"),
        ToolCallDone(0, "c0", "log", "{}", {}),
        ProviderState("extra_content", {"google": {"thought_signature": "sig-msg"}}),
        Usage(10, 8, 18, reasoning=2),
        Finish("tool_calls"),
    ]
    body = encoder().complete(events)
    assert body == {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "hmm", "thought": True},
                        {"text": "It is sunny.", "thoughtSignature": "sig-msg"},
                        {"functionCall": {"id": "c0", "name": "log", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 6,
            "totalTokenCount": 18,
            "thoughtsTokenCount": 2,
        },
        "modelVersion": "gemini-2.5-pro",
        "responseId": "resp-1",
    }
    decoded = CLIENT.decode_response(body)
    assert summary(decoded) == {
        "text": "It is sunny.",
        "reasoning": "hmm",
        "calls": [("c0", "log", {})],
        "usage": [(10, 8, 18, None, 2)],
        "finish": ["tool_calls"],
    }
    assert ProviderState("extra_content", {"google": {"thought_signature": "sig-msg"}}) in decoded


def test_a_message_signature_streams_in_the_last_chunk_and_reaches_the_client() -> None:
    body, media_type = stream(
        [
            [TextDelta("Hi.")],
            [
                ProviderState("extra_content", {"google": {"thought_signature": "s"}}),
                Finish("stop"),
            ],
        ]
    )
    final = chunks_of(body, media_type)[-1]["candidates"][0]
    assert final["content"]["parts"] == [{"text": "", "thoughtSignature": "s"}]
    assert ProviderState("extra_content", {"google": {"thought_signature": "s"}}) in client_read(
        body, media_type
    )


def test_helpers_for_count_tokens_and_the_model_list() -> None:
    assert SERVER.count_tokens_response(42) == {"totalTokens": 42}
    listed = SERVER.models_list(["gemini-2.5-pro", "models/local"])
    assert [m["name"] for m in listed["models"]] == ["models/gemini-2.5-pro", "models/local"]
    assert listed["models"][1]["displayName"] == "local"
    assert listed["models"][0]["supportedGenerationMethods"] == [
        "generateContent",
        "streamGenerateContent",
        "countTokens",
    ]
    assert (
        listed["models"][0]["inputTokenLimit"] > 0 and listed["models"][0]["outputTokenLimit"] > 0
    )


def test_plain_incoming_requests_get_thoughts_and_sse() -> None:
    """An `IncomingRequest` built by hand (not decoded here) still gets a working
    encoder: SSE by default, thoughts shown."""
    enc = SERVER.response_encoder(
        IncomingRequest(ChatRequest(model="m", messages=[])), response_id="r"
    )
    assert enc.media_type == "text/event-stream"
    assert b'"thought":true' in enc.encode([ReasoningDelta("r")])


# --- round trips through our client direction -----------------------------------------

tricky = st.text(
    alphabet=st.sampled_from(list('ab {}[]",:\\/\n\r\té€😀\u2028data')), min_size=1, max_size=8
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=6,
)
call_args = st.dictionaries(tricky, json_values, max_size=3)
names = st.sampled_from(["get_weather", "search", "write_file"])
items = st.lists(
    st.one_of(
        st.tuples(st.just("text"), tricky),
        st.tuples(st.just("reasoning"), tricky),
        st.tuples(
            st.just("call"),
            names,
            call_args,
            st.lists(st.integers(0, 200), max_size=4),
            st.booleans(),
        ),
    ),
    max_size=8,
)
usages = st.none() | st.builds(
    lambda i, o, cache, reasoning, total: Usage(
        input_tokens=i, output_tokens=o, total_tokens=i + o if total else None,
        cache_read=min(cache, i) if cache is not None else None,
        reasoning=min(reasoning, o) if reasoning is not None else None,
    ),
    st.integers(0, 10**6), st.integers(0, 10**5), st.none() | st.integers(0, 10**6),
    st.none() | st.integers(0, 10**5), st.booleans(),
)  # fmt: skip
finishes = st.sampled_from([None, "stop", "length", "tool_calls", "content_filter"])


def build_events(data: st.DataObject) -> tuple[list[StreamEvent], dict[str, Any]]:
    """Events as the assembler emits them (each call's deltas in order, calls interleaved
    with each other and with text), and what a client must see."""
    main: list[StreamEvent] = []
    sequences: list[list[StreamEvent]] = []
    late: list[ToolCallDone] = []
    for item in data.draw(items):
        if item[0] == "text":
            main.append(TextDelta(item[1]))
        elif item[0] == "reasoning":
            main.append(ReasoningDelta(item[1]))
        else:
            _, name, args, cuts, early = item  # type: ignore[misc]
            index = len(sequences)
            text = json.dumps(args, ensure_ascii=False)
            pieces = split(text.encode(), cuts)
            fragments = [p.decode("utf-8", "replace") for p in pieces]
            if "".join(fragments) != text:  # a cut inside a multi-byte character
                fragments = [text]
            sequence: list[StreamEvent] = [
                ToolCallDelta(index, f"call_{index}", name, fragments[0])
            ]
            sequence += [ToolCallDelta(index, None, None, f) for f in fragments[1:]]
            done = ToolCallDone(index, f"call_{index}", name, text, args)
            if early:
                sequence.append(done)
            else:
                late.append(done)
            sequences.append(sequence)
    sources = [main, *sequences]
    events: list[StreamEvent] = []
    while any(sources):
        pick = data.draw(st.sampled_from([i for i, s in enumerate(sources) if s]))
        events.append(sources[pick].pop(0))
    events += late
    usage = data.draw(usages)
    finish = data.draw(finishes)
    if usage is not None:
        events.append(usage)
    if finish is not None:
        events.append(Finish(finish))
    calls = [(e.id, e.name, e.args) for e in events if isinstance(e, ToolCallDone)]
    reason = (
        finish if finish in ("length", "content_filter") else ("tool_calls" if calls else "stop")
    )
    expected = {
        "text": "".join(e.text for e in events if isinstance(e, TextDelta)),
        "reasoning": "".join(e.text for e in events if isinstance(e, ReasoningDelta)),
        "calls": calls,
        "usage": []
        if usage is None
        else [
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.total_tokens
                if usage.total_tokens is not None
                else usage.input_tokens + usage.output_tokens,
                usage.cache_read or None,
                usage.reasoning or None,
            )
        ],
        "finish": [reason],
    }
    return events, expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    sse=st.booleans(),
    batch_cuts=st.lists(st.integers(0, 60), max_size=8),
    byte_cuts=st.lists(st.integers(0, 5000), max_size=30),
)
def test_any_event_stream_reads_back_the_same_through_our_client(
    data: st.DataObject, sse: bool, batch_cuts: list[int], byte_cuts: list[int]
) -> None:
    """Whatever the events, however they are batched and however the bytes are split,
    our client direction reads back the same text, reasoning, calls (id, name, exact
    arguments), usage and finish: SSE and JSON-array framing alike."""
    events, expected = build_events(data)
    points = sorted({c % (len(events) + 1) for c in batch_cuts})
    batches = [events[a:b] for a, b in zip([0, *points], [*points, len(events)], strict=True)]
    body, media_type = stream(batches, sse=sse)
    assert summary(client_read(body, media_type, byte_cuts)) == expected


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_whole_response_reads_back_the_same_through_our_client(data: st.DataObject) -> None:
    events, expected = build_events(data)
    body = json.loads(json.dumps(encoder().complete(events)))
    assert summary(CLIENT.decode_response(body)) == expected


# Conversations a LangChain agent has: rounds of AI turns with (parallel, same-name) calls,
# answered in any order, with signatures and Gemini ids on some calls.
result_texts = st.one_of(tricky, json_values.map(lambda v: json.dumps(v)), st.just('{"temp": 21}'))
rounds = st.lists(
    st.tuples(
        st.sampled_from(["", "Let me check.", "Done: 😀"]),  # AI text
        st.lists(
            st.tuples(
                names, call_args, st.none() | st.just("sig"), st.booleans()
            ),  # name, args, signature, native id
            max_size=3,
        ),
        st.randoms(use_true_random=False),  # the order the results come in
        st.lists(st.tuples(result_texts, st.booleans()), min_size=3, max_size=3),  # result, failed
        st.none() | tricky,  # a user message after the results
        st.none() | st.just("sig-msg"),  # a message-level signature
    ),
    min_size=1,
    max_size=4,
)


def conversation(drawn: list[Any], system: bool) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage(content="Be brief.")] if system else []
    messages.append(HumanMessage(content="Start."))
    for number, (text, calls, order, results, follow_up, signature) in enumerate(drawn):
        tool_calls = []
        extras: dict[str, Any] = {}
        for index, (name, args, call_signature, native) in enumerate(calls):
            call_id = f"lc_{number}_{index}"
            tool_calls.append({"name": name, "args": args, "id": call_id, "type": "tool_call"})
            extra: dict[str, Any] = {}
            if call_signature:
                extra["google"] = {"thought_signature": f"{call_signature}-{number}-{index}"}
            if native:
                extra["native_id"] = True
            if extra:
                extras[call_id] = extra
        kwargs: dict[str, Any] = {"tool_call_extras": extras} if extras else {}
        if signature:
            kwargs["extra_content"] = {"google": {"thought_signature": f"{signature}-{number}"}}
        if not text and not tool_calls:
            text = "Ok."
        messages.append(AIMessage(content=text, tool_calls=tool_calls, additional_kwargs=kwargs))
        answers = [
            ToolMessage(
                content=results[i][0],
                tool_call_id=c["id"],
                status="error" if results[i][1] else "success",
            )
            for i, c in enumerate(tool_calls)
        ]
        order.shuffle(answers)
        messages.extend(answers)
        if follow_up is not None or not tool_calls:
            messages.append(HumanMessage(content=follow_up or "Go on."))
    return messages


def canonical(messages: list[BaseMessage]) -> list[Any]:
    """Messages as a user of the conversation sees them: roles, text, calls (by position,
    with signatures and Gemini ids), and which call each result answers."""
    position: dict[str, tuple[int, int]] = {}
    out: list[Any] = []
    for number, message in enumerate(messages):
        if isinstance(message, AIMessage):
            extras = message.additional_kwargs.get("tool_call_extras", {})
            calls = []
            for index, c in enumerate(message.tool_calls):
                position[c["id"] or ""] = (number, index)
                extra = extras.get(c["id"], {})
                native_id = c["id"] if extra.get("native_id") else None
                calls.append((c["name"], c["args"], extra.get("google"), native_id))
            out.append(
                ("ai", message.content, calls, message.additional_kwargs.get("extra_content"))
            )
        elif isinstance(message, ToolMessage):
            content = message.content
            try:
                value: Any = json.loads(content)  # type: ignore[arg-type]
            except ValueError:
                value = content
            if not isinstance(value, dict | list):
                value = content
            out.append(("tool", position[message.tool_call_id], value, message.status))
        else:
            out.append((message.type, message.content))
    # Results of one round come in their calls' order, whatever order they were given in.
    return out


def in_call_order(canon: list[Any]) -> list[Any]:
    out: list[Any] = []
    run: list[Any] = []
    for item in [*canon, None]:
        if item is not None and item[0] == "tool":
            run.append(item)
            continue
        out.extend(sorted(run, key=lambda t: t[1]))
        run = []
        if item is not None:
            out.append(item)
    return out


def reorder_results(body: dict[str, Any], rng: Any) -> dict[str, Any]:
    """The same body with each turn's results in another order, keeping only the order
    among results of one function (which is what says which call each answers)."""
    body = json.loads(json.dumps(body))
    for content in body["contents"]:
        results = [p for p in content["parts"] if "functionResponse" in p]
        if not results:
            continue
        names = sorted({p["functionResponse"]["name"] for p in results})
        rng.shuffle(names)
        results.sort(key=lambda p: names.index(p["functionResponse"]["name"]))
        content["parts"] = results + [p for p in content["parts"] if "functionResponse" not in p]
    return body


@settings(max_examples=80, deadline=None)
@given(drawn=rounds, system=st.booleans(), rng=st.randoms(use_true_random=False))
def test_any_conversation_encoded_by_our_client_decodes_to_the_same_conversation(
    drawn: list[Any], system: bool, rng: Any
) -> None:
    """A LangChain conversation sent to Gemini by our client direction, read back here,
    is the same conversation: roles, text, calls with their arguments and signatures,
    every result paired with the call it answers, even when a client lists the results
    of different functions in another order. And it encodes to the same body again, so a
    history that passes through the proxy replays to a Gemini backend unchanged."""
    messages = conversation(drawn, system)
    body = CLIENT.encode_request(ChatRequest(model="gemini-2.5-pro", messages=messages))
    body = json.loads(json.dumps(body))  # as it travels
    decoded = list(
        SERVER.decode_request(reorder_results(body, rng), model="gemini-2.5-pro").chat.messages
    )
    assert canonical(decoded) == in_call_order(canonical(messages))
    assert CLIENT.encode_request(ChatRequest(model="gemini-2.5-pro", messages=decoded)) == body


# --- the google-genai SDK as the client -------------------------------------------------


def test_google_genai_reads_our_stream_and_whole_response(server: ScriptedServer) -> None:
    """The official SDK, pointed at a loopback server replaying our bytes: streamed text,
    a whole call with exact arguments, usage and finish; then a whole response; then an
    error mid-stream raised as the SDK's APIError."""
    genai = pytest.importorskip("google.genai")
    from google.genai import errors

    events: list[StreamEvent] = [
        TextDelta("Writing the file."),
        ToolCallDelta(0, "call_9", "write_file", '{"path": "a.txt", '),
        ToolCallDelta(0, None, None, '"content": "héllo"}'),
        ToolCallDone(
            0,
            "call_9",
            "write_file",
            '{"path": "a.txt", "content": "héllo"}',
            {"path": "a.txt", "content": "héllo"},
        ),
        Usage(12, 7, 19, cache_read=4, reasoning=2),
        Finish("tool_calls"),
    ]
    body, media_type = stream([events[:2], events[2:4], events[4:]])
    whole = encoder().complete(events)
    enc = encoder()
    broken = (
        enc.start()
        + enc.encode([TextDelta("par")])
        + enc.error(503, "overloaded_error", "backend down")
    )
    server.enqueue(
        Scripted(parts=split(body, [7, 50, 51, 300]), content_type=media_type),
        Scripted.json(whole),
        Scripted(parts=[broken], content_type="text/event-stream"),
    )
    client = genai.Client(api_key="x", http_options={"base_url": server.url})
    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-pro", contents="Write a.txt")
    )
    text = "".join(
        p.text
        for c in chunks
        for p in (c.candidates[0].content.parts if c.candidates[0].content else [])
        if p.text
    )
    assert text == "Writing the file."
    calls = [fc for c in chunks for fc in (c.function_calls or [])]
    assert [(fc.id, fc.name, fc.args) for fc in calls] == [
        ("call_9", "write_file", {"path": "a.txt", "content": "héllo"})
    ]
    last = chunks[-1]
    assert last.candidates[0].finish_reason == genai.types.FinishReason.STOP
    assert last.usage_metadata.prompt_token_count == 12
    assert last.usage_metadata.candidates_token_count == 5
    assert last.usage_metadata.thoughts_token_count == 2
    assert last.usage_metadata.cached_content_token_count == 4
    assert last.model_version == "gemini-2.5-pro"

    response = client.models.generate_content(model="gemini-2.5-pro", contents="Write a.txt")
    assert response.function_calls[0].args == {"path": "a.txt", "content": "héllo"}
    assert response.candidates[0].content.parts[0].text == "Writing the file."
    assert response.usage_metadata.total_token_count == 19

    with pytest.raises(errors.APIError, match="backend down") as caught:
        list(client.models.generate_content_stream(model="gemini-2.5-pro", contents="again"))
    assert caught.value.code == 503


def test_uppercase_types_inside_json_schemas_are_normalized() -> None:
    """gemini-cli builds responseJsonSchema with the SDK's Type enum ("OBJECT"); llama.cpp
    rejected it ("unrecognized type OBJECT") until the proxy lowercased them."""
    body = {
        "contents": [{"role": "user", "parts": [{"text": "route this"}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": {
                "type": "OBJECT",
                "properties": {"model_choice": {"type": "STRING", "enum": ["flash", "pro"]}},
                "required": ["model_choice"],
            },
        },
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "f",
                        "parametersJsonSchema": {
                            "type": "OBJECT",
                            "properties": {"n": {"type": "INTEGER"}},
                        },
                    }
                ]
            }
        ],
    }
    chat = GeminiServer().decode_request(body, model="m", stream=False).chat
    schema = chat.response_format["json_schema"]["schema"]  # type: ignore[index]
    assert schema["type"] == "object" and schema["properties"]["model_choice"]["type"] == "string"
    assert chat.tools[0]["function"]["parameters"]["properties"]["n"]["type"] == "integer"  # type: ignore[index]
