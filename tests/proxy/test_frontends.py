"""The official SDKs as clients, through each proxy frontend, over real recorded streams.

The backend replays the demo's three rounds recorded from the real llama.cpp server
(weather lookup -> unit conversion -> answer). Each SDK runs that tool loop itself, in its
own API shape, streaming and not; the proxy translates both ways. Checked: the right
tools were called with the right arguments, every tool result reached the backend paired
with its call, and the final answer arrived.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from langchain_bhumi._demo import QUESTION, SYSTEM_PROMPT
from langchain_bhumi.demo_tools import calculate, convert_units, get_weather
from tests.proxy.conftest import DEMO, RunningProxy, recorded_rounds
from tests.support.server import ScriptedServer

TOOLS: dict[str, Callable[..., str]] = {
    "get_weather": get_weather,
    "convert_units": convert_units,
    "calculate": calculate,
}
SCHEMAS = {
    "get_weather": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "convert_units": {
        "type": "object",
        "properties": {
            "value": {"type": "number"},
            "from_unit": {"type": "string"},
            "to_unit": {"type": "string"},
        },
        "required": ["value", "from_unit", "to_unit"],
    },
    "calculate": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}
EXPECTED_CALLS = [
    ("get_weather", {"city": "Tokyo"}),
    ("convert_units", {"value": 24, "from_unit": "C", "to_unit": "F"}),
]


def run_tool(name: str, args: dict[str, Any]) -> str:
    return TOOLS[name](**args)


def serve_demo(backend: ScriptedServer, stream: bool) -> None:
    backend.enqueue(*recorded_rounds(DEMO / ("agent.yaml" if stream else "agent_invoke.yaml")))


def check_backend_saw_paired_results(backend: ScriptedServer, stream: bool) -> None:
    """Every backend request after the first carries the previous round's calls and their
    results, paired by id, in OpenAI form (the backend's format)."""
    assert len(backend.received) == 3
    for request in backend.received:
        body = request.json()
        assert bool(body.get("stream")) == stream
        assert {t["function"]["name"] for t in body["tools"]} >= {"get_weather", "convert_units"}
    for request in backend.received[1:]:
        messages = request.json()["messages"]
        calls = {
            c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls", [])
        }
        results = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
        assert results and set(results) == calls, (calls, results)
    last = backend.received[-1].json()["messages"]
    assert any(m["role"] == "tool" and "75.2" in m["content"] for m in last)


# --- OpenAI -------------------------------------------------------------------------------


Scenario = tuple[str, str | None, list[str]]  # question, system prompt, tool names
DEMO_SCENARIO: Scenario = (QUESTION, SYSTEM_PROMPT, list(SCHEMAS))
WEATHER_SCENARIO: Scenario = (
    "What is the weather in Tokyo? Answer in one sentence.",
    None,
    ["get_weather"],
)


def openai_loop(
    url: str, stream: bool, scenario: Scenario = DEMO_SCENARIO
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    question, system, names = scenario
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="client-key", max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {"name": n, "description": TOOLS[n].__doc__, "parameters": SCHEMAS[n]},
        }
        for n in names
    ]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": question})
    made: list[tuple[str, dict[str, Any]]] = []
    for _ in range(5):
        if stream:
            text, calls = "", {}
            for chunk in client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                tools=tools,
                temperature=0,
                seed=42,
                stream=True,
            ):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    for tc in choice.delta.tool_calls or []:
                        call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] += tc.id or ""
                        call["name"] += (tc.function.name or "") if tc.function else ""
                        call["arguments"] += (tc.function.arguments or "") if tc.function else ""
            tool_calls = list(calls.values())
        else:
            message = (
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=messages, tools=tools, temperature=0, seed=42
                )
                .choices[0]
                .message
            )
            text = message.content or ""
            tool_calls = [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for c in message.tool_calls or []
            ]
        if not tool_calls:
            return made, text
        messages.append(
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in tool_calls
                ],
            }
        )
        for call in tool_calls:
            args = json.loads(call["arguments"])
            made.append((call["name"], args))
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": run_tool(call["name"], args),
                }
            )
    raise AssertionError("the loop did not end")


# --- Anthropic ----------------------------------------------------------------------------


def anthropic_loop(
    url: str, stream: bool, scenario: Scenario = DEMO_SCENARIO
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    question, system, names = scenario
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0)
    tools = [
        {"name": n, "description": TOOLS[n].__doc__ or n, "input_schema": SCHEMAS[n]} for n in names
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    made: list[tuple[str, dict[str, Any]]] = []
    for _ in range(5):
        options: dict[str, Any] = {
            "model": "claude-haiku-4-5",
            "max_tokens": 512,
            "extra_body": {"temperature": 0},  # this SDK version no longer has the argument
            "messages": messages,
            "tools": tools,
        }
        if system:
            options["system"] = system
        if stream:
            with client.messages.stream(**options) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**options)
        uses = [b for b in message.content if b.type == "tool_use"]
        if not uses:
            return made, "".join(b.text for b in message.content if b.type == "text")
        assert message.stop_reason == "tool_use"
        messages.append(
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in message.content],
            }
        )
        results = []
        for use in uses:
            made.append((use.name, dict(use.input)))
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": use.id,
                    "content": run_tool(use.name, dict(use.input)),
                }
            )
        messages.append({"role": "user", "content": results})
    raise AssertionError("the loop did not end")


