"""The four replay tests every wire format runs (`stream`, `astream`, `invoke`,
`ainvoke`), written once; each conformance module supplies what differs in a `Format`
(how it builds the model and serves the body, its reference reading and its checks) and
binds the tests under their usual names:

    test_stream, test_astream, test_invoke, test_ainvoke = FORMAT.tests(
        streamed=params(STREAMED + FAILED), every=params(EXCHANGES)
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from langchain_bhumi import BhumiError, ChatBhumi
from tests.conformance._replay import MESSAGES, R, acollect, aggregate, collect
from tests.support.server import ScriptedServer

X = TypeVar("X")
"""A format's expected answer (its reference reading)."""

Test = Callable[..., Any]


def check_stream_contract(chunks: list[AIMessageChunk]) -> list[int]:
    """The streaming contract every format keeps: the last chunk, and only it, is marked
    last and names the model; no other chunk carries a finish reason; a call's id and name
    come on its first chunk only. Returns the call indices in the order they appeared."""
    assert chunks
    last = chunks[-1]
    assert last.chunk_position == "last"
    assert "model_name" in last.response_metadata
    for chunk in chunks[:-1]:
        assert chunk.chunk_position != "last"
        assert "finish_reason" not in chunk.response_metadata, chunk
        assert "model_name" not in chunk.response_metadata, chunk
    announced: list[int] = []
    for chunk in chunks:
        for piece in chunk.tool_call_chunks:
            index = piece["index"]
            assert isinstance(index, int), piece
            if index not in announced:
                assert piece["id"], f"first chunk of call {index} has no id: {piece}"
                assert piece["name"], f"first chunk of call {index} has no name: {piece}"
                announced.append(index)
            else:
                assert piece["id"] is None, f"call {index} repeats its id: {piece}"
                assert piece["name"] is None, f"call {index} repeats its name: {piece}"
    return announced


class ModelFactory(Protocol[R]):
    def __call__(self, exchange: R, server: ScriptedServer, *, streaming: bool) -> ChatBhumi: ...


@dataclass(frozen=True)
class Format(Generic[R, X]):
    """What one wire format's replay needs; everything else is the same for all."""

    serve: Callable[[R, ScriptedServer, str], None]
    """Queue the exchange's body, cut for the mode named."""
    make_model: ModelFactory[R]
    expected_for: Callable[[R], X]
    check_failure: Callable[[BhumiError | None, R, ScriptedServer], None]
    """Checks the error a non-200 exchange raised."""
    check_request: Callable[[ScriptedServer, R, bool], None]
    """Checks the one request sent (the flag: whether it asked for a stream)."""
    check_chunks: Callable[[list[AIMessageChunk], X], None]
    check_message: Callable[[AIMessage, X, R], None]
    check_stream_error: Callable[[BhumiError | None, list[AIMessageChunk], X], None] | None = None
    """For a reference that reads in-stream errors (`expected.error`): checks a replay
    whose recorded answer is one."""
    invoke_streams: Callable[[R], bool] = lambda exchange: exchange.is_sse
    """Whether `invoke` asks for a stream (`streaming=True`) for this exchange."""

    def check_streamed(
        self,
        exchange: R,
        server: ScriptedServer,
        chunks: list[AIMessageChunk],
        error: BhumiError | None,
    ) -> None:
        """Everything a `stream`/`astream` replay must satisfy."""
        if exchange.status != 200:
            self.check_failure(error, exchange, server)
            assert not chunks
            return
        expected = self.expected_for(exchange)
        check_stream_error = self.check_stream_error
        if check_stream_error is not None and getattr(expected, "error", None) is not None:
            check_stream_error(error, chunks, expected)
            return
        if error is not None:
            raise error
        self.check_request(server, exchange, True)
        self.check_chunks(chunks, expected)
        self.check_message(aggregate(chunks), expected, exchange)

    def check_invoked(
        self,
        exchange: R,
        server: ScriptedServer,
        message: BaseMessage | None,
        error: BhumiError | None,
    ) -> None:
        """Everything an `invoke`/`ainvoke` replay must satisfy."""
        if exchange.status != 200:
            self.check_failure(error, exchange, server)
            return
        expected = self.expected_for(exchange)
        check_stream_error = self.check_stream_error
        if check_stream_error is not None and getattr(expected, "error", None) is not None:
            check_stream_error(error, [], expected)
            return
        if error is not None:
            raise error
        self.check_request(server, exchange, self.invoke_streams(exchange))
        assert isinstance(message, AIMessage)
        self.check_message(message, expected, exchange)

    def tests(self, *, streamed: list[Any], every: list[Any]) -> tuple[Test, Test, Test, Test]:
        """`test_stream` and `test_astream` over `streamed`, `test_invoke` and
        `test_ainvoke` over `every` (both lists of `params`)."""

        @pytest.mark.parametrize("exchange", streamed)
        def test_stream(exchange: R, server: ScriptedServer) -> None:
            """`stream`: chunks obey the streaming contract and add up to the recorded
            answer."""
            self.serve(exchange, server, "stream")
            with self.make_model(exchange, server, streaming=False) as llm:
                chunks, error = collect(llm)
            self.check_streamed(exchange, server, chunks, error)

        @pytest.mark.parametrize("exchange", streamed)
        async def test_astream(exchange: R, server: ScriptedServer) -> None:
            """`astream`: the async twin of `test_stream`."""
            self.serve(exchange, server, "astream")
            async with self.make_model(exchange, server, streaming=False) as llm:
                chunks, error = await acollect(llm)
            self.check_streamed(exchange, server, chunks, error)

        @pytest.mark.parametrize("exchange", every)
        def test_invoke(exchange: R, server: ScriptedServer) -> None:
            """`invoke` (streaming under the hood for streamed recordings) returns the
            recorded answer."""
            self.serve(exchange, server, "invoke")
            message: BaseMessage | None = None
            error: BhumiError | None = None
            streaming = self.invoke_streams(exchange)
            with self.make_model(exchange, server, streaming=streaming) as llm:
                try:
                    message = llm.invoke(MESSAGES)
                except BhumiError as exc:
                    error = exc
            self.check_invoked(exchange, server, message, error)

        @pytest.mark.parametrize("exchange", every)
        async def test_ainvoke(exchange: R, server: ScriptedServer) -> None:
            """`ainvoke`: the async twin of `test_invoke`."""
            self.serve(exchange, server, "ainvoke")
            message: BaseMessage | None = None
            error: BhumiError | None = None
            streaming = self.invoke_streams(exchange)
            async with self.make_model(exchange, server, streaming=streaming) as llm:
                try:
                    message = await llm.ainvoke(MESSAGES)
                except BhumiError as exc:
                    error = exc
            self.check_invoked(exchange, server, message, error)

        return test_stream, test_astream, test_invoke, test_ainvoke
