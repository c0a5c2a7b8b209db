"""Proxy overhead: concurrent streams through `langchain-bhumi serve`, P1-P4.

The backend is `server.py` (OpenAI-shaped SSE); the proxy runs in its own process with
one configuration serving every scenario. By default the streams are not paced: the
figure is what the proxy spends per chunk when chunks come faster than it forwards them
(paced streams, `--pace-ms`, add the per-read costs of many idle connections). A raw
httpx client streams N requests at once, first straight to the backend (the raw
reference: this process's CPU per chunk), then through the proxy, and checks every
stream: exact text, or exact tool calls (no lost or mixed chunks). The figure is the
proxy process's CPU per chunk.

    P1  text deltas, OpenAI frontend over the OpenAI backend
    P2  tool-argument fragments (2 parallel calls), OpenAI frontend
    P3  text deltas, Anthropic frontend (translated from the OpenAI backend)
    P4  text deltas, Gemini frontend (SSE, translated)

    python benchmarks/proxy.py                          # 10 streams x 2,000 chunks, unpaced
    python benchmarks/proxy.py --streams 100 --chunks 100 --pace-ms 20   # many slow ones
    python benchmarks/proxy.py --profile /tmp/proxy.txt   # py-spy record of the proxy

A benchmark, not a test: it prints figures and exits non-zero only when a stream came
back wrong. `run.py` runs the same scenarios in its interleaved run (`--proxy`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    label: str
    frontend: str
    kind: str


SCENARIOS = {
    "P1": Scenario("text delta, OpenAI frontend", "openai", "text"),
    "P2": Scenario("argument fragment, OpenAI frontend", "openai", "tools"),
    "P3": Scenario("text delta, Anthropic frontend", "anthropic", "text"),
    "P4": Scenario("text delta, Gemini frontend", "gemini", "text"),
}
TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
    for n in workload.TOOL_NAMES
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proxy:
    """`langchain-bhumi serve` over the benchmark backend, one model name per scenario
    kind (`text`, `tools`), optionally under `py-spy record`."""

    def __init__(
        self,
        root: str,
        chunks: int,
        pace_ms: int,
        profile: Path | None = None,
        async_backend: str = "httpx",
    ) -> None:
        self.port = free_port()
        self.async_backend = async_backend
        self.url = f"http://127.0.0.1:{self.port}"
        backends = "".join(
            f'[backends.{kind}]\nprovider = "openai"\napi_key = "x"\n'
            f'base_url = "{root}/{kind}/{chunks}/{pace_ms}/v1"\n'
            f'async_backend = "{async_backend}"\n\n'
            for kind in ("text", "tools")
        )
        models = '[models]\ntext = "text/bench"\ntools = "tools/bench"\n'
        server = f"[server]\nport = {self.port}\nmax_concurrent = 2000\n\n"
        self._config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)  # noqa: SIM115
        self._config.write(server + backends + models)
        self._config.close()
        command = [sys.executable, "-m", "langchain_bhumi", "serve", "--config", self._config.name]
        if profile is not None:
            spy = Path(sys.executable).with_name("py-spy")
            command = [
                str(spy),
                "record",
                "-r",
                "500",
                "-f",
                "raw",
                "-o",
                str(profile),
                "--",
                *command,
            ]
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            self.close()
            raise SystemExit("the proxy did not start")
        self.pid = self._served_pid()

    def _served_pid(self) -> int:
        """The Python process serving (under py-spy, its child)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            kids = children.read_text().split()
            if kids:
                return int(kids[0])
        return self.process.pid

    def close(self) -> None:
        self.process.send_signal(2)  # SIGINT: py-spy writes its file, uvicorn stops
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.unlink(self._config.name)


# --- clients, one per frontend ------------------------------------------------------------


def _request(scenario: Scenario, base: str) -> tuple[str, dict[str, Any]]:
    """URL and body of one streaming request for `scenario` at `base` (proxy or backend)."""
    user = {"role": "user", "content": "go"}
    if scenario.frontend == "anthropic":
        return f"{base}/v1/messages", {
            "model": scenario.kind, "max_tokens": 1000, "stream": True, "messages": [user]
        }  # fmt: skip
    if scenario.frontend == "gemini":
        url = f"{base}/v1beta/models/{scenario.kind}:streamGenerateContent?alt=sse"
        return url, {"contents": [{"role": "user", "parts": [{"text": "go"}]}]}
    body: dict[str, Any] = {"model": scenario.kind, "stream": True, "messages": [user]}
    if scenario.kind == "tools":
        body["tools"] = TOOLS
    return f"{base}/v1/chat/completions", body


