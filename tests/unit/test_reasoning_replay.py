"""Earlier turns' reasoning goes back where each provider documents it must, and nowhere else.

What a user notices: DeepSeek's thinking mode answers the second request of a tool loop
with HTTP 400 "The reasoning_content in the thinking mode must be passed back to the
API" when the turn that made the calls lacks it; Kimi with "reasoning_content is missing
in assistant tool call message" (and counts `""` as missing); a strict server answers 400
to a field it does not know.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_bhumi import ChatBhumi
from langchain_bhumi.client import ProviderClient
from langchain_bhumi.protocols import ChatRequest
from langchain_bhumi.providers import resolve_provider
from tests.support.server import ScriptedServer
from tests.support.wire import openai_answer

KEY = "sk-test-0123456789abcdef"
THOUGHT_BEFORE_CALL = "I should look the weather up."
THOUGHT_BEFORE_TEXT = "The tool says sunny."


def conversation() -> list[BaseMessage]:
    """A tool round with reasoning, a text answer with reasoning, then a tool round from
    a provider that gave no reasoning. Wire positions: 1, 3 and 5 are the assistant turns."""
    return [
        HumanMessage("Weather in Paris?"),
        AIMessage(
            "",
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
            additional_kwargs={"reasoning_content": THOUGHT_BEFORE_CALL},
        ),
        ToolMessage("sunny", tool_call_id="call_1"),
        AIMessage("Sunny.", additional_kwargs={"reasoning_content": THOUGHT_BEFORE_TEXT}),
        HumanMessage("And Rome?"),
        AIMessage(
            "", tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "call_2"}]
        ),
        ToolMessage("sunny", tool_call_id="call_2"),
    ]


def assistant_turns(provider: str, **fields: Any) -> list[dict[str, Any]]:
    client = ProviderClient.connect(resolve_provider(provider), api_key=KEY)
    request = ChatRequest(model="m", messages=conversation(), **fields)
    messages = client.http_request(request).body["messages"]
    return [messages[1], messages[3], messages[5]]


def reasoning_of(turns: list[dict[str, Any]], field: str = "reasoning_content") -> list[Any]:
    return [turn.get(field) for turn in turns]


@pytest.mark.parametrize(
    ("provider", "field", "expected"),
    [
        # Required on tool-call turns; `""` stands in for a turn without reasoning.
        ("deepseek", "reasoning_content", [THOUGHT_BEFORE_CALL, None, ""]),
        # The same, but Kimi refuses `""`: a single space is the least it accepts.
        ("moonshot", "reasoning_content", [THOUGHT_BEFORE_CALL, None, " "]),
        # GLM's interleaved thinking: returned with the tool results, never required.
        ("zai", "reasoning_content", [THOUGHT_BEFORE_CALL, None, None]),
        # Ollama's /v1 and current vLLM read `reasoning` (and ignore reasoning_content).
        ("ollama", "reasoning", [THOUGHT_BEFORE_CALL, None, None]),
        ("vllm", "reasoning", [THOUGHT_BEFORE_CALL, None, None]),
        # llama.cpp hands every turn's reasoning to the template, which keeps what it needs.
        ("llamacpp", "reasoning_content", [THOUGHT_BEFORE_CALL, THOUGHT_BEFORE_TEXT, None]),
    ],
)
def test_reasoning_goes_back_as_each_provider_documents(
    provider: str, field: str, expected: list[Any]
) -> None:
    turns = assistant_turns(provider)
    assert reasoning_of(turns, field) == expected
    other = "reasoning" if field == "reasoning_content" else "reasoning_content"
    assert reasoning_of(turns, other) == [None, None, None]


@pytest.mark.parametrize("provider", ["openai", "groq", "mistral", "openrouter", "xai"])
def test_servers_that_do_not_take_reasoning_never_get_it(provider: str) -> None:
    turns = assistant_turns(provider)
    assert all("reasoning_content" not in t and "reasoning" not in t for t in turns)


def test_a_request_can_force_it_on_or_off() -> None:
    assert reasoning_of(assistant_turns("openai", send_reasoning=True)) == [
        THOUGHT_BEFORE_CALL,
        THOUGHT_BEFORE_TEXT,
        None,
    ]
    assert reasoning_of(assistant_turns("deepseek", send_reasoning=True)) == [
        THOUGHT_BEFORE_CALL,
        THOUGHT_BEFORE_TEXT,
        "",
    ]
    assert reasoning_of(assistant_turns("deepseek", send_reasoning=False)) == [None, None, None]


@pytest.mark.parametrize(
    ("send_reasoning", "expected"),
    [
        (None, [THOUGHT_BEFORE_CALL, None, ""]),
        (False, [None, None, None]),
        (True, [THOUGHT_BEFORE_CALL, THOUGHT_BEFORE_TEXT, ""]),
    ],
)
def test_chat_bhumi_send_reasoning_reaches_the_request(
    server: ScriptedServer, send_reasoning: bool | None, expected: list[Any]
) -> None:
    server.enqueue(openai_answer("ok"))
    llm = ChatBhumi(
        model="deepseek/deepseek-chat",
        base_url=server.url,
        api_key=KEY,
        send_reasoning=send_reasoning,
        streaming=True,
    )
    llm.invoke(conversation())
    messages = server.received[0].json()["messages"]
    assert reasoning_of([messages[1], messages[3], messages[5]]) == expected


def test_gemini_gets_thought_parts_only_when_forced() -> None:
    def parts(**fields: Any) -> list[dict[str, Any]]:
        client = ProviderClient.connect(resolve_provider("gemini"), api_key=KEY)
        body = client.http_request(ChatRequest(model="m", messages=conversation(), **fields)).body
        return [p for c in body["contents"] for p in c["parts"] if p.get("thought")]

    assert parts() == []
    assert [p["text"] for p in parts(send_reasoning=True)] == [
        THOUGHT_BEFORE_CALL,
        THOUGHT_BEFORE_TEXT,
    ]
