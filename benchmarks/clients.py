"""Benchmark worker: measures ONE client against the loopback server, in its own process.

`run.py` starts one worker per client, so the peak RSS (`ru_maxrss`) is that client's
alone. The worker runs the selected scenarios in order, then prints one JSON line.

Clients:
    raw         httpx.Client + httpx-sse + json.loads (httpx.AsyncClient for S4)
    raw-async   httpx.AsyncClient + httpx-sse + json.loads for every scenario
    raw-aio     the raw loop on httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())
    lc-floor    the raw loop inside a minimal `BaseChatModel` (langchain-core's own cost)
    bhumi       ChatBhumi `.stream()` (`.astream()` for S4), its own connection pool
    bhumi-async ChatBhumi `.astream()` for every scenario
    bhumi-aio   ChatBhumi `.astream()` over `http_async_client` on AiohttpTransport
    openai      langchain-openai's ChatOpenAI `.stream()` (`.astream()` for S4)
    anthropic   langchain-anthropic's ChatAnthropic `.stream()` (`.astream()` for S4), on
                the same workload in Anthropic's Messages format

Sync clients run S1-S3 synchronously and S4 with asyncio; async clients run everything
on one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import httpx_sse
import workload
from workload import Sizes

PROMPT = "Say something."
BODY: dict[str, Any] = {
    "model": workload.MODEL,
    "messages": [{"role": "user", "content": PROMPT}],
    "stream": True,
    "stream_options": {"include_usage": True},
}
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

Calls = list[dict[str, Any]]
"""Assembled tool calls: `[{"id", "name", "args"}]` in call order."""
Factory = Callable[[str, list[Any]], Any]
"""Builds a model for a base URL; appends the async HTTP clients it creates (to close)."""


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- clients -------------------------------------------------------------------------


class Client:
    """One way of consuming a stream. `text`/`tools` return the result and chunk count."""

    is_async = False
    patterns: tuple[str, ...] = ("merge",)

    def __init__(self, root: str) -> None:
        self.root = root

    def url(self, path: str) -> str:
        return f"{self.root}{path}/chat/completions"

    def text(self, path: str, pattern: str = "merge") -> tuple[str, int]:
        raise NotImplementedError

    def tools(self, path: str, pattern: str) -> tuple[Calls, int]:
        raise NotImplementedError

    async def atext(self, path: str, pattern: str = "merge") -> tuple[str, int]:
        raise NotImplementedError

    async def atools(self, path: str, pattern: str) -> tuple[Calls, int]:
        raise NotImplementedError

    def close(self) -> None:
        """Release sync resources."""

    async def aclose(self) -> None:
        """Release async resources."""

    async def reset_async(self, path: str) -> None:
        """Drop the async connection pool used for `path`, so the next run starts cold."""


class _RawAccumulator:
    """The raw loop's state: text pieces and per-index tool-call pieces."""

    __slots__ = ("calls", "events", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.events = 0

    def feed(self, data: str) -> None:
        """Handle one SSE data field (`[DONE]` is skipped)."""
        if data == "[DONE]":
            return
        self.events += 1
        chunk = json.loads(data)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content = delta.get("content")
            if content:
                self.text.append(content)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for tc in tool_calls:
                    function = tc.get("function") or {}
                    call = self.calls.get(tc["index"])
                    if call is None:
                        call = {"id": tc.get("id"), "name": function.get("name"), "args": []}
                        self.calls[tc["index"]] = call
                    args = function.get("arguments")
                    if args:
                        call["args"].append(args)

    def assembled(self) -> Calls:
        return [
            {"id": c["id"], "name": c["name"], "args": json.loads("".join(c["args"]))}
            for _, c in sorted(self.calls.items())
        ]


class RawClient(Client):
    """httpx + httpx-sse + json.loads: the floor any client built on httpx can reach."""

    patterns = ("merge",)

    def __init__(self, root: str, *, aio: bool = False, async_only: bool = False) -> None:
        super().__init__(root)
        self.is_async = aio or async_only
        self.aio = aio
        self.sync_client = httpx.Client(limits=LIMITS, timeout=TIMEOUT)
        self._async_client: httpx.AsyncClient | None = None

    @property
    def async_client(self) -> httpx.AsyncClient:
        if self._async_client is None:
            if self.aio:
                from httpx_aiohttp import AiohttpTransport

                transport = AiohttpTransport(limits=LIMITS)
                self._async_client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT)
            else:
                self._async_client = httpx.AsyncClient(limits=LIMITS, timeout=TIMEOUT)
        return self._async_client

    def _run(self, path: str, tools: bool) -> _RawAccumulator:
        body = {**BODY, "tools": workload.TOOL_SCHEMAS} if tools else BODY
        acc = _RawAccumulator()
        with httpx_sse.connect_sse(self.sync_client, "POST", self.url(path), json=body) as es:
            es.response.raise_for_status()
            # Read to the end of the body (past [DONE]) so the connection is reused.
            for sse in es.iter_sse():
                acc.feed(sse.data)
        return acc

    async def _arun(self, path: str, tools: bool) -> _RawAccumulator:
        body = {**BODY, "tools": workload.TOOL_SCHEMAS} if tools else BODY
        acc = _RawAccumulator()
        async with httpx_sse.aconnect_sse(
            self.async_client, "POST", self.url(path), json=body
        ) as es:
            es.response.raise_for_status()
            async for sse in es.aiter_sse():
                acc.feed(sse.data)
        return acc

    def text(self, path: str, pattern: str = "merge") -> tuple[str, int]:
        acc = self._run(path, tools=False)
        return "".join(acc.text), acc.events

    def tools(self, path: str, pattern: str) -> tuple[Calls, int]:
        acc = self._run(path, tools=True)
        return acc.assembled(), acc.events

    async def atext(self, path: str, pattern: str = "merge") -> tuple[str, int]:
        acc = await self._arun(path, tools=False)
        return "".join(acc.text), acc.events

    async def atools(self, path: str, pattern: str) -> tuple[Calls, int]:
        acc = await self._arun(path, tools=True)
        return acc.assembled(), acc.events

    def close(self) -> None:
        self.sync_client.close()

    async def aclose(self) -> None:
        if self._async_client is not None:
            await self._async_client.aclose()

    async def reset_async(self, path: str) -> None:
        await self.aclose()
        self._async_client = None