def _read(frontend: str, data: dict[str, Any], text: list[str], calls: dict[int, Any]) -> bool:
    """Fold one event into the text and calls; whether it carried a delta."""
    if frontend == "anthropic":
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            text.append(delta["text"])
            return True
        return False
    if frontend == "gemini":
        found = False
        for candidate in data.get("candidates") or ():
            for part in (candidate.get("content") or {}).get("parts") or ():
                if part.get("text"):
                    text.append(part["text"])
                    found = True
        return found
    found = False
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            text.append(delta["content"])
            found = True
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            entry = calls.setdefault(call["index"], {"id": None, "name": None, "args": []})
            entry["id"] = entry["id"] or call.get("id")
            entry["name"] = entry["name"] or function.get("name")
            if function.get("arguments"):
                entry["args"].append(function["arguments"])
                found = True
    return found


async def one_stream(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], frontend: str
) -> tuple[Any, float]:
    started = time.monotonic()
    first = 0.0
    text: list[str] = []
    calls: dict[int, Any] = {}
    async with client.stream("POST", url, json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if not line.startswith("data:") or line[5:].strip() in ("", "[DONE]"):
                continue
            if _read(frontend, json.loads(line[5:]), text, calls) and not first:
                first = time.monotonic() - started
    if calls:
        assembled = [
            {"id": c["id"], "name": c["name"], "args": json.loads("".join(c["args"]))}
            for _, c in sorted(calls.items())
        ]
        return assembled, first
    return "".join(text), first


async def run_streams(
    url: str, body: dict[str, Any], frontend: str, streams: int
) -> tuple[float, list[tuple[Any, float]]]:
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(one_stream(client, url, body, frontend) for _ in range(streams))
        )
        return time.monotonic() - started, results


def measure(
    key: str, proxy: Proxy, root: str, streams: int, chunks: int, pace_ms: int
) -> dict[str, Any]:
    """One P scenario: direct (raw reference) then through the proxy; the figures."""
    scenario = SCENARIOS[key]
    expected: Any = (
        workload.expected_tool_calls(chunks)
        if scenario.kind == "tools"
        else workload.expected_text(chunks)
    )
    direct = Scenario(scenario.label, "openai", scenario.kind)
    direct_url, direct_body = _request(direct, f"{root}/{scenario.kind}/{chunks}/{pace_ms}")
    direct_body["model"] = "bench"
    asyncio.run(run_streams(direct_url, direct_body, "openai", 4))  # warm-up
    cpu0 = time.process_time()
    direct_wall, _ = asyncio.run(run_streams(direct_url, direct_body, "openai", streams))
    raw_cpu = time.process_time() - cpu0

    url, body = _request(scenario, proxy.url)
    asyncio.run(run_streams(url, body, scenario.frontend, 4))  # warm-up
    cpu0 = cpu_seconds(proxy.pid)
    wall, results = asyncio.run(run_streams(url, body, scenario.frontend, streams))
    proxy_cpu = cpu_seconds(proxy.pid) - cpu0
    firsts = sorted(first for _, first in results)
    items = streams * chunks
    return {
        "scenario": key,
        "label": scenario.label,
        "intact": sum(result == expected for result, _ in results),
        "streams": streams,
        "wall": wall,
        "direct_wall": direct_wall,
        "ideal": chunks * pace_ms / 1000,
        "proxy_cpu_us": proxy_cpu / items * 1e6,
        "raw_cpu_us": raw_cpu / items * 1e6,
        "ttft_ms": firsts[len(firsts) // 2] * 1000,
    }


def report_line(result: dict[str, Any]) -> str:
    ratio = result["proxy_cpu_us"] / result["raw_cpu_us"] if result["raw_cpu_us"] else 0
    return (
        f"{result['scenario']} {result['label']:36} proxy CPU {result['proxy_cpu_us']:6.1f} us "
        f"({ratio:.2f}x a raw httpx client's {result['raw_cpu_us']:.1f}), wall "
        f"{result['wall']:.2f} s (direct {result['direct_wall']:.2f}, ideal "
        f"{result['ideal']:.2f}), median first chunk {result['ttft_ms']:.0f} ms, "
        f"{result['intact']}/{result['streams']} intact"
    )


def main() -> None:
    from run import start_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--pace-ms", type=int, default=0, help="0: as fast as the proxy reads")
    parser.add_argument("--only", default="", help="comma-separated, e.g. P1,P3")
    parser.add_argument("--profile", type=Path, help="record the proxy with py-spy here")
    parser.add_argument(
        "--async-backend",
        choices=["httpx", "aiohttp"],
        default="httpx",
        help="the proxy's client to the backend (aiohttp: langchain-bhumi[aiohttp])",
    )
    args = parser.parse_args()
    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()] or list(SCENARIOS)

    backend, root = start_server(cpu=None)
    proxy = Proxy(root, args.chunks, args.pace_ms, args.profile, args.async_backend)
    results = []
    try:
        for key in keys:
            results.append(measure(key, proxy, root, args.streams, args.chunks, args.pace_ms))
            print(report_line(results[-1]), flush=True)
    finally:
        proxy.close()
        backend.stdin.close()  # type: ignore[union-attr]
        backend.wait(10)
    broken = [r["scenario"] for r in results if r["intact"] != r["streams"]]
    if broken:
        raise SystemExit(f"streams came back wrong through the proxy in {', '.join(broken)}")


if __name__ == "__main__":
    main()