# --- Gemini -------------------------------------------------------------------------------


def gemini_loop(
    url: str, stream: bool, scenario: Scenario = DEMO_SCENARIO
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    question, system, names = scenario
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    client = genai.Client(api_key="client-key", http_options=types.HttpOptions(base_url=url))
    declarations = [
        types.FunctionDeclaration(
            name=n, description=TOOLS[n].__doc__, parameters_json_schema=SCHEMAS[n]
        )
        for n in names
    ]
    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=0,
        seed=42,
        tools=[types.Tool(function_declarations=declarations)],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text=question)])]
    made: list[tuple[str, dict[str, Any]]] = []
    for _ in range(5):
        if stream:
            parts = [
                part
                for chunk in client.models.generate_content_stream(
                    model="gemini-2.5-flash", contents=contents, config=config
                )
                for candidate in chunk.candidates or []
                for part in (candidate.content.parts if candidate.content else None) or []
            ]
        else:
            response = client.models.generate_content(
                model="gemini-2.5-flash", contents=contents, config=config
            )
            parts = list(response.candidates[0].content.parts or [])
        calls = [p.function_call for p in parts if p.function_call]
        if not calls:
            return made, "".join(p.text or "" for p in parts if not p.thought)
        contents.append(types.Content(role="model", parts=parts))
        responses = []
        for call in calls:
            args = dict(call.args or {})
            made.append((call.name, args))
            responses.append(
                types.Part(
                    function_response=types.FunctionResponse(
                        name=call.name, id=call.id, response={"result": run_tool(call.name, args)}
                    )
                )
            )
        contents.append(types.Content(role="user", parts=responses))
    raise AssertionError("the loop did not end")


# --- OpenAI Responses ---------------------------------------------------------------------


def responses_loop(
    url: str, stream: bool, scenario: Scenario = DEMO_SCENARIO
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The Responses API tool loop as codex runs it: stateless (`store: false`), the whole
    history re-sent each round with the output items echoed back verbatim. Streaming goes
    through the SDK's strict `responses.stream()` helper, which checks the event order."""
    question, system, names = scenario
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="client-key", max_retries=0)
    tools = [
        {
            "type": "function",
            "name": n,
            "description": TOOLS[n].__doc__,
            "parameters": SCHEMAS[n],
            "strict": False,
        }
        for n in names
    ]
    items: list[Any] = [{"role": "user", "content": question}]
    made: list[tuple[str, dict[str, Any]]] = []
    for _ in range(5):
        options: dict[str, Any] = {
            "model": "gpt-5-codex",
            "input": items,
            "tools": tools,
            "temperature": 0,
            "store": False,
            "include": ["reasoning.encrypted_content"],
        }
        if system:
            options["instructions"] = system
        if stream:
            with client.responses.stream(**options) as events:
                response = events.get_final_response()
        else:
            response = client.responses.create(**options)
        assert response.status == "completed"
        assert response.usage is not None and response.usage.total_tokens > 0
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            return made, response.output_text
        items.extend(item.model_dump(exclude_none=True) for item in response.output)
        for call in calls:
            args = json.loads(call.arguments)
            made.append((call.name, args))
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": run_tool(call.name, args),
                }
            )
    raise AssertionError("the loop did not end")


LOOPS = {
    "openai": openai_loop,
    "responses": responses_loop,
    "anthropic": anthropic_loop,
    "gemini": gemini_loop,
}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("frontend", list(LOOPS))
def test_sdk_tool_loop_through_the_proxy(
    frontend: str, stream: bool, backend: ScriptedServer, proxy: RunningProxy
) -> None:
    serve_demo(backend, stream)
    made, answer = LOOPS[frontend](proxy.url, stream)
    assert made == EXPECTED_CALLS
    assert "75.2" in answer, answer
    check_backend_saw_paired_results(backend, stream)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("frontend", list(LOOPS))
def test_live_sdk_tool_loop_through_the_proxy(
    frontend: str, stream: bool, live: bool, start_proxy: Callable[..., RunningProxy]
) -> None:
    """`--live`: a two-round tool loop (weather lookup, then the answer) through each
    frontend against the real local llama.cpp server."""
    if not live:
        pytest.skip("live tier: run with --live (starts ../shared/tools/local-llm)")
    from langchain_bhumi.proxy.config import single_backend
    from tests.support import cassettes

    cassettes.ensure_local_llm()
    proxy = start_proxy(
        single_backend(f"llamacpp/{cassettes.LOCAL_MODEL}", base_url=cassettes.LOCAL_LLM_URL)
    )
    made, answer = LOOPS[frontend](proxy.url, stream, WEATHER_SCENARIO)
    assert made == [("get_weather", {"city": "Tokyo"})]
    assert "24" in answer, answer
