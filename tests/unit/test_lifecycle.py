"""A model's life as LangChain and LangGraph users lead it: many event loops, copies, pickles.

What a user notices: sockets and pools that pile up with every `asyncio.run`, a model that
cannot be sent to a worker process or deep-copied once it has been used.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import os
import pickle
import time
import weakref
from pathlib import Path

import httpx
import pytest

from langchain_bhumi import ChatBhumi, ConfigurationError
from langchain_bhumi.core import transport
from tests.support.server import Received, Scripted, ScriptedServer
from tests.support.wire import openai_answer

KEY = "sk-test-0123456789abcdef"


def hi(request: Received) -> Scripted:
    """Answer "hi", streamed or whole as the request asks."""
    if request.json().get("stream"):
        return openai_answer("hi")
    message = {"role": "assistant", "content": "hi"}
    return Scripted.json({"id": "c", "model": "m", "choices": [{"index": 0, "message": message}]})


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _open_async_clients() -> int:
    gc.collect()
    return sum(
        1 for obj in gc.get_objects() if isinstance(obj, httpx.AsyncClient) and not obj.is_closed
    )


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts /proc/self/fd")
@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
def test_a_hundred_asyncio_runs_leave_no_pool_or_socket_behind(
    backend: str, server: ScriptedServer
) -> None:
    llm = ChatBhumi(
        model="openai/m", base_url=server.url, api_key=KEY, max_retries=0, async_backend=backend
    )
    server.responder = hi
    asyncio.run(llm.ainvoke("hello"))  # warm up: the first pool, imports, server threads
    fds, clients = _open_fds(), _open_async_clients()

    for _ in range(100):
        assert asyncio.run(llm.ainvoke("hello")).text == "hi"

    assert _open_async_clients() <= clients
    deadline = time.monotonic() + 5  # the server threads close their sides as they notice
    while _open_fds() > fds + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds() <= fds + 5  # a leak would leave 200 (both ends of 100 connections)


def test_a_pool_lives_as_long_as_its_loop(server: ScriptedServer) -> None:
    server.responder = hi
    llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY)

    async def two_calls() -> None:
        await llm.ainvoke("one")
        await llm.ainvoke("two")

    asyncio.run(two_calls())
    assert server.connections == 1  # both calls of one loop shared its pool


def test_aclose_closes_the_running_loops_pool_and_the_model_still_works(
    server: ScriptedServer,
) -> None:
    server.responder = hi
    llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY)

    async def use_close_use() -> str:
        await llm.ainvoke("one")
        before = _open_async_clients()
        await llm.aclose()
        assert _open_async_clients() == before - 1
        return (await llm.ainvoke("two")).text

    assert asyncio.run(use_close_use()) == "hi"
    assert server.connections == 2


def test_a_loop_closed_by_hand_does_not_keep_its_pool(server: ScriptedServer) -> None:
    """A loop closed without `shutdown_asyncgens` (run_until_complete, then close): the
    next async call, on any loop, lets go of the dead loop's pool."""
    server.responder = hi
    llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY)
    for _ in range(5):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(llm.ainvoke("hello"))
        loop.close()
    asyncio.run(llm.ainvoke("hello"))
    assert _open_async_clients() <= 1


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the unclosed loops are the point
@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
def test_loops_dropped_without_closing_are_collected_with_their_pools(
    backend: str, server: ScriptedServer
) -> None:
    """Loops that are used and then dropped, never closed (no `asyncio.run`, no `close`):
    the garbage collector takes each loop and its pool, as if the model were not there."""
    server.responder = hi
    llm = ChatBhumi(
        model="openai/m", base_url=server.url, api_key=KEY, max_retries=0, async_backend=backend
    )
    clients = _open_async_clients()
    loops = []
    for _ in range(20):
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(llm.ainvoke("hello")).text == "hi"
        loops.append(weakref.ref(loop))
        del loop
    gc.collect()

    assert sum(ref() is not None for ref in loops) == 0
    assert _open_async_clients() <= clients
    assert asyncio.run(llm.ainvoke("the model still works")).text == "hi"


