"""Proxy overhead: N concurrent streams through `langchain-bhumi serve` vs the backend directly.

The backend is `server.py` (OpenAI-shaped SSE, paced deltas); the proxy runs in its own
process with its OpenAI frontend in front of that backend. The same raw httpx client
streams N requests at once, first straight to the backend, then through the proxy, and
checks every stream's text is exactly the expected one (no lost or mixed chunks). Prints
wall time, the proxy's own CPU per chunk (its overhead), and the time to first chunk.

    python benchmarks/proxy.py                 # 100 streams x 100 chunks at 20 ms
    python benchmarks/proxy.py --streams 20 --chunks 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import start_server  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_stream(client: httpx.AsyncClient, url: str) -> tuple[str, float]:
    started = time.monotonic()
    first = 0.0
    text: list[str] = []
    body = {"model": "bench", "messages": [{"role": "user", "content": "go"}], "stream": True}
    async with client.stream("POST", url, json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices", []):
                piece = choice["delta"].get("content")
                if piece:
                    if not first:
                        first = time.monotonic() - started
                    text.append(piece)
    return "".join(text), first


async def run_streams(url: str, streams: int) -> tuple[float, list[tuple[str, float]]]:
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.monotonic()
        results = await asyncio.gather(*(one_stream(client, url) for _ in range(streams)))
        return time.monotonic() - started, results


def start_proxy(backend_root: str, pace: int, chunks: int) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    base = f"{backend_root}/text/{chunks}/{pace}/v1"
    command = [
        sys.executable, "-m", "langchain_bhumi", "serve", "--model", "openai/bench",
        "--base-url", base, "--api-key", "x", "--port", str(port), "--max-concurrent", "1000",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, f"http://127.0.0.1:{port}"
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the proxy did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--pace-ms", type=int, default=20)
    args = parser.parse_args()

    backend, root = start_server(cpu=None)
    proxy, proxy_url = start_proxy(root, args.pace_ms, args.chunks)
    try:
        direct_url = f"{root}/text/{args.chunks}/{args.pace_ms}/v1/chat/completions"
        asyncio.run(run_streams(direct_url, 4))  # warm-up
        direct_wall, direct = asyncio.run(run_streams(direct_url, args.streams))
        expected = direct[0][0]
        asyncio.run(run_streams(proxy_url + "/v1/chat/completions", 4))  # warm-up
        cpu_before = cpu_seconds(proxy.pid)
        proxy_wall, proxied = asyncio.run(
            run_streams(proxy_url + "/v1/chat/completions", args.streams)
        )
        proxy_cpu = cpu_seconds(proxy.pid) - cpu_before
    finally:
        proxy.terminate()
        backend.stdin.close()  # type: ignore[union-attr]
        proxy.wait(10)
        backend.wait(10)

    intact = sum(text == expected for text, _ in proxied)
    chunks = args.streams * args.chunks
    ideal = args.chunks * args.pace_ms / 1000

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    ttft_direct = median([f for _, f in direct]) * 1000
    ttft_proxy = median([f for _, f in proxied]) * 1000
    print(f"{args.streams} concurrent streams x {args.chunks} chunks at {args.pace_ms} ms")
    print(f"(ideal wall {ideal:.2f} s)")
    print(f"{'':28}{'direct':>12}{'via proxy':>12}")
    print(f"{'wall s':28}{direct_wall:12.2f}{proxy_wall:12.2f}")
    print(f"{'median first chunk ms':28}{ttft_direct:12.1f}{ttft_proxy:12.1f}")
    print(f"{'streams intact':28}{args.streams:12d}{intact:12d}")
    per_chunk = proxy_cpu / chunks * 1e6
    print(f"proxy CPU: {proxy_cpu:.2f} s for {chunks} chunks = {per_chunk:.1f} us per chunk")
    if intact != args.streams:
        raise SystemExit(f"{args.streams - intact} streams came back wrong through the proxy")


if __name__ == "__main__":
    main()
