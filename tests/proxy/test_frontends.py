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
from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.demo_tools import calculate, convert_units, get_weather
from langchain_bhumi.proxy.config import ProxyConfig, parse_config, single_backend
from tests.proxy.conftest import DEMO, RunningProxy, recorded_rounds
from tests.support.server import Received, Scripted, ScriptedServer
from tests.support.wire import anthropic_answer, gemini_answer, openai_answer, responses_answer

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
    url: str,
    stream: bool,
    scenario: Scenario = DEMO_SCENARIO,
    rounds: list[Any] | None = None,
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The Responses API tool loop as codex runs it: stateless (`store: false`), the whole
    history re-sent each round with the output items echoed back verbatim. Streaming goes
    through the SDK's strict `responses.stream()` helper, which checks the event order.
    Each round's `Response` is appended to `rounds` when given."""
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
        if rounds is not None:
            rounds.append(response)
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


# --- the Responses API over the other backend formats --------------------------------------

WEATHER_ANSWER = "It is 24 °C and sunny in Tokyo."
BACKEND_ANSWERS = {"anthropic": anthropic_answer, "gemini": gemini_answer}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("backend_format", list(BACKEND_ANSWERS))
def test_responses_tool_loop_over_anthropic_and_gemini(
    backend_format: str,
    stream: bool,
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
) -> None:
    """A Responses client (codex's request shape) against a Claude or Gemini backend:
    the call comes back as a `function_call` item, its output reaches the backend paired
    with that call (Anthropic by the client's `call_id`; Gemini, which has no ids, by name
    right after the call), and the answer and usage come back in Responses form."""
    answer = BACKEND_ANSWERS[backend_format]
    backend.enqueue(
        answer(calls=(("toolu_1", "get_weather", {"city": "Tokyo"}),), stream=stream),
        answer(WEATHER_ANSWER, stream=stream),
    )
    model = {"anthropic": "anthropic/claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-flash"}
    proxy = start_proxy(
        single_backend(model[backend_format], base_url=backend.url, api_key="backend-key")
    )
    rounds: list[Any] = []

    made, text = responses_loop(proxy.url, stream, WEATHER_SCENARIO, rounds)

    assert made == [("get_weather", {"city": "Tokyo"})]
    assert text == WEATHER_ANSWER
    for response in rounds:
        usage = response.usage
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (10, 5, 15)
    (call,) = [item for item in rounds[0].output if item.type == "function_call"]
    output = run_tool("get_weather", {"city": "Tokyo"})
    _, second = backend.received
    if backend_format == "anthropic":
        assert [r.json().get("stream", False) for r in backend.received] == [stream, stream]
        assert call.call_id == "toolu_1"  # the backend's id, unchanged
        assistant, results = second.json()["messages"][-2:]
        assert assistant["content"] == [
            {
                "type": "tool_use",
                "id": call.call_id,
                "name": "get_weather",
                "input": {"city": "Tokyo"},
            }
        ]
        assert results["content"] == [
            {"type": "tool_result", "tool_use_id": call.call_id, "content": output}
        ]
    else:
        streamed = [":streamGenerateContent" in r.path for r in backend.received]
        assert streamed == [stream, stream]
        assert call.call_id  # made up by the proxy: Gemini sends none
        model_turn, results = second.json()["contents"][-2:]
        assert model_turn["parts"] == [
            {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}}
        ]
        assert results["parts"] == [
            {"functionResponse": {"name": "get_weather", "response": {"output": output}}}
        ]


# --- the Responses API over a Responses backend ----------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_responses_backend_gets_its_reasoning_back_on_the_next_round(
    stream: bool, backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    """A reasoning model's chain of thought survives a tool round through the proxy: the
    backend's reasoning item, with its `encrypted_content`, comes back to it on round 2
    right before the call it led to (with that call's item id, which OpenAI pairs it
    with), and the call's output after them."""
    backend.enqueue(
        responses_answer(
            calls=(("call_1", "get_weather", {"city": "Tokyo"}),),
            reasoning=("Look the weather up.", "ENC-1"),
            stream=stream,
        ),
        responses_answer(
            WEATHER_ANSWER, reasoning=("Answer.", "ENC-2"), response_id="resp_2", stream=stream
        ),
    )
    proxy = start_proxy(
        single_backend("openai/gpt-5-codex", base_url=backend.url, api_key="backend-key")
    )

    made, text = responses_loop(proxy.url, stream, WEATHER_SCENARIO)

    assert made == [("get_weather", {"city": "Tokyo"})]
    assert text == WEATHER_ANSWER
    second = backend.received[1].json()["input"]
    kinds = [item["type"] for item in second]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    _, reasoning, call, output = second
    assert reasoning["id"] == "rs_resp_1"
    assert reasoning["encrypted_content"] == "ENC-1"
    assert (call["id"], call["call_id"]) == ("fc_call_1", "call_1")
    assert output["call_id"] == "call_1"


