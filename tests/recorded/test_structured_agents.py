"""`create_agent(..., response_format=Schema)` against real servers: the model's profile
decides between the provider's native structured output (`ProviderStrategy`: the answer
is JSON text) and a forced tool call (`ToolStrategy`: a call to a tool named after the
schema), and either way the agent returns the parsed object.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from langchain_bhumi import ChatBhumi
from langchain_bhumi.demo_tools import get_weather

pytestmark = pytest.mark.vcr

Factory = Callable[..., ChatBhumi]
QUESTION = {"messages": [("user", "What is the capital of France?")]}


class Capital(BaseModel):
    """The capital city of a country."""

    city: str
    country: str


def strategy(messages: list[BaseMessage]) -> str:
    """ "tool" when the structured answer came as a call to the schema's tool, else
    "provider" (the last message is the JSON answer itself)."""
    calls = [c["name"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    if "Capital" in calls:
        return "tool"
    last = messages[-1]
    assert isinstance(last, AIMessage)
    json.loads(last.text)
    return "provider"


def check(state: dict[str, Any]) -> None:
    answer = state["structured_response"]
    assert isinstance(answer, Capital)
    assert (answer.city.lower(), answer.country.lower()) == ("paris", "france")


def test_the_profile_picks_native_structured_output(make_llm: Factory) -> None:
    llm = make_llm()
    assert llm.profile is not None
    state = create_agent(llm, tools=[], response_format=Capital).invoke(QUESTION)
    check(state)
    native = bool(llm.profile.get("structured_output"))
    assert strategy(state["messages"]) == ("provider" if native else "tool")


def test_a_profile_without_structured_output_gets_a_tool_call(make_llm: Factory) -> None:
    llm = make_llm(profile={"structured_output": False, "tool_calling": True})
    state = create_agent(llm, tools=[], response_format=Capital).invoke(QUESTION)
    check(state)
    assert strategy(state["messages"]) == "tool"


def test_structured_output_beside_a_tool(make_llm: Factory) -> None:
    """With tools bound too (the model may call them first), the answer is still parsed."""
    state = create_agent(make_llm(), tools=[get_weather], response_format=Capital).invoke(QUESTION)
    check(state)
