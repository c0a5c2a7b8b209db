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
RULES = {"mistral": MISTRAL_TOOL_IDS, "anthropic": ANTHROPIC, "openai": OPENAI_TOOL_IDS}
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


def body(provider: str, messages: list[BaseMessage]) -> dict[str, Any]:
    client = ProviderClient.connect(resolve_provider(provider), api_key="sk-test")
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
