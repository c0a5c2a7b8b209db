"""Whole agent conversations: several turns on one checkpointed thread, across providers.

What an agent user notices: a turn that silently replaces an earlier message, a tool
result sent back under an id the provider never issued, a thread that cannot continue
on another provider.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_bhumi import ChatBhumi
from langchain_bhumi.core.errors import BadRequestError
from tests.support.server import Scripted, ScriptedServer
from tests.support.wire import (
    ANSWERS,
    MODELS,
    MistralServer,
    ResponsesServer,
    mistral_answer,
    responses_answer,
)

KEY = "sk-test-0123456789abcdef"


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"{city}: sunny, 21 C"


MCP_TOOL = "mcp__weather_service__get_current_conditions_for_city_name"


@tool(MCP_TOOL)
def current_conditions(city: str) -> str:
    """Current conditions for a city (a tool from an MCP server, named as agents name them)."""
    return f"{city}: cloudy, 12 C"


KIMI_ID = f"functions.{MCP_TOOL}:0"
"""Kimi's call id, `functions.<tool name>:<n>`: 70 characters for this tool."""


def model(family: str, server: ScriptedServer) -> ChatBhumi:
    """A model that streams under `invoke` too, as agents usually run: a wire family's
    (`MODELS`) or a model string (`"mistral/mistral-large-latest"`)."""
    name = MODELS.get(family, family)
    return ChatBhumi(model=name, base_url=server.url, api_key=KEY, max_retries=0, streaming=True)


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
def test_a_repeated_response_id_never_overwrites_agent_history(
    family: str, server: ScriptedServer
) -> None:
    answer = ANSWERS[family]
    same = {"openai": "chatcmpl-same", "anthropic": "msg_same", "gemini": "same"}[family]
    server.enqueue(
        answer(calls=(("call_1", "get_weather", {"city": "Paris"}),), response_id=same),
        answer("Sunny in Paris.", response_id=same),
        answer("You asked about Paris.", response_id=same),
    )
    agent = create_agent(model(family, server), tools=[get_weather], checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}}

    agent.invoke({"messages": [("user", "Weather in Paris?")]}, thread)
    state = agent.invoke({"messages": [("user", "Which city did I ask about?")]}, thread)

    messages = state["messages"]
    assert [type(m) for m in messages] == [
        HumanMessage,
        AIMessage,
        ToolMessage,
        AIMessage,
        HumanMessage,
        AIMessage,
    ]
    assert messages[1].tool_calls[0]["name"] == "get_weather"
    assert messages[2].content == "Paris: sunny, 21 C"
    assert (messages[3].text, messages[5].text) == ("Sunny in Paris.", "You asked about Paris.")
    assert len({m.id for m in messages}) == len(messages)
    assert {m.response_metadata["id"] for m in messages if isinstance(m, AIMessage)} == {same}
    # The third request carried the whole first turn.
    assert len(server.received) == 3


@pytest.mark.parametrize("streaming", [False, True])
def test_stream_and_invoke_give_run_ids_and_keep_the_provider_id(
    streaming: bool, server: ScriptedServer
) -> None:
    if streaming:
        server.enqueue(ANSWERS["openai"]("hi", response_id="chatcmpl-7"))
    else:
        server.enqueue(
            Scripted.json(
                {
                    "id": "chatcmpl-7",
                    "object": "chat.completion",
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "hi"},
                            "finish_reason": "stop",
                        }
                    ],
                }
            )
        )
    llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY, streaming=streaming)
    message = llm.invoke("hello")
    assert message.id is not None and message.id.startswith("lc_run-")
    assert message.response_metadata["id"] == "chatcmpl-7"


