"""Token counts: `get_num_tokens_from_messages`, `get_num_tokens`, `trim_messages`.

What a user notices: an `ImportError` (transformers) or a GPT-2 warning from
`trim_messages(token_counter=model)`, a count that needs the network when none was asked
for, or an image counted as a hundred thousand tokens because its base64 was measured.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core.exceptions import ModelAuthenticationError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import trim_messages

from langchain_bhumi import ChatBhumi
from langchain_bhumi.protocols.tokens import MEDIA_TOKENS, estimate_tokens
from tests.support.server import Scripted, ScriptedServer
from tests.unit._transport_support import closed_port

MODELS = [
    "openai/gpt-4o-mini",
    "anthropic/claude-sonnet-4-5",
    "gemini/gemini-2.5-flash",
    "groq/llama-3.3-70b-versatile",
    "llamacpp/qwen2.5",
]
CONVERSATION: list[BaseMessage] = [
    SystemMessage("You are terse."),
    HumanMessage("What is the capital of France?"),
    AIMessage("Paris."),
    HumanMessage("And of Italy?"),
]


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return "sunny"


def offline(model: str, **kwargs: Any) -> ChatBhumi:
    """A model whose server does not answer: any request would fail."""
    return ChatBhumi(
        model=model, base_url=f"http://127.0.0.1:{closed_port()}", api_key="k", **kwargs
    )


@pytest.mark.parametrize("model", MODELS)
def test_counts_work_offline_for_every_provider_without_warnings(model: str) -> None:
    llm = offline(model, max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "falling back to GPT-2" warning
        warnings.simplefilter("ignore", ResourceWarning)  # other tests' pools, collected here
        plain = llm.get_num_tokens_from_messages(CONVERSATION)
        with_tools = llm.get_num_tokens_from_messages(CONVERSATION, tools=[get_weather])
        longer = llm.get_num_tokens_from_messages([*CONVERSATION, HumanMessage("x " * 400)])
        text = llm.get_num_tokens("The quick brown fox jumps over the lazy dog.")
    assert 10 < plain < 200
    assert with_tools > plain
    assert longer >= plain + 200  # 800 more characters: about 200 more tokens
    assert 8 <= text <= 14  # 44 bytes at about 4 bytes a token


@pytest.mark.parametrize("model", MODELS)
def test_trim_messages_with_the_model_as_token_counter(model: str) -> None:
    llm = offline(model)
    history = [HumanMessage(f"question {i} " + "word " * 50) for i in range(20)]
    trimmed = trim_messages(history, token_counter=llm, max_tokens=400, strategy="last")
    assert 0 < len(trimmed) < len(history)
    assert trimmed[-1] is history[-1]
    assert llm.get_num_tokens_from_messages(trimmed) <= 400


def test_an_image_counts_as_an_image_not_as_its_base64() -> None:
    image = {"type": "image", "base64": "iVBORw0KGgo" + "A" * 200_000, "mime_type": "image/png"}
    question = [HumanMessage("What is in this picture?")]
    with_image = [HumanMessage([{"type": "text", "text": "What is in this picture?"}, image])]
    for model in MODELS[:3]:
        llm = offline(model)
        extra = llm.get_num_tokens_from_messages(with_image) - (
            llm.get_num_tokens_from_messages(question)
        )
        assert MEDIA_TOKENS <= extra < MEDIA_TOKENS + 40, model


def test_the_estimate() -> None:
    assert estimate_tokens({"text": "x" * 400}) == 103  # 412 bytes of JSON / 4
    assert estimate_tokens({}) == 1
    data_url = "data:image/png;base64," + "A" * 10_000
    assert estimate_tokens({"url": data_url}) == estimate_tokens({"url": ""}) + MEDIA_TOKENS
    prose = " ".join(["word"] * 2_000)  # long, but text: measured
    assert estimate_tokens({"text": prose}) > 2_000


def test_anthropic_counts_with_its_count_endpoint_when_asked(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json({"input_tokens": 1234}))
    llm = ChatBhumi(
        model="anthropic/claude-sonnet-4-5",
        base_url=server.url,
        api_key="sk-ant-test",
        token_counting="provider",
    )
    assert llm.get_num_tokens_from_messages(CONVERSATION, tools=[get_weather]) == 1234
    request = server.received[0]
    assert request.path == "/v1/messages/count_tokens"
    assert request.headers["x-api-key"] == "sk-ant-test"
    body = request.json()
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == "You are terse."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["tools"][0]["name"] == "get_weather"
    assert "max_tokens" not in body and "stream" not in body


def test_gemini_counts_with_count_tokens_when_asked(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json({"totalTokens": 99}))
    llm = ChatBhumi(
        model="gemini/gemini-2.5-flash",
        base_url=server.url,
        api_key="g-key",
        token_counting="provider",
    )
    assert llm.get_num_tokens("hello there") == 99
    request = server.received[0]
    assert request.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    inner = request.json()["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert inner["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]


def test_providers_without_a_count_endpoint_estimate_even_when_asked(
    server: ScriptedServer,
) -> None:
    llm = ChatBhumi(
        model="openai/gpt-4o-mini", base_url=server.url, api_key="k", token_counting="provider"
    )
    assert llm.get_num_tokens_from_messages(CONVERSATION) == offline(
        "openai/gpt-4o-mini"
    ).get_num_tokens_from_messages(CONVERSATION)
    assert not server.received


def test_a_failed_count_raises_a_typed_error(server: ScriptedServer) -> None:
    server.enqueue(
        Scripted.json(
            {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}},
            status=401,
        )
    )
    llm = ChatBhumi(
        model="anthropic/claude-sonnet-4-5",
        base_url=server.url,
        api_key="sk-ant-bad",
        token_counting="provider",
    )
    with pytest.raises(ModelAuthenticationError, match="bad key"):
        llm.get_num_tokens_from_messages(CONVERSATION)
