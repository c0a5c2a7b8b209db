"""Events -> LangChain messages: the guard against LangChain repairing truncated arguments."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.utils.json import parse_partial_json

from langchain_bhumi.message_builder import unrepairable_suffix

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(
    args=st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=4),
    cut=st.integers(0, 10_000),
    junk=st.text(max_size=3),
)
def test_no_truncation_of_any_arguments_survives_langchains_repair(
    args: dict[str, Any], cut: int, junk: str
) -> None:
    """Cut anywhere (or followed by junk), invalid arguments plus the suffix never parse as a dict,
    and valid arguments get no suffix."""
    text = json.dumps(args)
    raw = text[: cut % (len(text) + 1)] + junk
    try:
        valid = isinstance(json.loads(raw), dict)
    except ValueError:
        valid = False
    suffix = unrepairable_suffix(raw)
    if valid:
        return  # the builder only consults the suffix for invalid calls
    try:
        repaired = parse_partial_json(raw + suffix)
    except ValueError:
        return
    assert not isinstance(repaired, dict), (raw, suffix, repaired)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=10),
    reasoning=st.text(max_size=6),
    fragments=st.lists(
        st.tuples(
            st.sampled_from([None, "get_weather"]),
            st.sampled_from([None, "call_1"]),
            st.one_of(
                st.just(""), st.text(max_size=12), st.builds(lambda s: "{" + s, st.text(max_size=8))
            ),
        ),
        max_size=3,
    ),
)
def test_fast_chunks_equal_validated_chunks(
    text: str, reasoning: str, fragments: list[tuple[str | None, str | None, str]]
) -> None:
    """The builder's unvalidated chunks are exactly what LangChain's validation would build,
    and they add up the same way."""
    from langchain_core.load import dumpd
    from langchain_core.messages import AIMessageChunk

    from langchain_bhumi.core.events import ReasoningDelta, TextDelta, ToolCallDelta
    from langchain_bhumi.message_builder import MessageBuilder

    events: list[Any] = [TextDelta(text)] if text else []
    if reasoning:
        events.append(ReasoningDelta(reasoning))
    events += [
        ToolCallDelta(i, call_id, name, args) for i, (name, call_id, args) in enumerate(fragments)
    ]
    built = MessageBuilder().chunk(events)
    if built is None:
        assert not (text or reasoning or fragments)
        return
    validated = AIMessageChunk(
        content=built.content,
        additional_kwargs=built.additional_kwargs,
        tool_call_chunks=built.tool_call_chunks,
        id=built.id,
    )
    assert built == validated
    assert dumpd(built) == dumpd(validated)
    assert (built + validated) == (validated + validated)
