"""Events -> LangChain messages: the guard against LangChain repairing truncated arguments."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.utils.json import parse_partial_json

from langchain_bhumi._output import unrepairable_suffix

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
