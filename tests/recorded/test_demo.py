"""Agents over recorded real streams: the demo's create_agent run, non-streamed, and LangGraph.

The streamed create_agent run is the cassette `langchain-bhumi demo` replays offline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_bhumi import ChatBhumi, _demo
from langchain_bhumi.demo_tools import DEMO_TOOLS
from langchain_bhumi.replay import replay_clients
from tests.support.cassettes import LOCAL

pytestmark = pytest.mark.vcr


class Collect:
    """A renderer that keeps what the demo would print."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.calls: list[str] = []
        self.args: list[str] = []
        self.results: list[tuple[str, str]] = []

    def round_started(self, number: int) -> None:
        pass

    def text(self, piece: str) -> None:
        self.pieces.append(piece)

    def tool_call_started(self, name: str) -> None:
        self.calls.append(name)
        self.args.append("")

    def tool_args(self, piece: str) -> None:
        self.args[-1] += piece

    def tool_result(self, name: str, content: str) -> None:
        self.results.append((name, content))


def check_tool_loop(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Every tool result answers a call made before it; the weather was looked up for Tokyo;
    the final answer gives the Fahrenheit temperature. Returns the calls made."""
    calls: dict[str, dict[str, Any]] = {}
    answered: list[str] = []
    for message in messages:
        if isinstance(message, AIMessage):
            assert not message.invalid_tool_calls, message.invalid_tool_calls
            calls.update({c["id"]: c for c in message.tool_calls})
        elif isinstance(message, ToolMessage):
            assert message.tool_call_id in calls, "a tool result answers no call"
            answered.append(message.tool_call_id)
    assert sorted(answered) == sorted(calls), "every call gets exactly one result"
    made = list(calls.values())
    assert any(
        c["name"] == "get_weather" and c["args"].get("city", "").lower() == "tokyo" for c in made
    )
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert "75" in final.text, final.text  # 24 °C is 75.2 °F
    return made


@pytest.mark.default_cassette("agent")
def test_demo_agent_streams_tool_calls(make_llm: Callable[..., ChatBhumi], target: Any) -> None:
    """The demo: create_agent with stream_mode="messages", several rounds of tool calls."""
    llm = make_llm(**(_demo.RECORDED_PARAMS if target == LOCAL else {}))
    shown = Collect()
    run = _demo.run_agent(_demo.build_agent(llm), _demo.QUESTION, shown)  # type: ignore[arg-type]

    assert run.rounds >= 2 and len(run.tool_calls) >= 2
    made = check_tool_loop([HumanMessage(_demo.QUESTION), *run.messages])
    assert [c["name"] for c in made] == shown.calls  # each call was shown as it streamed...
    assert [c["args"] for c in made] == [json.loads(a) for a in shown.args]  # ...args too
    assert run.input_tokens > 0 and run.output_tokens > 0
    assert run.time_to_first_token is not None


@pytest.mark.default_cassette("agent_invoke")
def test_agent_without_streaming_makes_the_same_calls(
    make_llm: Callable[..., ChatBhumi], target: Any, vcr_cassette_dir: str
) -> None:
    """agent.invoke (no streaming) over the same question makes the same tool calls."""
    llm = make_llm(**(_demo.RECORDED_PARAMS if target == LOCAL else {}))
    result = _demo.build_agent(llm).invoke({"messages": [("user", _demo.QUESTION)]})
    made = check_tool_loop(result["messages"])

    streamed_cassette = Path(vcr_cassette_dir) / "agent.yaml"  # test_demo_agent_streams_tool_calls
    client, aclient = replay_clients(streamed_cassette)
    replayed = make_llm(
        **(_demo.RECORDED_PARAMS if target == LOCAL else {}),
        http_client=client,
        http_async_client=aclient,
    )
    streamed = _demo.run_agent(_demo.build_agent(replayed), _demo.QUESTION, Collect())  # type: ignore[arg-type]
    assert [(c["name"], c["args"]) for c in made] == [
        (c["name"], c["args"]) for c in streamed.tool_calls
    ]


@pytest.mark.default_cassette("langgraph")
def test_langgraph_tool_loop(make_llm: Callable[..., ChatBhumi], target: Any) -> None:
    """A hand-built LangGraph loop (model node, ToolNode, tools_condition), streamed."""
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    llm = make_llm(**(_demo.RECORDED_PARAMS if target == LOCAL else {})).bind_tools(
        list(DEMO_TOOLS)
    )

    def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [llm.invoke([("system", _demo.SYSTEM_PROMPT), *state["messages"]])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(list(DEMO_TOOLS)))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition, ["tools", END])
    graph.add_edge("tools", "model")
    app = graph.compile()

    streamed: list[Any] = []
    final_state = None
    for mode, data in app.stream(
        {"messages": [HumanMessage(_demo.QUESTION)]},
        {"recursion_limit": 17},
        stream_mode=["messages", "values"],
    ):
        if mode == "messages":
            streamed.append(data[0])
        else:
            final_state = data
    assert final_state is not None
    check_tool_loop(final_state["messages"])
    assert any(getattr(m, "tool_call_chunks", None) for m in streamed), "tool calls were streamed"
