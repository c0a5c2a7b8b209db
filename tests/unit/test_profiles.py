"""`ChatBhumi.profile`: what LangChain learns about the model it drives.

What a user notices: `create_agent(..., response_format=Schema)` using a forced tool call
on a model that has native structured output (or the reverse, on one that has not), the
summarization middleware asking for `max_input_tokens`, a warning about unknown profile
keys, or a model that cannot be built because nothing is known about it.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import ModelProfile
from pydantic import BaseModel

from langchain_bhumi import ChatBhumi
from langchain_bhumi.profiles import CONSERVATIVE, model_profile
from tests.support.server import ScriptedServer
from tests.support.wire import openai_answer

DATA = Path(__file__).resolve().parents[2] / "langchain_bhumi" / "model_profiles.json"


def build(model: str, **kwargs: Any) -> ChatBhumi:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unrecognised profile key would warn
        warnings.simplefilter("ignore", ResourceWarning)  # other tests' pools, collected here
        return ChatBhumi(model=model, api_key="k", **kwargs)


@pytest.mark.parametrize(
    ("model", "context", "structured"),
    [
        ("openai/gpt-4o-mini", 128_000, True),
        ("openai/gpt-4o-mini-2024-07-18", 128_000, True),  # dated names fall back
        ("anthropic/claude-sonnet-4-5", 200_000, True),
        ("gemini/gemini-2.5-flash", 1_048_576, True),
        ("google/gemini-2.5-flash", 1_048_576, True),
        ("vertex/gemini-2.5-flash", 1_048_576, True),
        ("gemini/models/gemini-2.5-flash", 1_048_576, True),
    ],
)
def test_known_models(model: str, context: int, structured: bool) -> None:
    profile = build(model, base_url="http://127.0.0.1:9" if "vertex" in model else None).profile
    assert profile is not None
    assert profile["max_input_tokens"] == context
    assert profile["structured_output"] is structured
    assert profile["tool_calling"] is True
    assert profile["tool_call_streaming"] is True
    assert profile["image_tool_message"] is profile["image_inputs"]


def test_local_servers_say_what_the_server_guarantees() -> None:
    profile = build(
        "llamacpp/qwen2.5-coder-1.5b-instruct", base_url="http://127.0.0.1:8080"
    ).profile
    assert profile is not None
    assert profile["structured_output"] is True  # llama-server enforces the schema
    assert profile["tool_calling"] is True
    assert "max_input_tokens" not in profile  # the server's own setting
    assert "image_inputs" not in profile  # depends on the model it loaded


@pytest.mark.parametrize(
    "model", ["openai/my-finetune", "together/meta-llama/Llama-3-8B", "acme/x", "groq/new-one"]
)
def test_unknown_models_get_a_conservative_profile(model: str) -> None:
    base_url = "http://127.0.0.1:9" if model.startswith("acme") else None
    assert build(model, base_url=base_url).profile == CONSERVATIVE


def test_a_profile_given_by_the_caller_wins() -> None:
    mine: ModelProfile = {"max_input_tokens": 32_768, "structured_output": True}
    assert build("openai/my-finetune", profile=mine).profile == mine


def test_a_copy_for_another_model_gets_that_models_profile() -> None:
    llm = build("openai/gpt-4o-mini")
    other = llm.model_copy(update={"model": "anthropic/claude-opus-4-6"})
    assert other.profile is not None and other.profile["max_input_tokens"] == 1_000_000
    same = llm.model_copy(update={"temperature": 0.5})
    assert same.profile == llm.profile


def test_structured_output_is_claimed_only_where_the_format_can_ask_for_it() -> None:
    assert model_profile("anthropic", "claude-sonnet-4-5")["structured_output"] is True
    older = model_profile("anthropic", "claude-sonnet-4-5", native_json_schema=False)
    assert older["structured_output"] is False


def test_the_data_file_holds_only_fields_langchain_core_declares() -> None:
    declared = set(get_type_hints(ModelProfile))
    data = json.loads(DATA.read_text())
    for provider, models in data["providers"].items():
        assert models, provider
        for name, profile in models.items():
            assert set(profile) <= declared, (provider, name)


class Answer(BaseModel):
    city: str
    country: str


def _run_agent(server: ScriptedServer, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """The first request an agent with `response_format=Answer` sends, and its answer."""
    llm = ChatBhumi(
        model="llamacpp/qwen2.5", base_url=server.url, streaming=True, max_retries=0, **kwargs
    )
    agent = create_agent(llm, tools=[], response_format=Answer)
    state = agent.invoke({"messages": [("user", "Capital of France?")]})
    return server.received[0].json(), state["structured_response"]


@pytest.mark.skipif(
    tuple(int(part) for part in version("langchain").split(".")[:2]) < (1, 1),
    reason="langchain 1.0's create_agent picks the strategy by model name, not model.profile",
)
def test_create_agent_uses_native_structured_output_when_the_profile_says_so(
    server: ScriptedServer,
) -> None:
    server.enqueue(openai_answer('{"city": "Paris", "country": "France"}'))
    body, answer = _run_agent(server)
    assert body["response_format"]["type"] == "json_schema"
    assert "tools" not in body
    assert answer == Answer(city="Paris", country="France")


def test_create_agent_falls_back_to_a_tool_when_the_profile_says_no(
    server: ScriptedServer,
) -> None:
    server.enqueue(
        openai_answer(calls=(("call_1", "Answer", {"city": "Paris", "country": "France"}),))
    )
    body, answer = _run_agent(server, profile={"structured_output": False, "tool_calling": True})
    assert "response_format" not in body
    assert [t["function"]["name"] for t in body["tools"]] == ["Answer"]
    assert answer == Answer(city="Paris", country="France")