def test_models_dropped_in_a_long_lived_loop_release_their_pools(
    server: ScriptedServer,
) -> None:
    """A server that builds a model per request (or `model_copy`s one) in one loop that
    runs for days: each dropped model's pool closes, the loop does not collect them."""
    server.responder = hi

    async def serve_ten_requests() -> int:
        clients = _open_async_clients()
        for _ in range(10):
            llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY)
            assert (await llm.ainvoke("hello")).text == "hi"
            del llm
        gc.collect()  # the loop schedules a task that closes each dropped model's pool
        await asyncio.sleep(0)  # ... which starts now
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))
        return _open_async_clients() - clients

    assert asyncio.run(serve_ten_requests()) <= 0


def test_loops_that_take_no_attributes_still_release_their_pools(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    """A loop class without `__dict__` (a bare C loop, like `uvloop.loop.Loop`) cannot keep
    its pools: the model keeps them until the loop closes, by `asyncio.run` or by hand."""
    monkeypatch.setattr(transport, "_pools_kept_by", lambda loop, create=False: None)
    server.responder = hi
    llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY)
    clients = _open_async_clients()
    for _ in range(5):
        assert asyncio.run(llm.ainvoke("hello")).text == "hi"
        loop = asyncio.new_event_loop()
        loop.run_until_complete(llm.ainvoke("hello"))
        loop.close()
    asyncio.run(llm.ainvoke("hello"))
    assert _open_async_clients() <= clients


def _used(server: ScriptedServer) -> ChatBhumi:
    server.responder = hi
    llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY, temperature=0.3)
    assert llm.invoke("warm up").text == "hi"
    asyncio.run(llm.ainvoke("warm up the async pool too"))
    return llm


@pytest.mark.parametrize("used", [False, True], ids=["fresh", "used"])
def test_pickle_round_trip_gives_a_working_model(used: bool, server: ScriptedServer) -> None:
    server.responder = hi
    llm = (
        _used(server)
        if used
        else ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY, temperature=0.3)
    )
    clone = pickle.loads(pickle.dumps(llm))
    assert clone.temperature == 0.3
    assert clone.api_key is not None and clone.api_key.get_secret_value() == KEY
    assert clone.invoke("again").text == "hi"
    assert asyncio.run(clone.ainvoke("again")).text == "hi"
    assert server.received[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("used", [False, True], ids=["fresh", "used"])
def test_deepcopy_gives_a_working_model_with_its_own_pool(
    used: bool, server: ScriptedServer
) -> None:
    server.responder = hi
    llm = (
        _used(server)
        if used
        else ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY, temperature=0.3)
    )
    clone = copy.deepcopy(llm)
    assert clone.invoke("again").text == "hi"
    assert asyncio.run(clone.ainvoke("again")).text == "hi"
    clone.close()
    assert llm.invoke("the original still works").text == "hi"  # its pool was not shared


def test_copy_and_model_copy_follow_the_copied_fields(server: ScriptedServer) -> None:
    llm = _used(server)
    shallow = copy.copy(llm)
    updated = llm.model_copy(update={"temperature": 0.9}, deep=True)
    shallow.close()
    assert llm.invoke("still open").text == "hi"
    assert updated.invoke("x").text == "hi"
    assert server.received[-1].json()["temperature"] == 0.9


def test_a_model_with_your_own_http_client_deep_copies_sharing_it(
    server: ScriptedServer,
) -> None:
    server.responder = hi
    with httpx.Client() as client:
        llm = ChatBhumi(model="openai/m", base_url=server.url, api_key=KEY, http_client=client)
        clone = copy.deepcopy(llm)
        assert clone.http_client is client
        assert clone.invoke("x").text == "hi"
        with pytest.raises(ConfigurationError, match="http_client"):
            pickle.dumps(llm)