def test_one_thread_moves_across_three_providers() -> None:
    """A tool round on OpenAI, one on Anthropic, the answer from Gemini: one history."""
    checkpointer = InMemorySaver()
    thread: dict[str, Any] = {"configurable": {"thread_id": "moving"}}
    with ScriptedServer() as openai, ScriptedServer() as anthropic, ScriptedServer() as gemini:
        openai.enqueue(
            ANSWERS["openai"](calls=(("call_abc", "get_weather", {"city": "Paris"}),)),
            ANSWERS["openai"]("Paris is sunny."),
        )
        anthropic.enqueue(
            ANSWERS["anthropic"](calls=(("toolu_01", "get_weather", {"city": "Rome"}),)),
            ANSWERS["anthropic"]("Rome is sunny too."),
        )
        gemini.enqueue(ANSWERS["gemini"]("Both are sunny."))

        def run(family: str, server: ScriptedServer, text: str) -> list[Any]:
            agent = create_agent(
                model(family, server), tools=[get_weather], checkpointer=checkpointer
            )
            return list(agent.invoke({"messages": [("user", text)]}, thread)["messages"])

        run("openai", openai, "Paris?")
        run("anthropic", anthropic, "Rome?")
        messages = run("gemini", gemini, "Both?")

    assert [type(m).__name__ for m in messages] == [
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage",
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage",
        "HumanMessage", "AIMessage",
    ]  # fmt: skip
    assert len({m.id for m in messages}) == len(messages)

    # Anthropic got the OpenAI round with a valid tool_use id, and its result paired to it.
    sent = anthropic.received[0].json()["messages"]
    tool_use = next(
        b for m in sent for b in m["content"] if isinstance(b, dict) and b["type"] == "tool_use"
    )
    tool_result = next(
        b for m in sent for b in m["content"] if isinstance(b, dict) and b["type"] == "tool_result"
    )
    assert tool_use["id"] == tool_result["tool_use_id"]
    assert tool_use["input"] == {"city": "Paris"}

    # Gemini got both rounds: two function calls, each answered by name.
    contents = gemini.received[0].json()["contents"]
    calls = [p["functionCall"]["name"] for c in contents for p in c["parts"] if "functionCall" in p]
    results = [
        p["functionResponse"]["name"]
        for c in contents
        for p in c["parts"]
        if "functionResponse" in p
    ]
    assert calls == results == ["get_weather", "get_weather"]


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_parallel_calls_that_share_one_id_both_run(family: str, server: ScriptedServer) -> None:
    """Two calls under one provider id: the agent runs both tools, and each result goes
    back paired with its own call."""
    calls = (
        ("call_same", "get_weather", {"city": "Paris"}),
        ("call_same", "get_weather", {"city": "Tokyo"}),
    )
    server.enqueue(ANSWERS[family](calls=calls), ANSWERS[family]("Both sunny."))
    agent = create_agent(model(family, server), tools=[get_weather])

    messages = agent.invoke({"messages": [("user", "Paris and Tokyo?")]})["messages"]

    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert sorted(m.content for m in results) == ["Paris: sunny, 21 C", "Tokyo: sunny, 21 C"]
    ids = [c["id"] for c in messages[1].tool_calls]
    assert ids[0] != ids[1]
    assert sorted(m.tool_call_id for m in results) == sorted(ids)

    sent = server.received[1].json()["messages"]
    if family == "openai":
        sent_calls = [c["id"] for m in sent if m["role"] == "assistant" for c in m["tool_calls"]]
        sent_results = [m["tool_call_id"] for m in sent if m["role"] == "tool"]
    else:
        blocks = [b for m in sent if isinstance(m["content"], list) for b in m["content"]]
        sent_calls = [b["id"] for b in blocks if b["type"] == "tool_use"]
        sent_results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
    assert len(set(sent_calls)) == 2
    assert sorted(sent_calls) == sorted(sent_results)