class LangChainClient(Client):
    """A LangChain chat model consumed as a user would: `.stream()` / `.astream()`.

    S1 and S2 patterns:
        merge    S1: read each chunk's text; S2: collect the chunks, merge once at the
                 end (`chunks[0] + chunks[1:]`), which is what LangChain's own
                 `stream()`/`invoke()` do internally
        running  `full = chunk if full is None else full + chunk` on every chunk
    """

    patterns = ("merge", "running")

    def __init__(self, root: str, factory: Factory, *, is_async: bool, v1: bool = True) -> None:
        super().__init__(root)
        self.factory = factory
        self.is_async = is_async
        self.v1 = v1  # the base URL keeps its `/v1` (the Anthropic SDK adds its own)
        self.models: dict[tuple[str, bool], Any] = {}
        self.owned: dict[tuple[str, bool], list[Any]] = {}

    def model(self, path: str, tools: bool = False) -> Any:
        """One model instance per scenario (its base URL selects the scenario)."""
        key = (path, tools)
        model = self.models.get(key)
        if model is None:
            owned: list[Any] = []
            base = path if self.v1 else path.removesuffix("/v1")
            model = self.factory(self.root + base, owned)
            if tools:
                model = model.bind_tools(workload.TOOL_SCHEMAS)
            self.models[key] = model
            self.owned[key] = owned
        return model

    def text(self, path: str, pattern: str = "merge") -> tuple[str, int]:
        if pattern == "running":
            full, count = self._merge(self.model(path).stream(PROMPT), pattern)
            return full.text, count
        parts = []
        for chunk in self.model(path).stream(PROMPT):
            parts.append(chunk.text)
        return "".join(parts), len(parts)

    async def atext(self, path: str, pattern: str = "merge") -> tuple[str, int]:
        full = None
        parts = []
        async for chunk in self.model(path).astream(PROMPT):
            if pattern == "running":
                full = chunk if full is None else full + chunk
            parts.append(chunk.text)
        return (full.text if full is not None else "".join(parts)), len(parts)

    @staticmethod
    def _merge(chunks: Iterator[Any], pattern: str) -> tuple[Any, int]:
        if pattern == "merge":
            collected = list(chunks)
            return collected[0] + collected[1:], len(collected)
        full = None
        count = 0
        for chunk in chunks:
            full = chunk if full is None else full + chunk
            count += 1
        return full, count

    def tools(self, path: str, pattern: str) -> tuple[Calls, int]:
        full, count = self._merge(self.model(path, tools=True).stream(PROMPT), pattern)
        return _calls(full), count

    async def atools(self, path: str, pattern: str) -> tuple[Calls, int]:
        stream = self.model(path, tools=True).astream(PROMPT)
        if pattern == "merge":
            collected = [chunk async for chunk in stream]
            return _calls(collected[0] + collected[1:]), len(collected)
        full = None
        count = 0
        async for chunk in stream:
            full = chunk if full is None else full + chunk
            count += 1
        return _calls(full), count

    def close(self) -> None:
        for model in self.models.values():
            close = getattr(getattr(model, "bound", model), "close", None)
            if close is not None:
                close()

    async def _aclose(self, key: tuple[str, bool]) -> None:
        model = self.models.pop(key)
        aclose = getattr(getattr(model, "bound", model), "aclose", None)
        if aclose is not None:
            await aclose()
        for client in self.owned.pop(key):
            await client.aclose()

    async def aclose(self) -> None:
        for key in list(self.models):
            await self._aclose(key)

    async def reset_async(self, path: str) -> None:
        for key in [k for k in self.models if k[0] == path]:
            await self._aclose(key)


