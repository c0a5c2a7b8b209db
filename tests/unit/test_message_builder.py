"""Events -> LangChain messages: the guard against LangChain repairing truncated arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest
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
    from langchain_core.outputs import ChatGenerationChunk

    from langchain_bhumi.core.events import ReasoningDelta, TextDelta, ToolCallDelta
    from langchain_bhumi.message_builder import MessageBuilder, generation_chunk

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
    generation = generation_chunk(built)
    assert generation == ChatGenerationChunk(message=validated)
    assert dumpd(generation) == dumpd(ChatGenerationChunk(message=validated))


def test_fast_chunks_do_not_share_what_langchain_assigns() -> None:
    """LangChain sets `id` and `response_metadata` on every chunk it streams; the chunks
    built without validation share only what no assignment changes."""
    from langchain_core.messages import AIMessageChunk

    from langchain_bhumi.core.events import TextDelta, ToolCallDelta
    from langchain_bhumi.message_builder import MessageBuilder

    builder = MessageBuilder()
    first = builder.chunk([TextDelta("a")])
    second = builder.chunk([ToolCallDelta(0, "call_1", "f", "x")])
    assert first is not None and second is not None
    fields_before = set(second.model_fields_set)
    first.id = "run-1"
    first.response_metadata = {"model_provider": "bhumi"}
    first.additional_kwargs["seen"] = True
    assert (second.id, second.response_metadata, second.additional_kwargs) == (None, {}, {})
    assert second.model_fields_set == fields_before
    first.trace = "extra"  # messages accept extra fields; they stay on the chunk they were set on
    assert first.trace == "extra" and not hasattr(second, "trace")
    assert second.model_fields_set == fields_before
    assert first + second == AIMessageChunk(
        content="a",
        additional_kwargs={"seen": True},
        response_metadata={"model_provider": "bhumi"},
        tool_call_chunks=second.tool_call_chunks,
        id="run-1",
    )


# --- invalid calls: the arguments as received, the reason, on every path ------------------

CUT_ARGS = '{"x": 1'
CUT_REASON = (
    "arguments are not valid JSON: Expecting ',' delimiter at character 7; "
    "the stream ended before the call was complete"
)


def _cut_call_stream() -> Any:
    from tests.support.server import Scripted

    def chunk(delta: dict[str, Any]) -> dict[str, Any]:
        return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta}]}

    start = {"index": 0, "id": "call_c", "type": "function"}
    return Scripted.sse(
        chunk({"tool_calls": [{**start, "function": {"name": "calc", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": CUT_ARGS}}]}),
    )


def _cut_call_answer() -> Any:
    from tests.support.server import Scripted

    call = {"id": "call_c", "type": "function", "function": {"name": "calc", "arguments": CUT_ARGS}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return Scripted.json(
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "length"}],
        }
    )


def _model(server: Any, **kwargs: Any) -> Any:
    from langchain_bhumi import ChatBhumi

    return ChatBhumi(model="openai/m", base_url=server.url, api_key="sk-test-123456", **kwargs)


def test_an_invoked_invalid_call_keeps_the_wire_arguments_and_the_reason(server: Any) -> None:
    server.enqueue(_cut_call_answer())
    message = _model(server).invoke("x")
    assert message.tool_calls == []
    assert message.invalid_tool_calls == [
        {
            "type": "invalid_tool_call",
            "id": "call_c",
            "name": "calc",
            "args": CUT_ARGS,
            "error": CUT_REASON,
        }
    ]


EXACT_INVALID = [
    {
        "type": "invalid_tool_call",
        "id": "call_c",
        "name": "calc",
        "args": CUT_ARGS,
        "error": CUT_REASON,
    }
]


@pytest.mark.parametrize("path", ["stream", "astream"])
def test_a_streamed_invalid_call_summed_with_plus_is_never_repaired(server: Any, path: str) -> None:
    """LangChain rebuilds `invalid_tool_calls` from the argument pieces at every `+` (with
    `error=None`) and would repair `{"x": 1` into a valid call; so the pieces end with a
    character that stops the repair, and the last chunk carries the call as received, with
    the reason, under `additional_kwargs["tool_call_errors"]`. (A sum made with `+` cannot
    be made exact: langchain-core rebuilds the list at every `+`.)"""
    import asyncio

    from langchain_core.messages import AIMessageChunk

    server.enqueue(_cut_call_stream())
    llm = _model(server)
    if path == "stream":
        chunks = list(llm.stream("x"))
    else:

        async def collect() -> list[AIMessageChunk]:
            return [c async for c in llm.astream("x")]

        chunks = asyncio.run(collect())
    final = chunks[0]
    for piece in chunks[1:]:
        final = final + piece
    assert final.tool_calls == []
    [invalid] = final.invalid_tool_calls
    assert (invalid["id"], invalid["name"]) == ("call_c", "calc")
    assert invalid["args"] == CUT_ARGS + unrepairable_suffix(CUT_ARGS)
    assert final.additional_kwargs["tool_call_errors"] == {
        "call_c": {"args": CUT_ARGS, "error": CUT_REASON}
    }


@pytest.mark.parametrize("output_version", [None, "v1"])
@pytest.mark.parametrize("path", ["invoke", "ainvoke"])
def test_an_invoke_langchain_streams_answers_the_invalid_call_exactly(
    server: Any, path: str, output_version: str | None
) -> None:
    """`streaming=True`: LangChain streams the call and would answer with the sum of the
    chunks; the answer is the call as received, with the reason, and the id LangChain
    gives a streamed answer (its run id), as a non-streamed call would."""
    import asyncio
    import uuid

    server.enqueue(_cut_call_stream())
    options = {"output_version": output_version} if output_version else {}
    llm = _model(server, streaming=True, **options)
    run_id = uuid.uuid4()
    config: Any = {"run_id": run_id}
    message = llm.invoke("x", config) if path == "invoke" else asyncio.run(llm.ainvoke("x", config))
    assert message.tool_calls == []
    assert message.invalid_tool_calls == EXACT_INVALID
    assert message.id == f"lc_run--{run_id}"
    if output_version == "v1":
        assert [b for b in message.content if b["type"] == "invalid_tool_call"] == EXACT_INVALID


def test_astream_events_streams_the_tokens_and_ends_with_the_exact_call(server: Any) -> None:
    """`astream_events` over a step that calls `ainvoke` attaches a streaming callback
    handler: the pieces still arrive as chunk events, and the answer is exact."""
    import asyncio

    from langchain_core.runnables import RunnableConfig, RunnableLambda

    server.enqueue(_cut_call_stream())
    llm = _model(server)

    async def step(prompt: str, config: RunnableConfig) -> Any:
        return await llm.ainvoke(prompt, config)

    async def collect() -> list[Any]:
        return [event async for event in RunnableLambda(step).astream_events("x", version="v2")]

    events = asyncio.run(collect())
    pieces = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(p.tool_call_chunks[0]["args"] for p in pieces if p.tool_call_chunks) == (
        CUT_ARGS + unrepairable_suffix(CUT_ARGS)
    )
    assert pieces[-1].chunk_position == "last"
    [end] = [e for e in events if e["event"] == "on_chat_model_end"]
    assert end["data"]["output"].invalid_tool_calls == EXACT_INVALID


def _mock_model(**kwargs: Any) -> Any:
    """A model whose transport answers every request with the cut call, one network read
    per SSE event (so the chunks of two calls line up)."""
    import httpx

    from langchain_bhumi import ChatBhumi

    parts = _cut_call_stream().parts

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=iter(parts))

    client = httpx.Client(transport=httpx.MockTransport(answer))
    return ChatBhumi(model="openai/m", api_key="sk-test-123456", http_client=client, **kwargs)


@pytest.mark.parametrize("output_version", [None, "v1"])
def test_callbacks_of_a_streamed_invoke_get_the_chunks_stream_yields(
    output_version: str | None,
) -> None:
    """The chunks `invoke` hands the callbacks when it streams (LangGraph's messages
    stream, `astream_events`) are the ones `.stream()` yields, with the content as the
    token and the run id as the id; and `.stream()` still streams."""
    from langchain_core.callbacks import BaseCallbackHandler

    class Tokens(BaseCallbackHandler):
        def __init__(self) -> None:
            self.seen: list[tuple[Any, Any]] = []

        def on_llm_new_token(self, token: Any, *, chunk: Any = None, **kwargs: Any) -> None:
            self.seen.append((token, chunk.message))

    options = {"output_version": output_version} if output_version else {}
    llm = _mock_model(streaming=True, **options)
    tokens = Tokens()
    message = llm.invoke("x", {"callbacks": [tokens]})
    streamed = list(_mock_model(**options).stream("x"))
    assert len(streamed) == 4  # id and name, the arguments, the blocker, the last chunk
    assert [chunk.model_copy(update={"id": None}) for _, chunk in tokens.seen] == [
        chunk.model_copy(update={"id": None}) for chunk in streamed
    ]
    assert all(token == chunk.content for token, chunk in tokens.seen)
    assert {chunk.id for _, chunk in tokens.seen} == {message.id}


def test_the_model_is_shown_its_own_arguments_on_the_next_turn(server: Any) -> None:
    """An agent built with LangGraph, streaming messages: the cut call never runs, and
    when the conversation goes on, the model sees the arguments it wrote, not ours."""
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage

    from tests.support.server import Scripted

    def calc(x: int) -> int:
        """Double x."""
        return 2 * x

    server.enqueue(_cut_call_stream())
    agent = create_agent(_model(server), tools=[calc])
    ran: list[Any] = []
    pieces: list[Any] = []
    state: dict[str, Any] = {}
    for mode, payload in agent.stream(
        {"messages": [HumanMessage("double 1")]}, stream_mode=["messages", "values"]
    ):
        if mode == "values":
            state = payload
        elif getattr(payload[0], "type", "") == "tool":
            ran.append(payload[0])
        elif payload[0].tool_call_chunks:
            pieces.append(payload[0])
    assert ran == []
    assert len(pieces) >= 2  # the call's pieces went out as they came
    answer = state["messages"][-1]
    assert answer.tool_calls == []
    assert answer.invalid_tool_calls == EXACT_INVALID
    assert answer.id == pieces[0].id

    reply = {"role": "assistant", "content": "ok"}
    choice = {"index": 0, "message": reply, "finish_reason": "stop"}
    server.enqueue(Scripted.json({"id": "d", "model": "m", "choices": [choice]}))
    agent.invoke({"messages": [*state["messages"], HumanMessage("again")]})
    sent = server.received[-1].json()["messages"]
    [assistant] = [m for m in sent if m["role"] == "assistant"]
    assert assistant["tool_calls"][0]["function"]["arguments"] == CUT_ARGS
