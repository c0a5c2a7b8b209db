"""What the fuzz tier shares: the recorded corpus per wire format, mutations of bytes and
of JSON documents, and a watchdog that turns a hang into a failure.

The corpus is `../shared/real-streams` (or `$BHUMI_REAL_STREAMS`); tests that mutate it
skip when it is absent. Formats come from the registries (`protocols.client_formats()`,
`protocols.server_formats()`), so a newly registered format is fuzzed without edits here;
its recorded exchanges are those whose `api_family` is the format's name with dashes
(`openai_responses` -> `openai-responses`) unless `API_FAMILIES` says otherwise.

The default run (CI) replays a fixed sequence of examples, so a build never fails on an
input no one has seen; `BHUMI_FUZZ_EXPLORE=1` draws new ones, to look for more (what it
finds goes into the deterministic regression tests beside each property).
"""

from __future__ import annotations

import functools
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.conformance._reference import Exchange, load_exchanges, streams_root
from tests.support.server import split_at

API_FAMILIES = {"openai_chat": "openai-chat", "anthropic": "anthropic-messages"}

HANG_SECONDS = 5.0
"""A decoder that spends this long on one fuzzed input is declared hung (a guard, not a
timing target: real inputs take milliseconds)."""


def fuzz(examples: int) -> settings:
    """Hypothesis settings for `examples` inputs: a second or two per test and format."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not os.environ.get("BHUMI_FUZZ_EXPLORE"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Hang(AssertionError):
    """A decoder did not return within `HANG_SECONDS`."""


@contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail with `Hang` if the body runs longer than `seconds` (SIGALRM: main thread)."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s: the decoder hangs on this input")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@functools.cache
def _recorded(wire_format: str) -> list[Exchange]:
    root = streams_root()
    if not root.is_dir():
        return []
    return load_exchanges(root, API_FAMILIES.get(wire_format, wire_format.replace("_", "-")))


def exchanges(wire_format: str) -> list[Exchange]:
    """Recorded 2xx exchanges of `wire_format` (empty without the corpus)."""
    return [e for e in _recorded(wire_format) if e.status == 200]


@functools.cache
def recorded_requests(wire_format: str) -> list[Any]:
    """The request bodies recorded for `wire_format` (what its proxy frontend receives)."""
    paths = (e.path / "request.json" for e in _recorded(wire_format))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths if p.is_file()]


def keys_of(documents: list[Any]) -> list[str]:
    """Every object key in `documents`, sorted: a vocabulary that steers generated JSON
    into the fields a decoder reads."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for document in documents:
        walk(document)
    return sorted(found)


# --- byte mutations -----------------------------------------------------------------------

BYTE_MUTATIONS = ("flip", "drop", "duplicate", "cut line", "truncate", "insert")

byte_mutation = st.tuples(
    st.sampled_from(BYTE_MUTATIONS),
    st.integers(0, 2**31),
    st.integers(1, 64),
    st.binary(min_size=1, max_size=8),
)


def mutate_bytes(body: bytes, mutations: list[tuple[str, int, int, bytes]]) -> bytes:
    """`body` with bytes flipped, dropped, duplicated or inserted, a line cut short, or the
    whole body truncated."""
    for kind, position, length, extra in mutations:
        if not body:
            break
        i = position % len(body)
        if kind == "flip":
            body = body[:i] + bytes([body[i] ^ (extra[0] or 0x80)]) + body[i + 1 :]
        elif kind == "drop":
            body = body[:i] + body[i + length :]
        elif kind == "duplicate":
            body = body[: i + length] + body[i : i + length] + body[i + length :]
        elif kind == "cut line":
            end = body.find(b"\n", i)
            body = body[:i] + (body[end:] if end >= 0 else b"")
        elif kind == "truncate":
            body = body[:i]
        else:
            body = body[:i] + extra + body[i:]
    return body


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` in pieces at the offsets `cuts` (taken modulo its length)."""
    return split_at(data, [c % (len(data) + 1) for c in cuts])


# --- JSON ---------------------------------------------------------------------------------


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON value, objects keyed mostly by `keys`."""
    names = st.sampled_from(keys) | st.text(max_size=6) if keys else st.text(max_size=6)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**40), 2**40)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
        | st.sampled_from(keys or [""])
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=5),
        max_leaves=25,
    )


def paths(document: Any) -> list[tuple[Any, Any]]:
    """Every `(container, key)` slot in `document`."""
    found: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                found.append((value, key))
                stack.append(item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                found.append((value, index))
                stack.append(item)
    return found


JSON_MUTATIONS = ("replace", "delete", "wrap in a list", "stringify")


@st.composite
def mutated_json(draw: st.DrawFn, documents: list[Any], keys: list[str]) -> Any:
    """One of `documents`, with a few values replaced by others of any type, deleted,
    wrapped in a list or turned into a string."""
    document = json.loads(json.dumps(draw(st.sampled_from(documents))))
    for _ in range(draw(st.integers(1, 4))):
        slots = paths(document)
        if not slots:
            return draw(json_values(keys))
        container, key = draw(st.sampled_from(slots))
        kind = draw(st.sampled_from(JSON_MUTATIONS))
        if kind == "replace":
            container[key] = draw(json_values(keys))
        elif kind == "delete":
            del container[key]
        elif kind == "wrap in a list":
            container[key] = [container[key]]
        else:
            container[key] = json.dumps(container[key])
    return document