def _calls(message: Any) -> Calls:
    if message.invalid_tool_calls:
        raise AssertionError(f"invalid tool calls: {message.invalid_tool_calls!r:.300}")
    return [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in message.tool_calls]


def make_client(name: str, root: str) -> Client:
    """Build the named client (heavy imports happen here, after the RSS baseline)."""
    if name == "raw":
        return RawClient(root)
    if name == "raw-async":
        return RawClient(root, async_only=True)
    if name == "raw-aio":
        return RawClient(root, aio=True)
    if name.startswith("bhumi"):
        from pydantic import SecretStr

        from langchain_bhumi import ChatBhumi

        def bhumi(base_url: str, owned: list[Any]) -> Any:
            external = None
            if name == "bhumi-aio":
                from httpx_aiohttp import AiohttpTransport

                external = httpx.AsyncClient(
                    transport=AiohttpTransport(limits=LIMITS), timeout=TIMEOUT
                )
                owned.append(external)
            return ChatBhumi(  # type: ignore[call-arg]
                model="openai/bench",
                base_url=base_url,
                api_key=SecretStr("x"),
                http_async_client=external,
            )

        return LangChainClient(root, bhumi, is_async=name != "bhumi")
    if name == "lc-floor":
        from floor import FloorChatModel

        return LangChainClient(root, lambda url, _: FloorChatModel(base_url=url), is_async=False)
    if name == "openai":
        import openai
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        def chat_openai(base_url: str, owned: list[Any]) -> Any:
            # Its own async pool (the SDK's default client, on httpx2 in openai 3.x), so
            # S4 can start cold; the sync client is langchain-openai's cached default.
            pool = openai.DefaultAsyncHttpxClient()
            owned.append(pool)
            return ChatOpenAI(
                model="bench",
                base_url=base_url,
                api_key=SecretStr("x"),
                stream_usage=True,
                http_async_client=pool,
            )

        return LangChainClient(root, chat_openai, is_async=False)
    if name == "anthropic":
        from langchain_anthropic import ChatAnthropic
        from pydantic import SecretStr

        def chat_anthropic(base_url: str, owned: list[Any]) -> Any:
            return ChatAnthropic(  # type: ignore[call-arg]
                model="bench", base_url=base_url, api_key=SecretStr("x"), max_tokens=1_000_000
            )

        return LangChainClient(root, chat_anthropic, is_async=False, v1=False)
    raise SystemExit(f"unknown client {name!r}")


# --- scenarios -----------------------------------------------------------------------


