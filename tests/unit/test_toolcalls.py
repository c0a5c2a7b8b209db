"""The tool-call assembler: every provider's fragment style, any fragmentation, same calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_bhumi.core.events import StreamEvent, ToolCallDelta, ToolCallDone
from langchain_bhumi.core.toolcalls import ToolCallAssembler, parse_arguments

Fragment = dict[str, Any]

# --- provider styles: how real servers fragment the same calls ------------------------


def _pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    out, start = [], 0
    for point in points:
        out.append(text[start:point])
        start = point
    out.append(text[start:])
    return [p for p in out if p] or [""]


def openai_style(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """index on every fragment; id and name once; argument pieces after (OpenAI, Groq)."""
    frags: list[Fragment] = []
    for i, (cid, name, args) in enumerate(calls):
        frags.append({"key": i, "id": cid, "name": name, "args": ""})
        frags += [{"key": i, "id": None, "name": None, "args": p} for p in _pieces(args, cuts)]
    return frags


def openai_interleaved(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """Like OpenAI, but the argument pieces of parallel calls interleave."""
    heads = [{"key": i, "id": c[0], "name": c[1], "args": ""} for i, c in enumerate(calls)]
    bodies = [
        [{"key": i, "id": None, "name": None, "args": p} for p in _pieces(c[2], cuts)]
        for i, c in enumerate(calls)
    ]
    frags: list[Fragment] = list(heads)
    while any(bodies):
        for body in bodies:
            if body:
                frags.append(body.pop(0))
    return frags


def vllm_style(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """index 0 for every call; a new id per call; empty ids on continuations (vLLM)."""
    frags: list[Fragment] = []
    for cid, name, args in calls:
        frags.append({"key": 0, "id": cid, "name": name, "args": ""})
        frags += [{"key": 0, "id": "", "name": None, "args": p} for p in _pieces(args, cuts)]
    return frags


def no_index_whole(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """No index; each call whole in one fragment (Ollama, Mistral, Gemini-compat)."""
    return [{"key": None, "id": cid, "name": name, "args": args} for cid, name, args in calls]


def no_index_pieces(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """No index; id and name first, then bare argument pieces."""
    frags: list[Fragment] = []
    for cid, name, args in calls:
        frags.append({"key": None, "id": cid, "name": name, "args": ""})
        frags += [{"key": None, "id": None, "name": None, "args": p} for p in _pieces(args, cuts)]
    return frags


def repeated_id_and_name(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """id and name repeated on every fragment (OpenRouter)."""
    frags: list[Fragment] = []
    for i, (cid, name, args) in enumerate(calls):
        frags += [{"key": i, "id": cid, "name": name, "args": p} for p in _pieces(args, cuts)]
    return frags


def changing_ids(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """A fresh id on every fragment, name repeated (llama-server once did this)."""
    frags: list[Fragment] = []
    for i, (cid, name, args) in enumerate(calls):
        for n, piece in enumerate(_pieces(args, cuts)):
            frags.append({"key": i, "id": f"{cid}-{n}", "name": name, "args": piece})
    return frags


def interleaved_by_id(calls: list[tuple[str, str, str]], cuts: list[int]) -> list[Fragment]:
    """No index; the id repeated on every fragment is the only key; calls interleave."""
    bodies = [
        [
            {"key": None, "id": c[0], "name": c[1] if n == 0 else None, "args": p}
            for n, p in enumerate(_pieces(c[2], cuts))
        ]
        for c in calls
    ]
    frags: list[Fragment] = []
    while any(bodies):
        for body in bodies:
            if body:
                frags.append(body.pop(0))
    return frags


STYLES = {
    "openai": openai_style,
    "openai_interleaved": openai_interleaved,
    "vllm": vllm_style,
    "no_index_whole": no_index_whole,
    "no_index_pieces": no_index_pieces,
    "repeated_id_and_name": repeated_id_and_name,
    "changing_ids": changing_ids,
    "interleaved_by_id": interleaved_by_id,
}

# Styles in which the first fragment's id is the call's id as the provider meant it.
_KEEPS_FIRST_ID = set(STYLES) - {"changing_ids"}


def assemble(frags: list[Fragment], *, finish: bool = True) -> list[StreamEvent]:
    assembler = ToolCallAssembler()
    out: list[StreamEvent] = []
    for f in frags:
        assembler.add(out, key=f["key"], id=f["id"], name=f["name"], args=f["args"])
    if finish:
        assembler.finish(out)
    return out


def done(events: list[StreamEvent]) -> list[ToolCallDone]:
    return [e for e in events if isinstance(e, ToolCallDone)]


def deltas(events: list[StreamEvent]) -> list[ToolCallDelta]:
    return [e for e in events if isinstance(e, ToolCallDelta)]


# --- the property ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
arguments = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)
call_lists = st.lists(
    st.tuples(st.sampled_from(["get_weather", "add", "search", "convert_units"]), arguments),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    calls=call_lists,
    style=st.sampled_from(sorted(STYLES)),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    zero_args_as_empty=st.booleans(),
)
def test_any_fragmentation_in_any_style_gives_the_same_calls(
    calls: list[tuple[str, dict[str, Any]]],
    style: str,
    cuts: list[int],
    zero_args_as_empty: bool,
) -> None:
    """Whatever the provider style and wherever the arguments are cut, the calls come out
    whole, in order, with stable indices, id and name once, and args that concatenate back."""
    wire = [
        (f"call_{i}", name, "" if (zero_args_as_empty and not args) else json.dumps(args))
        for i, (name, args) in enumerate(calls)
    ]
    events = assemble(STYLES[style](wire, cuts))

    finished = done(events)
    assert [(c.index, c.name, c.args) for c in finished] == [
        (i, name, args) for i, (name, args) in enumerate(calls)
    ]
    assert all(c.error is None for c in finished)
    if style in _KEEPS_FIRST_ID:
        assert [c.id for c in finished] == [w[0] for w in wire]
    assert len({c.id for c in finished}) == len(finished)

    for index, (_, name, args_text) in enumerate(wire):
        mine = [d for d in deltas(events) if d.index == index]
        assert mine, f"call {index} was never streamed"
        assert mine[0].name == name and mine[0].id == finished[index].id
        assert all(d.name is None and d.id is None for d in mine[1:])
        assert "".join(d.args for d in mine) == args_text


# --- the rules, one by one (the docstring of core/toolcalls.py) ------------------------


def test_empty_arguments_mean_no_arguments() -> None:
    """A zero-argument tool gets `{}`, not an error."""
    [call] = done(assemble([{"key": 0, "id": "c1", "name": "now", "args": ""}]))
    assert call.args == {} and call.error is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"city": "Par', "not valid JSON"),
        ('{"city": "Paris"}}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"Paris"', "must be a JSON object"),
    ],
)
def test_invalid_arguments_are_reported_never_silently_empty(raw: str, reason: str) -> None:
    """Truncated or non-object arguments become an invalid call with the raw text and why."""
    [call] = done(assemble([{"key": 0, "id": "c1", "name": "get_weather", "args": raw}]))
    assert call.args is None
    assert call.args_text == raw
    assert call.error is not None and reason in call.error


def test_missing_ids_are_invented_and_stable() -> None:
    """A call without an id (Gemini-compat sends "") gets one `call_...` id, used throughout."""
    events = assemble([{"key": None, "id": "", "name": "now", "args": "{}"}])
    [delta] = deltas(events)
    [call] = done(events)
    assert delta.id is not None and delta.id.startswith("call_")
    assert call.id == delta.id


def test_a_repeated_name_is_not_emitted_twice() -> None:
    """LangChain concatenates names: a repeated name would become `get_weatherget_weather`."""
    frags = [
        {"key": 0, "id": "c1", "name": "get_weather", "args": '{"city":'},
        {"key": 0, "id": None, "name": "get_weather", "args": ' "Paris"}'},
    ]
    events = assemble(frags)
    assert [d.name for d in deltas(events)] == ["get_weather", None]
    assert done(events)[0].args == {"city": "Paris"}


def test_vllm_index_zero_for_every_parallel_call_keeps_them_apart() -> None:
    """vLLM: index 0 for both calls, new id each -> two calls, not one merged call."""
    frags = [
        {"key": 0, "id": "a", "name": "get_weather", "args": '{"city": "Paris"}'},
        {"key": 0, "id": "b", "name": "get_weather", "args": ""},
        {"key": 0, "id": "", "name": None, "args": '{"city": "Rome"}'},
    ]
    calls = done(assemble(frags))
    assert [(c.index, c.id, c.args) for c in calls] == [
        (0, "a", {"city": "Paris"}),
        (1, "b", {"city": "Rome"}),
    ]


def test_a_name_arriving_after_the_first_fragment_still_announces_once() -> None:
    """Nothing is streamed for a call before its name is known; then id, name, and buffered args."""
    frags = [
        {"key": 0, "id": "c1", "name": None, "args": '{"q": '},
        {"key": 0, "id": None, "name": "search", "args": '"x"}'},
    ]
    events = assemble(frags)
    assert [(d.id, d.name, d.args) for d in deltas(events)] == [("c1", "search", '{"q": "x"}')]


def test_finish_is_idempotent_and_complete_marks_one_call() -> None:
    """A call completed by the format (Anthropic content_block_stop) is not finished twice."""
    assembler = ToolCallAssembler()
    out: list[StreamEvent] = []
    assembler.add(out, key=1, id="t1", name="a", args="{}")
    assembler.add(out, key=2, id="t2", name="b", args='{"x": 1}')
    assembler.complete(out, 1)
    assert [c.id for c in done(out)] == ["t1"]
    assembler.finish(out)
    assembler.finish(out)
    assert [c.id for c in done(out)] == ["t1", "t2"]


def test_extras_travel_with_their_call() -> None:
    """Provider data on a call (Gemini-compat thought signatures) is kept with that call."""
    assembler = ToolCallAssembler()
    out: list[StreamEvent] = []
    extra = {"google": {"thought_signature": "sig"}}
    assembler.add(out, key=0, id="c1", name="a", args="{}", extras=extra)
    assembler.finish(out)
    assert done(out)[0].extras == extra


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", {}), ("  \n", {}), ('{"a": 1}', {"a": 1}), ("{}", {})],
)
def test_parse_arguments_accepts_objects_and_empty(text: str, expected: dict[str, Any]) -> None:
    assert parse_arguments(text) == (expected, None)


# Styles whose calls stay apart when every call carries the same provider id: those with a
# distinct index per call, and those without index whose calls are sequential. (vLLM's
# one index for every call and `interleaved_by_id`, where the id is the only key, cannot
# tell two calls under one id apart; `changing_ids` invents its own ids.)
_DUPLICABLE = sorted(
    {"openai", "openai_interleaved", "no_index_whole", "no_index_pieces", "repeated_id_and_name"}
)


@settings(max_examples=200, deadline=None)
@given(
    calls=st.lists(
        st.tuples(st.sampled_from(["get_weather", "add"]), arguments.filter(bool)),
        min_size=2,
        max_size=4,
    ),
    style=st.sampled_from(_DUPLICABLE),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    shared=st.sampled_from(["all", "pairs"]),
)
def test_calls_that_share_one_provider_id_stay_apart_with_unique_ids(
    calls: list[tuple[str, dict[str, Any]]], style: str, cuts: list[int], shared: str
) -> None:
    """DeepSeek, GLM and Kimi endpoints have sent one id for several parallel calls: each
    call still comes out whole, and every call gets its own id (the first keeps the
    provider's, later ones a deterministic suffix), so each tool result finds its call."""
    wire = [
        ("call_dup" if shared == "all" else f"call_{i // 2}", name, json.dumps(args))
        for i, (name, args) in enumerate(calls)
    ]
    events = assemble(STYLES[style](wire, cuts))

    finished = done(events)
    assert [(c.index, c.name, c.args) for c in finished] == [
        (i, name, args) for i, (name, args) in enumerate(calls)
    ]
    ids = [c.id for c in finished]
    assert len(set(ids)) == len(ids)
    for index, (wire_id, _, _) in enumerate(wire):
        first = next(i for i, w in enumerate(wire) if w[0] == wire_id)
        assert ids[index] == (wire_id if index == first else f"{wire_id}_{index + 1}")
    announced = {d.index: d.id for d in deltas(events) if d.id is not None}
    assert announced == dict(enumerate(ids))


def test_a_repeated_id_with_its_own_index_is_a_new_call() -> None:
    out = assemble(
        [
            {"key": 0, "id": "call_1", "name": "get_weather", "args": '{"c": '},
            {"key": 1, "id": "call_1", "name": "get_weather", "args": '{"c": "Tokyo"}'},
            {"key": 0, "id": None, "name": None, "args": '"Paris"}'},
        ]
    )
    assert [(c.id, c.args) for c in done(out)] == [
        ("call_1", {"c": "Paris"}),
        ("call_1_2", {"c": "Tokyo"}),
    ]
