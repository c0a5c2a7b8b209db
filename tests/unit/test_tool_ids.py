"""Tool-call ids rewritten for providers with stricter rules, calls and results alike.

What a user notices: a conversation that started on one provider fails with HTTP 400 on
another ("Tool call id was call_abc but must be a-z, A-Z, 0-9, with a length of 9"), or a
tool result no longer pairs with its call. The whole-conversation test across four
providers is in test_conversations.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_bhumi.client import ProviderClient
from langchain_bhumi.core.tool_ids import ALPHANUMERIC, ToolIdMap, ToolIdRule
from langchain_bhumi.protocols import ChatRequest
from langchain_bhumi.protocols.anthropic.client import TOOL_IDS as ANTHROPIC
from langchain_bhumi.protocols.base import TOOL_CALL_EXTRAS
from langchain_bhumi.protocols.openai_responses.client import TOOL_IDS as RESPONSES
from langchain_bhumi.providers import MISTRAL_TOOL_IDS, OPENAI_TOOL_IDS, resolve_provider

MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")
ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]+")

# Ids as providers really write them, and the odd ones proxies produce.
SEEN_IDS = [
    "call_Vq3tJ2oXb8KfRz1mPy7sLw0a",  # OpenAI
    "toolu_01A09q90qw90lq917835lq9",  # Anthropic
    "functions.get_weather:0",  # Kimi
    "D681PevKs",  # Mistral
    "call_0",  # servers that number their calls
    "ws_689e2d4880a0819d98acca37694989b00b15d90494fc6b87",  # 51 characters
    "",  # a call the server gave no id
]
# Kimi writes `functions.<tool name>:<n>`: a 60-character MCP tool name makes it 72.
KIMI_LONG_ID = "functions.mcp__weather_service__get_current_conditions_for_city_name:0"
RULES = {
    "mistral": MISTRAL_TOOL_IDS,
    "anthropic": ANTHROPIC,
    "openai": OPENAI_TOOL_IDS,
    "responses": RESPONSES,
}
ids_text = st.text(min_size=0, max_size=80)


@pytest.mark.parametrize("rule", RULES.values(), ids=RULES.keys())
@given(call_id=ids_text)
def test_every_id_becomes_one_the_provider_accepts(rule: ToolIdRule, call_id: str) -> None:
    assert rule.accepts(ToolIdMap(rule)(call_id))


@pytest.mark.parametrize("rule", RULES.values(), ids=RULES.keys())
@given(call_id=ids_text)
def test_an_id_maps_the_same_way_in_every_request(rule: ToolIdRule, call_id: str) -> None:
    """Deterministic across requests: the provider sees the same earlier turns each time."""
    assert ToolIdMap(rule)(call_id) == ToolIdMap(rule)(call_id)


@pytest.mark.parametrize("rule", RULES.values(), ids=RULES.keys())
@given(call_ids=st.lists(ids_text, min_size=1, max_size=20, unique=True))
def test_distinct_ids_stay_distinct(rule: ToolIdRule, call_ids: list[str]) -> None:
    mapping = ToolIdMap(rule)
    sent = [mapping(call_id) for call_id in call_ids]
    assert len(set(sent)) == len(call_ids)
    assert [mapping(call_id) for call_id in call_ids] == sent  # a result finds its call


def test_accepted_ids_are_kept_and_others_rewritten() -> None:
    mistral = ToolIdMap(MISTRAL_TOOL_IDS)
    assert mistral("D681PevKs") == "D681PevKs"
    assert all(MISTRAL_ID.fullmatch(mistral(i)) for i in SEEN_IDS)
    anthropic = ToolIdMap(ANTHROPIC)
    assert anthropic("toolu_01A09q90qw90lq917835lq9") == "toolu_01A09q90qw90lq917835lq9"
    assert anthropic("functions.get_weather:0").startswith("functions_get_weather_0_")
    openai = ToolIdMap(OPENAI_TOOL_IDS)
    assert openai("call_0") == "call_0"
    long_id = "ws_689e2d4880a0819d98acca37694989b00b15d90494fc6b87"
    assert len(openai(long_id)) == 40 and openai(long_id).startswith("ws_689e2d")


class _CollidingRule(ToolIdRule):
    """A rule whose first rewrite of every id is the same: forces the collision path."""

    def rewrite(self, call_id: str, attempt: int = 0) -> str:
        return "AAAAAAAAA" if attempt == 0 else super().rewrite(call_id, attempt)


def test_a_collision_draws_another_id_and_pairs_still_hold() -> None:
    rule = _CollidingRule(alphabet=ALPHANUMERIC, length=9)
    mapping = ToolIdMap(rule)
    first, second, accepted = mapping("call_1"), mapping("call_2"), mapping("AAAAAAAAA")
    assert first == "AAAAAAAAA"
    assert len({first, second, accepted}) == 3
    assert (mapping("call_2"), mapping("AAAAAAAAA")) == (second, accepted)


def test_rules_refuse_alphabets_they_cannot_write() -> None:
    with pytest.raises(ValueError, match="alphabet"):
        ToolIdRule(alphabet=frozenset("abc"))
    with pytest.raises(ValueError, match="max_length"):
        ToolIdRule(max_length=5)


# --- request bodies, per provider ------------------------------------------------------


def history(call_ids: list[str]) -> list[BaseMessage]:
    """One assistant turn calling a tool under each id, then each result."""
    calls = [
        {"name": "get_weather", "args": {"city": f"c{n}"}, "id": call_id, "type": "tool_call"}
        for n, call_id in enumerate(call_ids)
    ]
    results = [ToolMessage(f"r{n}", tool_call_id=call_id) for n, call_id in enumerate(call_ids)]
    return [HumanMessage("weather?"), AIMessage("", tool_calls=calls), *results]


def body(
    provider: str, messages: list[BaseMessage], wire_format: str | None = None
) -> dict[str, Any]:
    client = ProviderClient.connect(resolve_provider(provider), api_key="sk-test")
    if wire_format is not None:
        client = client.speaking(wire_format)
    return client.http_request(ChatRequest(model="m", messages=messages)).body


def openai_pairs(sent: dict[str, Any]) -> tuple[list[str], list[str]]:
    messages = sent["messages"]
    calls = [c["id"] for m in messages if m.get("tool_calls") for c in m["tool_calls"]]
    results = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    return calls, results


def test_mistral_gets_nine_alphanumerics_on_calls_and_results() -> None:
    sent = body("mistral", history(SEEN_IDS[:-1]))
    calls, results = openai_pairs(sent)
    assert all(MISTRAL_ID.fullmatch(i) for i in calls)
    assert calls == results and len(set(calls)) == len(calls)
    assert calls[3] == "D681PevKs"  # Mistral's own id is kept


def test_openai_gets_ids_of_at_most_40_characters() -> None:
    sent = body("openai", history(SEEN_IDS[:-1]))
    calls, results = openai_pairs(sent)
    assert max(len(i) for i in calls) == 40
    assert calls == results
    assert calls[:3] == SEEN_IDS[:3]  # ids that fit are left alone


def test_servers_without_a_rule_get_ids_unchanged() -> None:
    sent = body("groq", history(SEEN_IDS[:-1]))
    assert openai_pairs(sent) == (SEEN_IDS[:-1], SEEN_IDS[:-1])


def test_anthropic_gets_its_pattern() -> None:
    sent = body("anthropic", history(SEEN_IDS[:-1]))
    blocks = [b for m in sent["messages"] if isinstance(m["content"], list) for b in m["content"]]
    calls = [b["id"] for b in blocks if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
    assert all(ANTHROPIC_ID.fullmatch(i) for i in calls)
    assert calls == results and len(set(calls)) == len(calls)


def test_the_messages_keep_their_original_ids() -> None:
    messages = history(["functions.get_weather:0"])
    body("mistral", messages)
    assert messages[1].tool_calls[0]["id"] == "functions.get_weather:0"  # type: ignore[attr-defined]


def responses_pairs(sent: dict[str, Any]) -> tuple[list[str], list[str]]:
    items = sent["input"]
    calls = [i["call_id"] for i in items if i.get("type") == "function_call"]
    results = [i["call_id"] for i in items if i.get("type") == "function_call_output"]
    return calls, results


@pytest.mark.parametrize("provider", ["openai", "vllm"])
def test_responses_api_gets_call_ids_of_1_to_64_characters_on_calls_and_outputs(
    provider: str,
) -> None:
    """OpenAI answers 400 `string_above_max_length` to a longer `call_id` and
    `empty_string` to an empty one; the rule is the format's, whoever serves it."""
    sent = body(provider, history([*SEEN_IDS, KIMI_LONG_ID]), wire_format="openai_responses")
    calls, results = responses_pairs(sent)
    assert calls == results and len(set(calls)) == len(calls) == len(SEEN_IDS) + 1
    assert all(1 <= len(i) <= 64 for i in calls)
    # Ids that fit are left alone: OpenAI's 40-character chat rule is not the Responses one.
    assert calls[:6] == SEEN_IDS[:6]
    assert calls[-1].startswith("functions.mcp__weather_service") and len(calls[-1]) == 64


def test_a_rewritten_responses_call_keeps_its_item_id() -> None:
    """The call's own item id (`fc_...`) is found under the original id and still sent."""
    messages = history([KIMI_LONG_ID])
    ai = messages[1]
    ai.additional_kwargs[TOOL_CALL_EXTRAS] = {KIMI_LONG_ID: {"responses": {"item_id": "fc_1"}}}
    ai.response_metadata.update(wire_format="openai_responses", provider="openai")
    sent = body("openai", messages, wire_format="openai_responses")
    call = next(i for i in sent["input"] if i.get("type") == "function_call")
    assert call["id"] == "fc_1" and call["call_id"] != KIMI_LONG_ID
    assert responses_pairs(sent) == ([call["call_id"]], [call["call_id"]])
    assert ai.tool_calls[0]["id"] == KIMI_LONG_ID  # type: ignore[attr-defined]