@dataclass
class Result:
    """One scenario's measurement (the best of the repeats, by wall time)."""

    value: float | None = None
    unit: str = ""
    wall: float = 0.0
    cpu: float = 0.0
    items: int = 0
    yielded: int = 0
    server_cpu: float = 0.0
    runs: int = 0
    rss_after_mb: float = 0.0
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Bench:
    """Runs scenarios for one client and keeps the results."""

    def __init__(self, client: Client, root: str, sizes: Sizes, repeat: int, budget: float):
        self.client = client
        self.sizes = sizes
        self.repeat = repeat
        self.budget = budget
        self.loop = asyncio.new_event_loop()
        self.stats = httpx.Client(base_url=root, timeout=10)

    def server_stats(self) -> tuple[float, int]:
        """Server CPU seconds and connections accepted so far."""
        stats = self.stats.get("/stats").json()
        return float(stats["cpu"]), int(stats["connections"])

    def call(self, sync: Callable[[], Any], coro: Callable[[], Awaitable[Any]]) -> Any:
        """Run the sync or async flavour of a call, as this client does."""
        if self.client.is_async:
            return self.loop.run_until_complete(coro())
        return sync()

    def measure(
        self,
        scenario: Callable[[], int],
        items: int,
        per: float,
        unit: str,
        setup: Callable[[], None] | None = None,
    ) -> Result:
        """Run `scenario` up to `repeat` times (within `budget` s); keep the fastest run.

        `scenario` returns how many chunks the consumer saw; `setup` runs untimed first.
        """
        best = Result(unit=unit, items=items)
        spent = 0.0
        for run in range(self.repeat):
            if setup is not None:
                setup()
            gc.collect()
            server0, conns0 = self.server_stats()
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            yielded = scenario()
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            server1, conns1 = self.server_stats()
            spent += wall
            if best.runs == 0 or wall < best.wall:
                best.wall, best.cpu, best.yielded = wall, cpu, yielded
                best.server_cpu = server1 - server0
                best.extra["new_connections"] = conns1 - conns0
            best.runs = run + 1
            if spent > self.budget:
                break
        best.value = best.wall * per / items
        best.rss_after_mb = _peak_rss_mb()
        return best

    # S1 ---------------------------------------------------------------------------

    def s1(self, pattern: str) -> Result:
        n = self.sizes.s1_chunks
        path = workload.scenario_path("text", n)
        expected = workload.expected_text(n)
        client = self.client

        def once() -> int:
            text, count = self.call(
                lambda: client.text(path, pattern), lambda: client.atext(path, pattern)
            )
            _check(text == expected, f"S1 text differs ({len(text)} vs {len(expected)} chars)")
            return int(count)

        return self.measure(once, n, 1e6, "us/chunk")

    # S2 ---------------------------------------------------------------------------

    def s2(self, pattern: str) -> Result:
        n = self.sizes.s2_fragments
        path = workload.scenario_path("tools", n)
        expected = workload.expected_tool_calls(n)
        client = self.client

        def once() -> int:
            calls, count = self.call(
                lambda: client.tools(path, pattern), lambda: client.atools(path, pattern)
            )
            _check(calls == expected, f"S2 tool calls differ: {_diff(calls, expected)}")
            return int(count)

        return self.measure(once, n, 1e6, "us/fragment")

    # S3 ---------------------------------------------------------------------------

    def s3(self) -> Result:
        sizes = self.sizes
        path = workload.scenario_path("text", sizes.s3_chunks)
        expected = workload.expected_text(sizes.s3_chunks)
        client = self.client

        def sync_loop() -> int:
            total = 0
            for _ in range(sizes.s3_requests):
                text, count = client.text(path)
                _check(text == expected, "S3 text differs")
                total += count
            return total

        async def async_loop() -> int:
            total = 0
            for _ in range(sizes.s3_requests):
                text, count = await client.atext(path)
                _check(text == expected, "S3 text differs")
                total += count
            return total

        def once() -> int:
            return int(self.call(sync_loop, async_loop))

        return self.measure(once, sizes.s3_requests, 1e3, "ms/request")

    # S4 ---------------------------------------------------------------------------

    def s4(self) -> Result:
        sizes = self.sizes
        path = workload.scenario_path("text", sizes.s4_chunks, sizes.s4_pace_ms)
        expected = workload.expected_text(sizes.s4_chunks)
        client = self.client

        async def crowd() -> int:
            results = await asyncio.gather(
                *(client.atext(path) for _ in range(sizes.s4_streams)), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            _check(not errors, f"S4: {len(errors)} streams failed: {errors[:1]!r}")
            wrong = sum(1 for r in results if isinstance(r, tuple) and r[0] != expected)
            _check(not wrong, f"S4: {wrong} streams had the wrong text")
            return sum(r[1] for r in results if isinstance(r, tuple))

        def once() -> int:
            return self.loop.run_until_complete(crowd())

        def cold() -> None:  # untimed: every run opens its connections (a cold pool)
            self.loop.run_until_complete(client.reset_async(path))

        result = self.measure(once, 1, 1, "s wall", setup=cold)
        chunks = sizes.s4_streams * sizes.s4_chunks
        result.extra["cpu_us_per_chunk"] = result.cpu * 1e6 / chunks
        result.extra["ideal"] = sizes.s4_chunks * sizes.s4_pace_ms / 1000
        return result

    # warm-up ----------------------------------------------------------------------

    def warm_up(self, scenarios: list[str]) -> None:
        """Import lazily loaded modules and open a connection, outside every timing."""
        client = self.client
        small = workload.scenario_path("text", 5)
        for _ in range(3):
            self.call(lambda: client.text(small), lambda: client.atext(small))
        if "S2" in scenarios:
            tools = workload.scenario_path("tools", 20)
            for pattern in client.patterns:
                self.call(
                    lambda p=pattern: client.tools(tools, p),  # type: ignore[misc]
                    lambda p=pattern: client.atools(tools, p),  # type: ignore[misc]
                )
        if "S4" in scenarios and not client.is_async:
            self.loop.run_until_complete(client.atext(small))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.client.close()
        self.loop.close()
        self.stats.close()


class BenchError(Exception):
    """A client assembled the wrong result."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise BenchError(message)


def _diff(calls: Calls, expected: Calls) -> str:
    if len(calls) != len(expected):
        return f"{len(calls)} calls instead of {len(expected)}"
    for got, want in zip(calls, expected, strict=True):
        for key in ("id", "name", "args"):
            if got[key] != want[key]:
                return f"call {want['name']}: {key} differs ({str(got[key])[:80]!r})"
    return "?"


def run(
    name: str,
    root: str,
    sizes: Sizes,
    scenarios: list[str],
    repeat: int,
    freeze: bool = False,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Measure one client (every scenario key but those in `skip`); the JSON-able report."""
    rss_start = _rss_mb()
    client = make_client(name, root)
    rss_imported = _rss_mb()
    if freeze:  # an application-level knob: keep import-time objects out of GC scans
        gc.collect()
        gc.freeze()
    bench = Bench(client, root, sizes, repeat, budget=6.0)
    results: dict[str, Result] = {}
    try:
        bench.warm_up(scenarios)
    except Exception as exc:
        return {"client": name, "error": f"warm-up failed: {exc!r}"}
    steps: list[tuple[str, Callable[[], Result]]] = []
    if "S1" in scenarios:
        for pattern in client.patterns:
            steps.append((f"S1.{pattern}", lambda p=pattern: bench.s1(p)))  # type: ignore[misc]
    if "S2" in scenarios:
        for pattern in client.patterns:
            steps.append((f"S2.{pattern}", lambda p=pattern: bench.s2(p)))  # type: ignore[misc]
    if "S3" in scenarios:
        steps.append(("S3", bench.s3))
    if "S4" in scenarios:
        steps.append(("S4", bench.s4))
    for key, step in steps:
        if key in skip:
            continue
        print(f"  {name} {key} ...", file=sys.stderr, flush=True)
        try:
            results[key] = step()
        except Exception as exc:
            results[key] = Result(error=f"{type(exc).__name__}: {exc}"[:300])
    bench.close()
    return {
        "client": name,
        "results": {k: asdict(v) for k, v in results.items()},
        "rss_start_mb": rss_start,
        "rss_imported_mb": rss_imported,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    """Command line entry point (normally started by `run.py`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True)
    parser.add_argument("--root", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scenarios", default="S1,S2,S3,S4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after imports")
    parser.add_argument("--skip", default="", help="scenario keys not to run, e.g. S2.running")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    sizes = workload.QUICK if args.quick else workload.FULL
    scenarios = args.scenarios.split(",")
    skip = frozenset(k for k in args.skip.split(",") if k)
    report = run(args.client, args.root, sizes, scenarios, args.repeat, args.gc_freeze, skip)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
