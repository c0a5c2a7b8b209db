"""JSON-array framing (Gemini `streamGenerateContent` without `alt=sse`).

Any byte split of a body gives the same elements, each as soon as it is complete; a body
cut short is reported as such.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_bhumi.core.errors import InvalidStreamDataError
from langchain_bhumi.core.framing import JSONArrayFramer


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, start = [], 0
    for point in points:
        out.append(data[start:point])
        start = point
    out.append(data[start:])
    return out


def read(pieces: list[bytes]) -> tuple[list[Any], JSONArrayFramer, bool]:
    framer = JSONArrayFramer()
    values = [json.loads(f.data) for piece in pieces for f in framer.feed(piece)]
    tail, unterminated = framer.flush()
    values += [json.loads(f.data) for f in tail]
    return values, framer, unterminated


# Strings full of what a naive scanner trips on: brackets, quotes, escapes, multi-byte
# characters (whose bytes a split can separate).
tricky_text = st.text(alphabet=st.sampled_from(list('ab{}[],:"\\/ \n\té€😀\u2028')), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=12,
)
elements = st.lists(st.dictionaries(tricky_text, json_values, max_size=4), max_size=5)


@settings(max_examples=150, deadline=None)
@given(
    items=elements,
    pretty=st.sampled_from([None, 2]),
    separator=st.sampled_from([",", "\n,\r\n", " , "]),
    cuts=st.lists(st.integers(0, 10_000), max_size=25),
)
def test_any_split_gives_the_same_elements(
    items: list[dict[str, Any]], pretty: int | None, separator: str, cuts: list[int]
) -> None:
    """Whatever the layout and however the bytes are cut, the elements come out whole,
    in order, and the array counts as complete."""
    body = (
        "["
        + separator.join(json.dumps(i, indent=pretty, ensure_ascii=False) for i in items)
        + "]\n"
    ).encode()
    values, framer, unterminated = read(split(body, cuts))
    assert values == items
    assert framer.complete
    assert not unterminated


def test_each_element_is_a_frame_as_soon_as_it_is_complete() -> None:
    """A chunk is delivered with the read that completes it, not at the end of the body."""
    framer = JSONArrayFramer()
    assert framer.feed(b'[{"candidates": [{"text": "a}') == []
    [first] = framer.feed(b'"}]}\n,\r\n{"x"')
    assert json.loads(first.data) == {"candidates": [{"text": "a}"}]}
    assert not framer.complete
    [second] = framer.feed(b": 1}")
    assert json.loads(second.data) == {"x": 1}
    assert framer.feed(b"]") == []
    assert framer.complete


def test_a_multibyte_character_split_across_reads_is_decoded_whole() -> None:
    body = '[{"text": "Olá 😀"}]'.encode()
    cut = body.index("😀".encode()) + 2
    values, _, _ = read([body[:cut], body[cut:]])
    assert values == [{"text": "Olá 😀"}]


def test_a_single_object_body_is_one_frame() -> None:
    """A server that answers with one JSON object (a whole response, or an error)."""
    values, framer, unterminated = read([b'  {"error": {"code": 4', b'29, "message": "[x]"}}\n'])
    assert values == [{"error": {"code": 429, "message": "[x]"}}]
    assert framer.complete
    assert not unterminated


def test_a_body_cut_inside_an_element_returns_the_partial_frame() -> None:
    framer = JSONArrayFramer()
    assert len(framer.feed(b'[{"a": 1},\n{"b": "cut h')) == 1
    tail, unterminated = framer.flush()
    assert unterminated
    assert [f.data for f in tail] == ['{"b": "cut h']
    assert not framer.complete


def test_a_body_cut_between_elements_is_not_complete() -> None:
    framer = JSONArrayFramer()
    assert len(framer.feed(b'[{"a": 1}\n,')) == 1
    assert framer.flush() == ([], True)
    assert framer.started
    assert not framer.complete


def test_an_empty_body_has_not_started() -> None:
    framer = JSONArrayFramer()
    assert framer.feed(b"") == []
    assert framer.flush() == ([], False)
    assert not framer.started


@pytest.mark.parametrize(
    "body",
    [b"data: {}\n\n", b"[1, 2]", b'[{"a": 1}] trailing', b'[{"a": 1}}'],
)
def test_a_body_that_is_not_a_json_array_of_objects_is_invalid(body: bytes) -> None:
    framer = JSONArrayFramer()
    with pytest.raises(InvalidStreamDataError):
        framer.feed(body)
