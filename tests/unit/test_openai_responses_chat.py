"""ChatBhumi on OpenAI's Responses API, as a LangChain user sees it, over loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_bhumi import BadRequestError, ChatBhumi, StreamCutError, StreamErrorEvent
from tests.support.server import Scripted, ScriptedServer

KEY = "sk-test-0123456789abcdef"
SECRET = "gAAAAABo-encrypted-reasoning"


def sse(*events: dict[str, Any], **kwargs: Any) -> Scripted:
    """A Responses SSE body: `event: <type>` + `data:` per event, one HTTP chunk each."""
    return Scripted(
        parts=[f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events],
        content_type="text/event-stream; charset=utf-8",
        **kwargs,
    )


def response(
    status: str = "completed", output: list[Any] | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-5-2025-08-07",
        "status": status,
        "output": output or [],
        "usage": {
            "input_tokens": 40,
            "input_tokens_details": {"cached_tokens": 32},
            "output_tokens": 60,
            "output_tokens_details": {"reasoning_tokens": 20},
            "total_tokens": 100,
        },
        **fields,
    }


def created() -> dict[str, Any]:
    return {"type": "response.created", "response": {**response("in_progress"), "usage": None}}


def added(index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def done(index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response.output_item.done", "output_index": index, "item": item}


def text(index: int, delta: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "output_index": index,
        "content_index": 0,
        "delta": delta,
    }


def args(index: int, delta: str) -> dict[str, Any]:
    return {"type": "response.function_call_arguments.delta", "output_index": index, "delta": delta}


def summary(index: int, delta: str) -> dict[str, Any]:
    return {
        "type": "response.reasoning_summary_text.delta",
        "output_index": index,
        "summary_index": 0,
        "delta": delta,
    }


def terminal(
    status: str = "completed", output: list[Any] | None = None, **fields: Any
) -> dict[str, Any]:
    return {"type": f"response.{status}", "response": response(status, output, **fields)}


REASONING = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "Two cities, two calls."}],
    "encrypted_content": SECRET,
}


def call_item(index: int, city: str, arguments: str = "") -> dict[str, Any]:
    return {
        "id": f"fc_{index}",
        "type": "function_call",
        "call_id": f"call_{city.lower()}",
        "name": "get_weather",
        "arguments": arguments,
    }


def message_item(text_: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text_, "annotations": []}],
    }


# Reasoning, a sentence, then two parallel calls: streamed, and the same answer whole.
PARIS = '{"city": "Paris"}'
ROME = '{"city": "Rome"}'
OUTPUT = [
    REASONING,
    message_item("Checking both."),
    call_item(2, "Paris", PARIS),
    call_item(3, "Rome", ROME),
]
STREAM = [
    created(),
    added(
        0, {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA-draft"}
    ),
    summary(0, "Two cities, "),
    summary(0, "two calls."),
    done(0, REASONING),
    added(1, {**message_item(""), "content": []}),
    text(1, "Checking "),
    text(1, "both."),
    done(1, message_item("Checking both.")),
    added(2, call_item(2, "Paris")),
    args(2, '{"city": '),
    args(2, '"Paris"}'),
    done(2, call_item(2, "Paris", PARIS)),
    added(3, call_item(3, "Rome")),
    args(3, ROME),
    done(3, call_item(3, "Rome", ROME)),
    terminal(output=OUTPUT),
]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def model(server: ScriptedServer, name: str = "gpt-5", **kwargs: Any) -> ChatBhumi:
    kwargs.setdefault("use_responses_api", True)
    return ChatBhumi(
        model=f"openai/{name}", base_url=server.url, api_key=KEY, max_retries=0, **kwargs
    )


def sent(server: ScriptedServer, number: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = server.received[number].json()
    return body


def streamed(llm: Any, messages: Any) -> AIMessage:
    chunks: list[AIMessageChunk] = list(llm.stream(messages))
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    message = message_chunk_to_message(total)
    assert isinstance(message, AIMessage)
    return message


def view(message: BaseMessage) -> tuple[Any, ...]:
    assert isinstance(message, AIMessage)
    return (
        message.content,
        message.tool_calls,
        message.invalid_tool_calls,
        message.usage_metadata,
        message.additional_kwargs,
        message.response_metadata,
    )


# --- one answer, every way ------------------------------------------------------------------


def test_stream_and_invoke_agree_on_reasoning_text_and_parallel_calls(
    server: ScriptedServer,
) -> None:
    server.enqueue(sse(*STREAM), Scripted.json(response(output=OUTPUT)))
    llm = model(server).bind_tools([get_weather])
    via_stream = streamed(llm, "Weather in Paris and Rome?")
    via_invoke = llm.invoke("Weather in Paris and Rome?")
    assert view(via_stream) == view(via_invoke)
    assert via_invoke.content == "Checking both."
    assert via_invoke.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_paris", "type": "tool_call"},
        {"name": "get_weather", "args": {"city": "Rome"}, "id": "call_rome", "type": "tool_call"},
    ]
    kwargs = via_invoke.additional_kwargs
    assert kwargs["reasoning_content"] == "Two cities, two calls."
    # The finished reasoning item (not the draft) and the message item, for replay.
    assert kwargs["response_items"] == [REASONING, message_item("Checking both.")]
    assert kwargs["tool_call_extras"] == {
        "call_paris": {"responses": {"item_id": "fc_2"}},
        "call_rome": {"responses": {"item_id": "fc_3"}},
    }
    assert via_invoke.usage_metadata == {
        "input_tokens": 40,
        "output_tokens": 60,
        "total_tokens": 100,
        "input_token_details": {"cache_read": 32},
        "output_token_details": {"reasoning": 20},
    }
    metadata = via_invoke.response_metadata
    assert metadata["finish_reason"] == "tool_calls"
    assert metadata["model_name"] == "gpt-5-2025-08-07"
    assert metadata["id"] == "resp_1"
    assert metadata["wire_format"] == "openai_responses"
    assert [r.path for r in server.received] == ["/v1/responses", "/v1/responses"]
    assert sent(server, 0)["stream"] is True and "stream" not in sent(server, 1)


def test_streamed_chunks_carry_each_call_id_and_name_once(server: ScriptedServer) -> None:
    server.enqueue(sse(*STREAM))
    chunks = list(model(server).stream("x"))
    firsts = [
        (c["index"], c["id"], c["name"])
        for chunk in chunks
        for c in chunk.tool_call_chunks
        if c["id"]
    ]
    assert firsts == [(0, "call_paris", "get_weather"), (1, "call_rome", "get_weather")]
    assert [c.usage_metadata is not None for c in chunks].count(True) == 1
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata


async def test_astream_and_ainvoke_give_the_same_message(server: ScriptedServer) -> None:
    server.enqueue(sse(*STREAM), sse(*STREAM))
    async with model(server, streaming=True) as llm:
        via_ainvoke = await llm.ainvoke("x")
        total: AIMessageChunk | None = None
        async for chunk in llm.astream("x"):
            total = chunk if total is None else total + chunk
    assert total is not None
    assert view(message_chunk_to_message(total)) == view(via_ainvoke)


# --- endings ------------------------------------------------------------------------------


def test_max_output_tokens_finishes_with_length_and_a_cut_call_is_invalid(
    server: ScriptedServer,
) -> None:
    cut = [
        created(),
        added(0, call_item(0, "Paris")),
        args(0, '{"city": "Pa'),
        terminal("incomplete", incomplete_details={"reason": "max_output_tokens"}),
    ]
    whole = response(
        "incomplete",
        [call_item(0, "Paris", '{"city": "Pa')],
        incomplete_details={"reason": "max_output_tokens"},
    )
    server.enqueue(sse(*cut), Scripted.json(whole))
    llm = model(server, max_tokens=10)
    for message in (streamed(llm, "x"), llm.invoke("x")):
        assert message.response_metadata["finish_reason"] == "length"
        assert message.response_metadata["native_finish_reason"] == "max_output_tokens"
        assert message.tool_calls == []
        (invalid,) = message.invalid_tool_calls
        assert invalid["id"] == "call_paris"
        assert invalid["args"].startswith('{"city": "Pa')  # the raw text, never a repaired dict


def test_the_model_is_shown_its_own_cut_arguments_on_the_next_turn(
    server: ScriptedServer,
) -> None:
    """A streamed cut call (summed with `+`, so its pieces end with the repair blocker)
    goes back as the `function_call` the model wrote, not with our blocker."""
    cut = [
        created(),
        added(0, call_item(0, "Paris")),
        args(0, '{"city": "Pa'),
        terminal("incomplete", incomplete_details={"reason": "max_output_tokens"}),
    ]
    server.enqueue(sse(*cut), Scripted.json(response("completed", [message_item("ok")])))
    llm = model(server, max_tokens=10)
    answer = streamed(llm, "x")
    assert answer.invalid_tool_calls[0]["args"] != '{"city": "Pa'  # the blocker is in the sum
    llm.invoke([HumanMessage("x"), answer, ToolMessage("cut off", tool_call_id="call_paris")])
    [call] = [item for item in sent(server)["input"] if item.get("type") == "function_call"]
    assert (call["call_id"], call["arguments"]) == ("call_paris", '{"city": "Pa')


@pytest.mark.parametrize(
    ("failure", "error_type", "message"),
    [
        (
            {
                "type": "response.failed",
                "response": {
                    **response("failed"),
                    "error": {"code": "server_error", "message": "The model crashed."},
                },
            },
            "server_error",
            "The model crashed.",
        ),
        (
            {
                "type": "error",
                "error": {
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                    "message": "You exceeded your quota.",
                },
            },
            "insufficient_quota",
            "You exceeded your quota.",
        ),
    ],
)
def test_failed_responses_and_error_events_raise_typed_errors(
    server: ScriptedServer, failure: dict[str, Any], error_type: str, message: str
) -> None:
    events = [
        created(),
        added(0, {**message_item(""), "content": []}),
        text(0, "Half an ans"),
        failure,
    ]
    server.enqueue(sse(*events), sse(*events))
    llm = model(server)
    chunks: list[AIMessageChunk] = []

    def consume() -> None:
        chunks.extend(llm.stream("x"))

    with pytest.raises(StreamErrorEvent) as raised:
        consume()
    assert raised.value.error_type == error_type
    assert message in str(raised.value)
    assert "".join(str(c.content) for c in chunks) == "Half an ans"  # delivered, never finished
    with pytest.raises(StreamErrorEvent, match=message):
        model(server, streaming=True).invoke("x")


def test_a_whole_failed_response_raises_too(server: ScriptedServer) -> None:
    failed = response("failed", error={"code": "server_error", "message": "The model crashed."})
    server.enqueue(Scripted.json(failed))
    with pytest.raises(StreamErrorEvent, match="The model crashed"):
        model(server).invoke("x")


def test_a_stream_cut_before_its_terminal_event_raises(server: ScriptedServer) -> None:
    server.enqueue(sse(*STREAM[:8]), sse(*STREAM[:8], cut_after=8))
    with pytest.raises(StreamCutError, match=r"response\.completed"):
        streamed(model(server), "x")
    with pytest.raises(StreamCutError):
        model(server, streaming=True).invoke("x")


def test_an_http_error_is_typed_and_carries_the_message(server: ScriptedServer) -> None:
    body = {
        "error": {
            "message": "Invalid 'temperature'.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "decimal_below_min_value",
        }
    }
    server.enqueue(Scripted.json(body, status=400))
    with pytest.raises(BadRequestError, match="Invalid 'temperature'") as raised:
        model(server, temperature=-1).invoke("x")
    assert raised.value.error_type == "invalid_request_error"


# --- the tool loop --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_a_two_turn_tool_loop_sends_back_reasoning_calls_and_results(
    server: ScriptedServer, how: str
) -> None:
    """Turn 2 carries turn 1's reasoning item with its encrypted content, each call with its
    item id, and the tool results: what OpenAI needs with `store: false`."""
    final = [
        created(),
        added(0, {**message_item(""), "content": []}),
        text(0, "Sunny in both."),
        terminal(),
    ]
    server.enqueue(sse(*STREAM), sse(*final))
    llm = model(server, streaming=True).bind_tools([get_weather])
    messages: list[BaseMessage] = [HumanMessage("Weather in Paris and Rome?")]
    first = llm.invoke(messages) if how == "invoke" else streamed(llm, messages)
    messages.append(first)
    messages.extend(
        ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
        for call in first.tool_calls
    )
    assert llm.invoke(messages).content == "Sunny in both."
    turn2 = sent(server)
    assert turn2["store"] is False and turn2["include"] == ["reasoning.encrypted_content"]
    assert turn2["input"] == [
        {"type": "message", "role": "user", "content": "Weather in Paris and Rome?"},
        REASONING,
        message_item("Checking both."),  # with its id: OpenAI pairs it with the reasoning
        {
            "type": "function_call",
            "call_id": "call_paris",
            "name": "get_weather",
            "arguments": PARIS,
            "id": "fc_2",
        },
        {
            "type": "function_call",
            "call_id": "call_rome",
            "name": "get_weather",
            "arguments": ROME,
            "id": "fc_3",
        },
        {"type": "function_call_output", "call_id": "call_paris", "output": "sunny in Paris"},
        {"type": "function_call_output", "call_id": "call_rome", "output": "sunny in Rome"},
    ]
    assert turn2["input"][1]["encrypted_content"] == SECRET
    assert turn2["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "type": "object",
            },
        }
    ]


# --- choosing the format ----------------------------------------------------------------------


def test_responses_only_models_and_builtin_tools_switch_openai_on_their_own(
    server: ScriptedServer,
) -> None:
    chat_answer = {
        "id": "c",
        "model": "gpt-5",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
    }
    answer = Scripted.json(response(output=[message_item("hi")]))
    server.enqueue(answer, Scripted.json(chat_answer), answer, Scripted.json(chat_answer))
    auto = {"use_responses_api": None}
    assert model(server, "gpt-5.1-codex", **auto).invoke("x").content == "hi"
    assert model(server, "gpt-5", **auto).invoke("x").content == "hi"
    model(server, "gpt-5", **auto).bind_tools([{"type": "web_search"}]).invoke("x")
    model(server, "gpt-5.1-codex", use_responses_api=False).invoke("x")
    assert [r.path for r in server.received] == [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/chat/completions",
    ]
    assert sent(server, 2)["tools"] == [{"type": "web_search"}]


def test_structured_output_uses_text_format(server: ScriptedServer) -> None:
    class Answer(BaseModel):
        city: str

    server.enqueue(Scripted.json(response(output=[message_item('{"city": "Paris"}')])))
    result = (
        model(server).with_structured_output(Answer, method="json_schema", strict=True).invoke("x")
    )
    assert result == Answer(city="Paris")
    text_format = sent(server)["text"]["format"]
    assert text_format["type"] == "json_schema" and text_format["name"] == "Answer"
    assert text_format["strict"] is True and text_format["schema"]["required"] == ["city"]


def test_stop_sequences_are_not_sent(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(response(output=[message_item("hi")])))
    model(server, stop=["END"]).invoke("x")
    assert "stop" not in sent(server)