def test_one_conversation_moves_through_openai_anthropic_mistral_gemini_kimi_and_responses() -> (
    None
):
    """Each provider gets the earlier turns' tool calls in ids it accepts, each result
    still paired with its call: Mistral, which refuses any id but 9 alphanumerics with a
    400, accepts every request, and sees the same ids for the same calls each time; so
    does the Responses API, which refuses a `call_id` over 64 characters (Kimi's id for
    an MCP tool has 70)."""
    checkpointer = InMemorySaver()
    thread: dict[str, Any] = {"configurable": {"thread_id": "four"}}
    responses_backend = ResponsesServer(
        responses_answer(calls=(("call_lisbon1", "get_weather", {"city": "Lisbon"}),)),
        responses_answer("Lisbon is sunny, Oslo cloudy."),
    )
    mistral_backend = MistralServer(
        mistral_answer(calls=(("D681PevKs", "get_weather", {"city": "Berlin"}),)),
        mistral_answer("Berlin is sunny."),
    )
    with (
        ScriptedServer() as openai,
        ScriptedServer() as anthropic,
        ScriptedServer(responder=mistral_backend) as mistral,
        ScriptedServer() as gemini,
        ScriptedServer() as kimi,
        ScriptedServer(responder=responses_backend) as responses,
    ):
        openai.enqueue(
            ANSWERS["openai"](
                calls=(("call_Vq3tJ2oXb8KfRz1mPy7sLw0a", "get_weather", {"city": "Paris"}),)
            ),
            ANSWERS["openai"]("Paris is sunny."),
        )
        anthropic.enqueue(
            ANSWERS["anthropic"](
                calls=(("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Rome"}),)
            ),
            ANSWERS["anthropic"]("Rome is sunny too."),
        )
        gemini.enqueue(ANSWERS["gemini"]("All three are sunny."))
        kimi.enqueue(
            ANSWERS["openai"](calls=((KIMI_ID, MCP_TOOL, {"city": "Oslo"}),)),
            ANSWERS["openai"]("Oslo is cloudy."),
        )
        models = {
            "openai": model("openai", openai),
            "anthropic": model("anthropic", anthropic),
            "mistral": model("mistral/mistral-large-latest", mistral),
            "gemini": model("gemini", gemini),
            "kimi": model("moonshot/kimi-k2-0905-preview", kimi),
            "responses": model("responses", responses),
        }

        def run(family: str, text: str) -> list[Any]:
            agent = create_agent(
                models[family],
                tools=[get_weather, current_conditions],
                checkpointer=checkpointer,
            )
            return list(agent.invoke({"messages": [("user", text)]}, thread)["messages"])

        run("openai", "Paris?")
        run("anthropic", "Rome?")
        history = run("mistral", "Berlin?")
        messages = run("gemini", "All three?")
        run("kimi", "Conditions in Oslo?")
        final = run("responses", "And Lisbon?")

        # The control: the same history with the ids as they are gets Mistral's 400.
        raw = ChatBhumi(
            model="openai/mistral-large", base_url=mistral.url, api_key=KEY, max_retries=0
        )
        with pytest.raises(BadRequestError, match="must be a-z, A-Z, 0-9, with a length of 9"):
            raw.invoke(history[:-2])
        long_call = {"type": "function_call", "call_id": KIMI_ID, "name": MCP_TOOL}
        control = httpx.post(f"{responses.url}/v1/responses", json={"input": [long_call]})
        assert control.status_code == 400
        assert "maximum length 64" in control.json()["error"]["message"]

    results = [m.content for m in messages if isinstance(m, ToolMessage)]
    assert results == ["Paris: sunny, 21 C", "Rome: sunny, 21 C", "Berlin: sunny, 21 C"]
    assert messages[-1].text == "All three are sunny."
    # The history keeps the ids each provider gave.
    ids = [c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    assert ids == ["call_Vq3tJ2oXb8KfRz1mPy7sLw0a", "toolu_01A09q90qw90lq917835lq9", "D681PevKs"]

    # Mistral: two requests, every id accepted, calls and results paired, same ids both times.
    assert mistral_backend.rejected == ["call_Vq3tJ2oXb8KfRz1mPy7sLw0a"]  # the control only
    sent = [request.json()["messages"] for request in mistral.received[:2]]
    pairs = []
    for wire in sent:
        calls = [c["id"] for m in wire if m.get("tool_calls") for c in m["tool_calls"]]
        results_sent = [m["tool_call_id"] for m in wire if m["role"] == "tool"]
        assert calls == results_sent and len(set(calls)) == len(calls)
        pairs.append(calls)
    assert len(pairs[0]) == 2 and pairs[1][:2] == pairs[0]
    assert pairs[1][2] == "D681PevKs"

    # Anthropic got the OpenAI call paired; Gemini all three, answered by name in order.
    blocks = [
        b
        for m in anthropic.received[0].json()["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
    ]
    assert [b["id"] for b in blocks if b["type"] == "tool_use"] == [
        b["tool_use_id"] for b in blocks if b["type"] == "tool_result"
    ]
    contents = gemini.received[0].json()["contents"]
    calls = [
        p["functionCall"]["args"]["city"]
        for c in contents
        for p in c["parts"]
        if "functionCall" in p
    ]
    answered = [
        p["functionResponse"]["name"]
        for c in contents
        for p in c["parts"]
        if "functionResponse" in p
    ]
    assert calls == ["Paris", "Rome", "Berlin"]
    assert answered == ["get_weather"] * 3

    # The Responses API: two requests, every call_id accepted, outputs paired, same ids.
    assert responses_backend.rejected == [KIMI_ID]  # the control only
    assert [m.content for m in final if isinstance(m, ToolMessage)][-2:] == [
        "Oslo: cloudy, 12 C",
        "Lisbon: sunny, 21 C",
    ]
    assert final[-1].text == "Lisbon is sunny, Oslo cloudy."
    assert [c["id"] for m in final if isinstance(m, AIMessage) for c in m.tool_calls][-2:] == [
        KIMI_ID,
        "call_lisbon1",
    ]
    sent_items = [request.json()["input"] for request in responses.received[:2]]
    sent_ids = []
    for items in sent_items:
        calls = [i["call_id"] for i in items if i["type"] == "function_call"]
        outputs = [i["call_id"] for i in items if i["type"] == "function_call_output"]
        assert calls == outputs and len(set(calls)) == len(calls)
        assert all(0 < len(call_id) <= 64 for call_id in calls)
        sent_ids.append(calls)
    assert len(sent_ids[0]) == 4 and sent_ids[1][:4] == sent_ids[0]
    # Ids that fit are sent as they are; Kimi's is shortened.
    assert sent_ids[0][:3] == ids
    assert sent_ids[0][3] != KIMI_ID
    assert sent_ids[1][4] == "call_lisbon1"
