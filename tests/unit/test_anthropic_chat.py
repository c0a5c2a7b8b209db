"""ChatBhumi on Anthropic's Messages API, as a LangChain user sees it, over loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_bhumi import ChatBhumi, StreamCutError, StreamErrorEvent
from tests.support.server import Scripted, ScriptedServer

KEY = "sk-ant-test-0123456789"
SIG = "EqQBCkYIBxgCKkB-signature"


def sse(*events: dict[str, Any], delay: float = 0.0) -> Scripted:
    """An Anthropic SSE body: `event: <type>` + `data:` per event, one HTTP chunk each
    (`delay` apart, so each is its own network read when a test looks at chunk order)."""
    return Scripted(
        parts=[f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events],
        delay=delay,
    )


def start(model: str = "claude-sonnet-4-5-20250929", id: str = "msg_1") -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "output_tokens": 1},
        },
    }


def block(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(reason: str, output_tokens: int = 30) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def text_stream(*pieces: str) -> list[dict[str, Any]]:
    return [
        start(id="msg_2"),
        block(0, {"type": "text", "text": ""}),
        *(delta(0, type="text_delta", text=p) for p in pieces),
        stop(0),
        *end("end_turn"),
    ]


THINK_AND_CALL = [
    start(),
    block(0, {"type": "thinking", "thinking": "", "signature": ""}),
    {"type": "ping"},
    delta(0, type="thinking_delta", thinking="Two cities, "),
    delta(0, type="thinking_delta", thinking="two calls."),
    delta(0, type="signature_delta", signature=SIG),
    stop(0),
    block(1, {"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {}}),
    delta(1, type="input_json_delta", partial_json=""),
    delta(1, type="input_json_delta", partial_json='{"city": "Pa'),
    delta(1, type="input_json_delta", partial_json='ris"}'),
    stop(1),
    block(2, {"type": "tool_use", "id": "toolu_rome", "name": "get_weather", "input": {}}),
    delta(2, type="input_json_delta", partial_json='{"city": "Rome"}'),
    stop(2),
    *end("tool_use"),
]

THINK_AND_CALL_JSON = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Two cities, two calls.", "signature": SIG},
        {
            "type": "tool_use",
            "id": "toolu_paris",
            "name": "get_weather",
            "input": {"city": "Paris"},
        },
        {"type": "tool_use", "id": "toolu_rome", "name": "get_weather", "input": {"city": "Rome"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "output_tokens": 30},
}


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def model(server: ScriptedServer, name: str = "claude-sonnet-4-5", **kwargs: Any) -> ChatBhumi:
    return ChatBhumi(
        model=f"anthropic/{name}", base_url=server.url, api_key=KEY, max_retries=0, **kwargs
    )


def sent(server: ScriptedServer, number: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = server.received[number].json()
    return body


def view(message: Any) -> tuple[Any, ...]:
    return (
        message.content,
        message.tool_calls,
        message.usage_metadata,
        message.additional_kwargs,
        message.response_metadata,
    )


# --- the model string -------------------------------------------------------------------------


def test_the_model_string_alone_finds_the_key_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    llm = ChatBhumi(model="anthropic/claude-sonnet-4-5")
    assert llm.endpoint == "https://api.anthropic.com/v1/messages"
    assert (llm.provider_name, llm.model_name) == ("anthropic", "claude-sonnet-4-5")
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "sk-ant-from-env"


# --- streaming --------------------------------------------------------------------------------


def test_streamed_thinking_and_parallel_calls(server: ScriptedServer) -> None:
    server.enqueue(sse(*THINK_AND_CALL, delay=0.01))
    chunks = list(model(server).bind_tools([get_weather]).stream("Paris and Rome?"))

    full = message_chunk_to_message(chunks[0] + chunks[1:])
    assert isinstance(full, AIMessage)
    assert [(c["id"], c["name"], c["args"]) for c in full.tool_calls] == [
        ("toolu_paris", "get_weather", {"city": "Paris"}),
        ("toolu_rome", "get_weather", {"city": "Rome"}),
    ]
    assert full.content == ""
    assert full.additional_kwargs["reasoning_content"] == "Two cities, two calls."
    assert full.additional_kwargs["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Two cities, two calls.", "signature": SIG}
    ]
    assert full.usage_metadata == {
        "input_tokens": 120,
        "output_tokens": 30,
        "total_tokens": 150,
        "input_token_details": {"cache_read": 100},
    }
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata["finish_reason"] == "tool_calls"
    assert chunks[-1].response_metadata["model_name"] == "claude-sonnet-4-5-20250929"
    assert not any("finish_reason" in c.response_metadata for c in chunks[:-1])
    first_pieces = [tc for c in chunks for tc in c.tool_call_chunks if tc["name"]]
    assert [(tc["index"], tc["id"]) for tc in first_pieces] == [
        (0, "toolu_paris"),
        (1, "toolu_rome"),
    ]
    # Reasoning arrived before the calls, as it was streamed.
    first_reasoning = next(i for i, c in enumerate(chunks) if c.additional_kwargs)
    first_call = next(i for i, c in enumerate(chunks) if c.tool_call_chunks)
    assert first_reasoning < first_call


def test_stream_streaming_invoke_and_plain_invoke_agree(server: ScriptedServer) -> None:
    server.enqueue(sse(*THINK_AND_CALL), sse(*THINK_AND_CALL), Scripted.json(THINK_AND_CALL_JSON))
    llm = model(server).bind_tools([get_weather])
    chunks = list(llm.stream("x"))
    streamed = message_chunk_to_message(chunks[0] + chunks[1:])
    via_streaming = model(server, streaming=True).bind_tools([get_weather]).invoke("x")
    plain = llm.invoke("x")
    assert view(streamed) == view(via_streaming) == view(plain)
    assert "stream" not in sent(server)


async def test_async_stream_and_invoke(server: ScriptedServer) -> None:
    server.enqueue(sse(*THINK_AND_CALL), Scripted.json(THINK_AND_CALL_JSON))
    llm = model(server).bind_tools([get_weather])
    chunks = [c async for c in llm.astream("x")]
    plain = await llm.ainvoke("x")
    assert view(message_chunk_to_message(chunks[0] + chunks[1:])) == view(plain)


def test_text_arrives_in_pieces(server: ScriptedServer) -> None:
    """In order, whole: one chunk per network read, holding every event it completed."""
    server.enqueue(sse(*text_stream("Bon", "jour", " !")))
    pieces = [c.text for c in model(server).stream("hi") if c.text]
    assert "".join(pieces) == "Bonjour !"
    assert all(piece in ("Bon", "jour", " !", "Bonjour", "jour !", "Bonjour !") for piece in pieces)


def test_output_version_v1_gives_reasoning_then_tool_call_blocks(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(THINK_AND_CALL_JSON))
    message = model(server, output_version="v1").bind_tools([get_weather]).invoke("x")
    assert isinstance(message.content, list)
    assert [b["type"] for b in message.content if isinstance(b, dict)] == [
        "reasoning",
        "tool_call",
        "tool_call",
    ]
    reasoning = message.content[0]
    assert isinstance(reasoning, dict) and reasoning["extras"] == {"signature": SIG}


# --- the wire -------------------------------------------------------------------------------


def test_requests_use_anthropic_headers_and_pass_beta_headers_through(
    server: ScriptedServer,
) -> None:
    server.enqueue(sse(*text_stream("ok")))
    beta = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    list(model(server, default_headers=beta).stream("hi"))
    received = server.received[-1]
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert received.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert "authorization" not in received.headers
    body = sent(server)
    assert body["stream"] is True and body["max_tokens"] == 64000
    assert "stream_options" not in body


def test_model_settings_reach_the_request(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(THINK_AND_CALL_JSON), Scripted.json(THINK_AND_CALL_JSON))
    llm = model(
        server,
        temperature=1.0,
        max_tokens=4000,
        thinking_budget=2048,
        stop=["END"],
        model_kwargs={"metadata": {"user_id": "u-1"}},
    )
    llm.bind_tools([get_weather], tool_choice="auto", parallel_tool_calls=False).invoke(
        [("system", "Be brief."), ("human", "Weather in Paris?")]
    )
    body = sent(server)
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Weather in Paris?"}]
    assert body["max_tokens"] == 4000 and body["temperature"] == 1.0
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    llm.invoke("again", max_tokens=10, stop=["X"])
    assert (sent(server)["max_tokens"], sent(server)["stop_sequences"]) == (10, ["X"])


# --- a tool loop, as an agent runs it -------------------------------------------------------


def test_a_tool_loop_sends_thinking_calls_and_results_back(server: ScriptedServer) -> None:
    server.enqueue(sse(*THINK_AND_CALL), Scripted.json(text_answer("Sunny in both.")))
    llm = model(server, thinking_budget=1024).bind_tools([get_weather])
    question = HumanMessage("Weather in Paris and Rome?")
    first = message_chunk_to_message(sum(llm.stream([question]), AIMessageChunk(content="")))
    assert isinstance(first, AIMessage)
    results = [
        ToolMessage(get_weather.invoke(c["args"]), tool_call_id=c["id"], status="success")
        for c in first.tool_calls
    ]
    results[1].status = "error"
    answer = llm.invoke([question, first, *results])
    assert answer.text == "Sunny in both."
    assert sent(server)["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two cities, two calls.", "signature": SIG},
                {
                    "type": "tool_use",
                    "id": "toolu_paris",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_rome",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_paris", "content": "sunny in Paris"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_rome",
                    "content": "sunny in Rome",
                    "is_error": True,
                },
            ],
        },
    ]


def test_create_agent_runs_the_tool_loop(server: ScriptedServer) -> None:
    agents = pytest.importorskip("langchain.agents")
    server.enqueue(sse(*THINK_AND_CALL), sse(*text_stream("Sunny in both.")))
    agent = agents.create_agent(model(server, streaming=True), tools=[get_weather])
    result = agent.invoke({"messages": [("user", "Weather in Paris and Rome?")]})
    assert result["messages"][-1].text == "Sunny in both."
    results = sent(server)["messages"][-1]["content"]
    assert [(r["tool_use_id"], r["content"]) for r in results] == [
        ("toolu_paris", "sunny in Paris"),
        ("toolu_rome", "sunny in Rome"),
    ]


# --- structured output --------------------------------------------------------------------------


class Person(BaseModel):
    """A person."""

    name: str = Field(description="Full name")
    age: int


def tool_answer(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_s",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "tool_use", "id": "toolu_s", "name": "Person", "input": args}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 5},
    }


def text_answer(text: str) -> dict[str, Any]:
    return {
        "id": "msg_t",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 5},
    }


def test_structured_output_by_forced_tool(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(tool_answer({"name": "Ada", "age": 36})))
    assert model(server).with_structured_output(Person).invoke("who?") == Person(name="Ada", age=36)
    body = sent(server)
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "Person",
        "disable_parallel_tool_use": True,
    }
    assert body["tools"][0]["name"] == "Person"
    assert "output_config" not in body


def test_structured_output_by_native_json_schema(server: ScriptedServer) -> None:
    server.enqueue(
        Scripted.json(text_answer('{"name": "Ada", "age": 36}')),
        Scripted.json(text_answer('{"name": "Ada"')),
    )
    llm = model(server, "claude-sonnet-4-5-20250929")
    assert llm.with_structured_output(Person, method="json_schema").invoke("who?") == Person(
        name="Ada", age=36
    )
    body = sent(server)
    assert "tools" not in body
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["required"] == ["name", "age"]
    assert fmt["schema"]["additionalProperties"] is False

    raw = llm.with_structured_output(Person, method="json_schema", include_raw=True).invoke("x")
    assert isinstance(raw, dict)
    assert raw["parsed"] is None and raw["parsing_error"] is not None
    assert raw["raw"].text == '{"name": "Ada"'


@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_structured_output_falls_back_to_a_forced_tool(server: ScriptedServer, method: str) -> None:
    """Claude 3.5 has no native JSON schema output, and no Claude has a JSON mode."""
    server.enqueue(Scripted.json(tool_answer({"name": "Bo", "age": 3})))
    llm = model(server, "claude-3-5-haiku-20241022")
    result = llm.with_structured_output(Person, method=method, include_raw=True).invoke("x")  # type: ignore[arg-type]
    assert isinstance(result, dict)
    assert result["parsed"] == Person(name="Bo", age=3) and result["parsing_error"] is None
    body = sent(server)
    assert body["tool_choice"]["type"] == "tool" and "output_config" not in body


# --- failures -----------------------------------------------------------------------------------


def test_an_in_stream_error_is_typed_and_names_its_type(server: ScriptedServer) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.enqueue(
        sse(
            start(),
            block(0, {"type": "text", "text": ""}),
            delta(0, type="text_delta", text="Par"),
            error,
        )
    )
    seen: list[AIMessageChunk] = []
    with pytest.raises(StreamErrorEvent) as info:
        seen.extend(model(server).stream("hi"))
    assert info.value.error_type == "overloaded_error"
    assert "Overloaded" in str(info.value)
    assert "".join(c.text for c in seen) == "Par"


def test_overloaded_before_the_first_byte_is_retried(server: ScriptedServer) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.enqueue(
        Scripted.json(overloaded, status=529, headers={"retry-after": "0"}),
        sse(*text_stream("after a retry")),
    )
    llm = ChatBhumi(
        model="anthropic/claude-sonnet-4-5", base_url=server.url, api_key=KEY, max_retries=1
    )
    assert "".join(c.text for c in llm.stream("hi")) == "after a retry"
    assert len(server.received) == 2


def test_a_stream_cut_before_message_stop_raises(server: ScriptedServer) -> None:
    server.enqueue(sse(*text_stream("half")[:-1]))
    with pytest.raises(StreamCutError, match="message_stop"):
        list(model(server).stream("hi"))