def test_a_hosted_tool_the_client_runs_round_trips_through_the_proxy(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    """codex's client-side `tool_search` against a Responses backend: the tool reaches the
    backend, the backend's `tool_search_call` reaches the client as an output item it can
    act on, and the client's `tool_search_output` goes back after the call and the
    reasoning that led to it."""
    openai = pytest.importorskip("openai")
    search = {
        "type": "tool_search_call",
        "id": "tsc_1",
        "call_id": "ts_1",
        "execution": "client",
        "arguments": {"query": "weather"},
        "status": "completed",
    }
    backend.enqueue(
        responses_answer(reasoning=("Find a tool.", "ENC-1"), hosted=(search,)),
        responses_answer(WEATHER_ANSWER, response_id="resp_2"),
    )
    proxy = start_proxy(
        single_backend("openai/gpt-5-codex", base_url=backend.url, api_key="backend-key")
    )
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="client-key", max_retries=0)
    tools: list[Any] = [{"type": "tool_search", "execution": "client"}]
    items: list[Any] = [{"role": "user", "content": "Weather in Tokyo?"}]
    options: dict[str, Any] = {"model": "gpt-5-codex", "tools": tools, "store": False}

    with client.responses.stream(input=items, **options) as events:
        first = events.get_final_response()
    (asked,) = [item for item in first.output if item.type == "tool_search_call"]
    assert (asked.call_id, asked.arguments) == ("ts_1", {"query": "weather"})
    items.extend(item.model_dump(exclude_none=True) for item in first.output)
    answer = {"type": "tool_search_output", "call_id": "ts_1", "execution": "client", "tools": []}
    items.append(answer)
    with client.responses.stream(input=items, **options) as events:
        assert events.get_final_response().output_text == WEATHER_ANSWER

    sent_first, sent_second = (r.json() for r in backend.received)
    assert sent_first["tools"] == tools
    kinds = [item["type"] for item in sent_second["input"]]
    assert kinds == ["message", "reasoning", "tool_search_call", "tool_search_output"]
    assert sent_second["input"][1]["encrypted_content"] == "ENC-1"
    assert sent_second["input"][2] == search
    assert sent_second["input"][3] == answer


# --- which API an OpenAI-compatible backend is sent -----------------------------------------


def answer_in_kind(request: Received) -> Scripted:
    """ "ok" in the API the request was sent to."""
    if request.path.endswith("/responses"):
        return responses_answer("ok")
    return openai_answer("ok")


@pytest.mark.parametrize(
    ("provider", "use_responses_api", "model", "path"),
    [
        ("openai", None, "gpt-5-codex", "/v1/responses"),  # served only there
        ("openai", None, "o3-pro", "/v1/responses"),
        ("openai", None, "gpt-5", "/v1/chat/completions"),
        ("openai", False, "gpt-5-codex", "/v1/chat/completions"),  # the backend said so
        ("openai", True, "gpt-5", "/v1/responses"),
        ("llamacpp", True, "qwen2.5-coder", "/v1/responses"),  # any compatible server
        ("llamacpp", None, "gpt-5-codex", "/v1/chat/completions"),  # not known to serve it
    ],
)
@pytest.mark.parametrize("frontend", ["responses", "openai"])
def test_an_openai_compatible_backend_is_sent_the_api_the_model_needs(
    frontend: str,
    provider: str,
    use_responses_api: bool | None,
    model: str,
    path: str,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
) -> None:
    openai = pytest.importorskip("openai")
    table: dict[str, Any] = {"provider": provider, "api_key": "backend-key"}
    if use_responses_api is not None:
        table["use_responses_api"] = use_responses_api
    with ScriptedServer(responder=answer_in_kind) as server:
        table["base_url"] = server.url
        proxy = start_proxy(parse_config({"backends": {"up": table}}))
        client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="client-key", max_retries=0)
        if frontend == "responses":
            with client.responses.stream(model=f"up/{model}", input="hi", store=False) as events:
                text = events.get_final_response().output_text
        else:
            chunks = client.chat.completions.create(
                model=f"up/{model}", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert [r.path for r in server.received] == [path]
        assert server.received[0].json()["model"] == model
    assert text == "ok"


def test_use_responses_api_must_be_a_boolean() -> None:
    with pytest.raises(ConfigurationError, match="use_responses_api must be true or false"):
        parse_config({"backends": {"up": {"provider": "openai", "use_responses_api": "yes"}}})
