"""Tool calls written as text, recovered as real calls when asked (`parse_text_tool_calls`).

What a user notices: a local model answers "What is the weather in Paris?" with the call
as JSON text, the agent stops and shows the JSON. With recovery on, the agent runs the
tool; a call to a tool that was not offered, or JSON that is no call, stays text; the
streamed and the non-streamed message are the same.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage

from langchain_bhumi import ChatBhumi
from langchain_bhumi.core.events import (
    Finish,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
)
from langchain_bhumi.core.text_tool_calls import TextToolCallFilter, find_text_tool_calls
from tests.support.server import Scripted, ScriptedServer
from tests.support.wire import openai_answer

KEY = "sk-test-0123456789abcdef"
TOOLS = frozenset({"get_weather"})
PARIS = ("get_weather", {"city": "Paris"})
TOKYO = ("get_weather", {"city": "Tokyo"})

# What Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, llama.cpp, temperature 0, seed 1) wrote when the
# tool was described in the prompt but not given to the server (so nothing parsed it), or
# when prompted with a raw /v1/completions template. Recorded 2026-12, text only.
RECORDED: dict[str, tuple[str, list[tuple[str, dict[str, Any]]], str]] = {
    "bare_json": ('{"name": "get_weather", "arguments": {"city": "Paris"}}', [PARIS], ""),
    "json_lines": (
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '{"name": "get_weather", "arguments": {"city": "Tokyo"}}',
        [PARIS, TOKYO],
        "",
    ),
    "fenced_json": (
        '```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris"\n  }\n}\n```',
        [PARIS],
        "",
    ),
    "preamble_then_fence": (
        "To get the current weather in Paris, you can use the `get_weather` tool with the "
        'following JSON object:\n```json\n{\n  "name": "get_weather",\n  "arguments": {\n'
        '    "city": "Paris"\n  }\n}\n```',
        [PARIS],
        "To get the current weather in Paris, you can use the `get_weather` tool with the "
        "following JSON object:",
    ),
    "preamble_then_plain_fence_of_lines": (
        "To get the weather in Paris and Tokyo, you can use the following command:\n```\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n```',
        [PARIS, TOKYO],
        "To get the weather in Paris and Tokyo, you can use the following command:",
    ),
    "mistral_list": (
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, '
        '{"name": "get_weather", "arguments": {"city": "Tokyo"}}]',
        [PARIS, TOKYO],
        "",
    ),
    "llama_python_tag": (
        ' <|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
        [PARIS],
        "",
    ),
    "functools": (
        'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        [PARIS],
        "",
    ),
}

# Also recorded from the same model: answers that are not calls to an offered tool.
RECORDED_NOT_CALLS = {
    "a_tool_that_was_not_offered": (
        '```json\n{\n  "name": "book_table",\n  "arguments": {\n    "restaurant": "Paris",\n'
        '    "number_of_people": 2,\n    "time": "tonight"\n  }\n}\n```'
    ),
    "json_that_is_no_call": '```json\n{\n  "name": "John Doe",\n  "age": 30\n}\n```',
    "the_marker_alone": "[TOOL_CALLS]",
}

# Forms taken from the model families' documentation and chat templates (not recorded:
# the local model never wrote them).
DOCUMENTED: dict[str, tuple[str, list[tuple[str, dict[str, Any]]], str]] = {
    "hermes_qwen_tags": (
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n'
        "</tool_call>",
        [PARIS, TOKYO],
        "Let me check.",
    ),
    "hermes_tag_cut_before_its_end": (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
        [PARIS],
        "",
    ),
    "mistral_v11": (
        '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_weather[ARGS]{"city": "Tokyo"}',
        [PARIS, TOKYO],
        "",
    ),
    "llama_function_tag": ('<function=get_weather>{"city": "Paris"}</function>', [PARIS], ""),
    "llama_python_tag_two_calls": (
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; '
        '{"name": "get_weather", "parameters": {"city": "Tokyo"}}<|eom_id|>',
        [PARIS, TOKYO],
        "",
    ),
    "openai_shaped_with_string_arguments": (
        '```json\n[{"type": "function", "function": {"name": "get_weather", '
        '"arguments": "{\\"city\\": \\"Paris\\"}"}}]\n```\nI will report back.',
        [PARIS],
        "I will report back.",
    ),
}

CASES = {**RECORDED, **DOCUMENTED}


def calls_of(text: str) -> tuple[list[tuple[str, dict[str, Any] | None]], str] | None:
    found = find_text_tool_calls(text, TOOLS)
    if found is None:
        return None
    return [(c.name, c.args) for c in found.calls], found.text


@pytest.mark.parametrize("name", CASES)
def test_written_calls_are_found(name: str) -> None:
    text, calls, rest = CASES[name]
    assert calls_of(text) == (calls, rest)


@pytest.mark.parametrize("name", RECORDED_NOT_CALLS)
def test_what_is_no_call_to_an_offered_tool_stays_text(name: str) -> None:
    assert calls_of(RECORDED_NOT_CALLS[name]) is None


@pytest.mark.parametrize(
    "text",
    [
        'Here:\n```python\nprint("<tool_call>")\n```\nThat prints a tag.',
        "[1] First point\n[2] Second point",
        "{Note} braces are not JSON",
        "Use get_weather with city Paris.",
        '{"name": "get_weather", "arguments": {"city": "Paris"}, "confidence": 0.9}\n'
        '{"name": "get_time"}',  # one object names a tool that was not offered
    ],
)
def test_ordinary_answers_are_left_alone(text: str) -> None:
    assert calls_of(text) is None
    out = TextToolCallFilter(TOOLS).whole([TextDelta(text), Finish("stop", "stop")])
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == text


def test_arguments_that_are_no_object_make_an_invalid_call() -> None:
    found = find_text_tool_calls('{"name": "get_weather", "arguments": ["Paris"]}', TOOLS)
    assert found is not None
    call = found.calls[0]
    assert (call.args, call.args_text) == (None, '["Paris"]')
    assert call.error == "arguments must be a JSON object, got list"
    cut = find_text_tool_calls('{"name": "get_weather", "arguments": "{\\"city\\": "}', TOOLS)
    assert cut is not None and cut.calls[0].args is None
    assert "not valid JSON" in (cut.calls[0].error or "")


# --- the event filter: streamed the same as whole -------------------------------------


def summary(events: list[StreamEvent]) -> tuple[str, list[Any], str | None, Any]:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [(e.name, e.args, e.error) for e in events if isinstance(e, ToolCallDone)]
    finish = next((e.reason for e in reversed(events) if isinstance(e, Finish)), None)
    info = next((e for e in reversed(events) if isinstance(e, ResponseInfo)), None)
    return text, calls, finish, info.extra.get("text_tool_calls") if info else None


def pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


def streamed(text: str, cuts: list[int], *, names: frozenset[str] = TOOLS) -> list[StreamEvent]:
    recovery = TextToolCallFilter(names)
    batches: list[list[StreamEvent]] = [[ResponseInfo("r1", "m")]]
    batches += [[TextDelta(piece)] for piece in pieces(text, cuts)]
    batches.append([Finish("stop", "stop"), ResponseInfo("r1", "m")])
    return [event for batch in recovery.stream(batches) for event in batch]


ALL_TEXTS = [case[0] for case in CASES.values()] + list(RECORDED_NOT_CALLS.values())


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(ALL_TEXTS) - 1), cuts=st.lists(st.integers(0, 400), max_size=30))
def test_any_fragmentation_gives_the_message_a_whole_answer_gives(
    index: int, cuts: list[int]
) -> None:
    text = ALL_TEXTS[index]
    whole = TextToolCallFilter(TOOLS).whole(
        [ResponseInfo("r1", "m"), TextDelta(text), Finish("stop", "stop")]
    )
    assert summary(streamed(text, cuts)) == summary(whole)


def test_a_recovery_is_reported() -> None:
    text, _, rest = RECORDED["preamble_then_fence"]
    events = streamed(text, list(range(0, len(text), 7)))
    answer, calls, finish, kept = summary(events)
    assert (answer, calls, finish) == (rest, [(*PARIS, None)], "tool_calls")
    assert kept == {"text": text, "forms": ["fenced_json"]}
    starts = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(e.index, e.name) for e in starts] == [(0, "get_weather")]
    assert starts[0].id and starts[0].id.startswith("call_")


def test_prose_flows_at_once_and_only_a_possible_call_is_held() -> None:
    recovery = TextToolCallFilter(TOOLS)
    released = [
        "".join(e.text for e in recovery.feed([TextDelta(piece)]) if isinstance(e, TextDelta))
        for piece in ["The weather ", "is nice.\n", "```json\n{", '"name": "get_weather", ']
    ]
    assert released == ["The weather", " is nice.", "", ""]  # blanks wait for what follows


def test_code_in_another_language_streams_through() -> None:
    recovery = TextToolCallFilter(TOOLS)
    out = recovery.feed([TextDelta("Run this:\n```python\nprint('hi')\n")])
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == (
        "Run this:\n```python\nprint('hi')\n"
    )
    out = recovery.feed([TextDelta("```\nDone.")])
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "```\nDone."


def test_real_calls_switch_recovery_off_and_keep_the_text_in_order() -> None:
    recovery = TextToolCallFilter(TOOLS)
    events = recovery.feed([TextDelta('Calling.\n{"name": "get_weather", "argu')])
    native = ToolCallDone(0, "call_1", "get_weather", '{"city":"Rome"}', {"city": "Rome"})
    events += recovery.feed([TextDelta('ments": {}}'), native])
    events += recovery.close()
    assert summary(events)[:2] == (
        'Calling.\n{"name": "get_weather", "arguments": {}}',
        [("get_weather", {"city": "Rome"}, None)],
    )


def test_an_answer_cut_by_the_token_limit_is_not_recovered() -> None:
    text = '{"name": "get_weather", "arguments": {"city": "Paris"}}\n{"name": "get_weath'
    events = TextToolCallFilter(TOOLS).whole([TextDelta(text), Finish("length", "length")])
    assert summary(events)[:3] == (text, [], "length")


# --- ChatBhumi ------------------------------------------------------------------------


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"{city}: sunny, 21 C"


def streamed_answer(text: str, size: int = 5) -> Scripted:
    """An OpenAI stream writing `text` a few characters per chunk."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-t",
            "object": "chat.completion.chunk",
            "model": "qwen2.5-coder-1.5b-instruct",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    parts = [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
    return Scripted.sse(chunk({"role": "assistant"}), *parts, chunk({}, "stop"))


def whole_answer(text: str) -> Scripted:
    return Scripted.json(
        {
            "id": "chatcmpl-t",
            "object": "chat.completion",
            "model": "qwen2.5-coder-1.5b-instruct",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def local(server: ScriptedServer, **kwargs: Any) -> ChatBhumi:
    return ChatBhumi(model="llamacpp/qwen2.5-coder", base_url=server.url, max_retries=0, **kwargs)


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_chat_bhumi_turns_written_calls_into_tool_calls(
    server: ScriptedServer, mode: str
) -> None:
    text, _, rest = RECORDED["preamble_then_fence"]
    server.enqueue(streamed_answer(text) if "stream" in mode else whole_answer(text))
    llm = local(server, parse_text_tool_calls=True).bind_tools([get_weather])
    if mode == "invoke":
        message: Any = llm.invoke("Weather in Paris?")
    elif mode == "ainvoke":
        message = await llm.ainvoke("Weather in Paris?")
    elif mode == "stream":
        message = None
        for chunk in llm.stream("Weather in Paris?"):
            message = chunk if message is None else message + chunk
    else:
        message = None
        async for chunk in llm.astream("Weather in Paris?"):
            message = chunk if message is None else message + chunk
    assert message.content == rest
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [PARIS]
    assert message.response_metadata["finish_reason"] == "tool_calls"
    assert message.response_metadata["text_tool_calls"]["text"] == text


def test_recovery_is_off_by_default_and_without_tools(server: ScriptedServer) -> None:
    text = RECORDED["bare_json"][0]
    server.enqueue(whole_answer(text), whole_answer(text), whole_answer(text))
    plain = local(server).bind_tools([get_weather]).invoke("Weather in Paris?")
    assert (plain.content, plain.tool_calls) == (text, [])
    no_tools = local(server, parse_text_tool_calls=True).invoke("Weather in Paris?")
    assert (no_tools.content, no_tools.tool_calls) == (text, [])
    refused = (
        local(server, parse_text_tool_calls=True)
        .bind_tools([get_weather], tool_choice="none")
        .invoke("Weather in Paris?")
    )
    assert refused.tool_calls == []


def test_an_agent_runs_the_tool_a_model_wrote_as_text(server: ScriptedServer) -> None:
    server.enqueue(
        streamed_answer(RECORDED["json_lines"][0]), openai_answer("Sunny in both cities.")
    )
    agent = create_agent(local(server, parse_text_tool_calls=True, streaming=True), [get_weather])
    messages = agent.invoke({"messages": [("user", "Weather in Paris and Tokyo?")]})["messages"]
    results = [m.content for m in messages if isinstance(m, ToolMessage)]
    assert results == ["Paris: sunny, 21 C", "Tokyo: sunny, 21 C"]
    assert messages[-1].text == "Sunny in both cities."
    # The next request carries real calls and their results, no JSON text.
    sent = server.received[1].json()["messages"]
    assert sent[1]["content"] is None
    assert [json.loads(c["function"]["arguments"]) for c in sent[1]["tool_calls"]] == [
        {"city": "Paris"},
        {"city": "Tokyo"},
    ]
    assert isinstance(messages[1], AIMessage)
