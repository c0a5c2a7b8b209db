"""Scenarios recorded from real servers: the things users do, checked as users see them.

Each test runs against every target (`tests/support/cassettes.py`): the local llama.cpp
server's cassettes must exist; cloud ones run once a maintainer with keys records them.
Assertions are about behaviour any competent model shows (which tool, which arguments),
never about exact wording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.messages.utils import message_chunk_to_message
from pydantic import BaseModel, Field

from langchain_bhumi import BadRequestError, ChatBhumi
from langchain_bhumi.demo_tools import convert_units, get_weather

pytestmark = pytest.mark.vcr

Factory = Callable[..., ChatBhumi]


def stream_all(runnable: Any, *args: Any, **kwargs: Any) -> tuple[list[AIMessageChunk], AIMessage]:
    chunks = list(runnable.stream(*args, **kwargs))
    merged = message_chunk_to_message(chunks[0] + chunks[1:])
    assert isinstance(merged, AIMessage)
    return chunks, merged


def cities(message: AIMessage) -> list[str]:
    return sorted(c["args"].get("city", "").strip().lower() for c in message.tool_calls)


def assert_usage_once(chunks: list[AIMessageChunk]) -> None:
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1]
    usage = chunks[-1].usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_plain_invoke_and_stream(make_llm: Factory, recording: str) -> None:
    llm = make_llm(max_tokens=40)
    prompt = "Reply with one short sentence about the sea."
    answer = llm.invoke(prompt)
    assert answer.text.strip()
    assert answer.response_metadata["finish_reason"] in ("stop", "length")
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] > 0

    chunks, merged = stream_all(llm, prompt)
    if recording == "live":  # a cassette replays the body in one read, hence one chunk
        assert len([c for c in chunks if c.text]) > 1, "the answer streamed in pieces"
    assert merged.text.strip()
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata["model_name"]
    assert_usage_once(chunks)


def test_stream_without_usage_when_turned_off(make_llm: Factory) -> None:
    chunks, merged = stream_all(make_llm(max_tokens=20, stream_usage=False), "Say hi.")
    assert merged.text.strip()
    assert "stream_options" not in str(chunks[-1].response_metadata)


@pytest.mark.parametrize("streaming", [False, True], ids=["invoke", "stream"])
def test_tool_call(make_llm: Factory, streaming: bool) -> None:
    llm = make_llm().bind_tools([get_weather])
    question = "What is the weather in Paris?"
    message = stream_all(llm, question)[1] if streaming else llm.invoke(question)
    assert [c["name"] for c in message.tool_calls] == ["get_weather"]
    assert cities(message) == ["paris"]
    assert message.tool_calls[0]["id"]
    assert message.response_metadata["finish_reason"] == "tool_calls"


def test_parallel_tool_calls(make_llm: Factory) -> None:
    llm = make_llm().bind_tools([get_weather], parallel_tool_calls=True)
    chunks, message = stream_all(llm, "What is the weather in Paris and in Tokyo?")
    assert cities(message) == ["paris", "tokyo"]
    assert len({c["id"] for c in message.tool_calls}) == 2
    first_chunks = [tc for c in chunks for tc in c.tool_call_chunks if tc.get("name")]
    assert sorted(tc["index"] for tc in first_chunks) == [0, 1], "one announcement per call"


@pytest.mark.parametrize("choice", ["any", "convert_units"])
def test_tool_choice_forces_a_call(make_llm: Factory, choice: str) -> None:
    """`any` forces some tool even for small talk; a name forces that tool."""
    llm = make_llm().bind_tools([get_weather, convert_units], tool_choice=choice)
    message = llm.invoke("Hello! How much is 5 kilometers in miles?")
    assert len(message.tool_calls) >= 1
    if choice != "any":
        assert {c["name"] for c in message.tool_calls} == {choice}


def test_two_round_tool_loop(make_llm: Factory) -> None:
    """Call -> result -> answer that uses the result; streamed both rounds."""
    llm = make_llm().bind_tools([get_weather])
    history: list[Any] = [HumanMessage("What is the weather in Tokyo? Answer in one sentence.")]
    _, first = stream_all(llm, history)
    assert cities(first) == ["tokyo"]
    history.append(first)
    history += [
        ToolMessage(get_weather(**c["args"]), tool_call_id=c["id"]) for c in first.tool_calls
    ]
    chunks, answer = stream_all(llm, history)
    assert not answer.tool_calls
    assert "24" in answer.text, answer.text
    assert_usage_once(chunks)


class City(BaseModel):
    """A city and the country it is in."""

    name: str = Field(description="The city's name")
    country: str = Field(description="The country the city is in")


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output(make_llm: Factory, method: str) -> None:
    structured = make_llm().with_structured_output(City, method=method, include_raw=True)
    result = structured.invoke(
        "Which city is the capital of France? Give the city and its country."
    )
    assert isinstance(result, dict) and result["parsing_error"] is None
    city = result["parsed"]
    assert isinstance(city, City)
    assert city.name.lower() == "paris" and "france" in city.country.lower()


def test_stop_sequences(make_llm: Factory) -> None:
    llm = make_llm(max_tokens=60)
    answer = llm.invoke("Count from 1 to 10, separated by commas.", stop=["5"])
    assert "1" in answer.text and "5" not in answer.text
    assert answer.response_metadata["finish_reason"] == "stop"


def test_a_request_the_server_rejects_raises_its_400(make_llm: Factory, target: Any) -> None:
    """The server's own error comes back typed, with its status, type and message: the
    local server's context is 2048 tokens; cloud APIs reject a temperature of 5."""
    if target.required:
        llm, prompt = make_llm(), "Summarize: " + "lorem ipsum dolor sit amet " * 500
    else:
        llm, prompt = make_llm(temperature=5), "Say hi."
    with pytest.raises(BadRequestError) as caught:
        llm.invoke(prompt)
    error = caught.value
    assert error.status_code == 400
    assert error.error_message and error.provider == target.provider
    assert error.error_message in str(error)


WRITTEN_CALLS_PROMPT = (
    "You have one tool.\n\n"
    "get_weather(city: string): Get the current weather for a city.\n\n"
    'To use it, answer with a JSON object {"name": <tool name>, "arguments": <arguments '
    "object>}."
)


@pytest.mark.parametrize("streaming", [False, True], ids=["invoke", "stream"])
def test_calls_written_as_text_become_tool_calls(make_llm: Factory, streaming: bool) -> None:
    """A small local model that knows its tool only from the prompt writes the calls as
    JSON text (the server gets no tools, as behind a template or server that drops them:
    `model_kwargs` empties the list, else llama-server's own parser would make the calls).
    With `parse_text_tool_calls=True` the caller still gets real calls, and the text the
    model wrote stays in `response_metadata["text_tool_calls"]`."""
    llm = make_llm(parse_text_tool_calls=True, model_kwargs={"tools": []}, max_tokens=80)
    bound = llm.bind_tools([get_weather])
    question = [("system", WRITTEN_CALLS_PROMPT), ("human", "What is the weather in Paris?")]
    if streaming:
        _, message = stream_all(bound, question)
    else:
        message = bound.invoke(question)

    assert [c["name"] for c in message.tool_calls] == ["get_weather"]
    assert cities(message) == ["paris"]
    assert message.tool_calls[0]["id"]
    assert message.invalid_tool_calls == []
    written = message.response_metadata["text_tool_calls"]
    assert '"get_weather"' in written["text"], written
    assert '"get_weather"' not in message.text  # the calls left the answer
