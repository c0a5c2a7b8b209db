"""Proxy soak: many concurrent streams through `langchain-bhumi serve`, mixed frontends.

Three processes on loopback: a scripted OpenAI-compatible backend (this file with
`--backend`), the proxy (`langchain-bhumi serve`), and the clients (this process). Every
stream asks for its own tag; the backend answers that tag in text deltas and in one
streamed tool call, paced. Each client reads its stream the way its API's clients do
(OpenAI chunks, Anthropic events, Gemini SSE or JSON array, Responses events: text
deltas, the call's argument deltas and its `output_item.done`) and must get exactly its own
text and call: a stream with another stream's tag in it counts as mixed. Prints wall
time, time to first byte and first token, the proxy's CPU and RSS before and after.

`--slow SECONDS` measures instead what a client sees from a backend that sends nothing
(not even headers, like llama-server reading a long prompt) for that long: time to the
first byte and to the first token per frontend, keep-alives received, and how long
after a client disconnects the backend sees its request closed.

    python benchmarks/soak.py                        # 1,000 streams, 20 deltas at 50 ms
    python benchmarks/soak.py --streams 200 --workers 2
    python benchmarks/soak.py --slow 60              # about a minute

The clients use aiohttp (`pip install -e '.[aiohttp]'`): httpcore's connection pool
scans every connection on every request, which at 1,000 connections costs the client
process more CPU than the proxy uses. A benchmark, not a test: nothing here asserts on
time; it exits non-zero only when a stream came back wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

FRONTENDS = ("openai", "anthropic", "gemini", "gemini-array", "responses")

# --- the backend ------------------------------------------------------------------------------


def _sse(data: dict[str, Any]) -> bytes:
    event = b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **top: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return _sse(
        {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": choices, **top}
    )


def answer(tag: str, deltas: int) -> list[bytes]:
    """The events of one answer: text deltas, then one tool call in argument pieces."""
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": f"{tag}-{k} "}) for k in range(deltas)]
    call = {"index": 0, "id": f"call_{tag}", "type": "function"}
    events.append(_chunk({"tool_calls": [{**call, "function": {"name": "echo", "arguments": ""}}]}))
    arguments = json.dumps({"tag": tag, "n": int(tag[1:])})
    for start in range(0, len(arguments), 7):
        piece = arguments[start : start + 7]
        events.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    events.append(_chunk({}, "tool_calls"))
    events.append(
        _chunk(
            None,
            usage={"prompt_tokens": 9, "completion_tokens": deltas, "total_tokens": 9 + deltas},
        )
    )
    events.append(b"e\r\ndata: [DONE]\n\n\r\n")
    return events


class Backend:
    """Streams `answer(tag)` for the last user message; model `slow-N` waits N seconds
    before sending anything. Records when a client closed before the end."""

    def __init__(self, deltas: int, pace: float) -> None:
        self.deltas = deltas
        self.pace = pace
        self.requests = 0
        self.closed_early: list[float] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if lines[0].startswith("GET /stats"):
                    stats = json.dumps(
                        {"requests": self.requests, "closed_early": self.closed_early}
                    )
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(stats), stats.encode())
                    )
                    await writer.drain()
                    continue
                self.requests += 1
                await self.respond(json.loads(body), reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def respond(
        self, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        model = str(request.get("model", ""))
        if model.startswith("slow-"):
            # Nothing until the time is up, unless the client leaves first.
            try:
                await asyncio.wait_for(reader.read(1), float(model[5:]))
                self.closed_early.append(time.time())
                raise ConnectionError
            except asyncio.TimeoutError:
                pass
        content = request["messages"][-1]["content"]
        tag = content if isinstance(content, str) else content[0]["text"]
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        start = asyncio.get_running_loop().time()
        for number, event in enumerate(answer(tag, self.deltas)):
            if self.pace and number:
                delay = start + number * self.pace - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
            writer.write(event)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def run_backend(port: int, deltas: int, pace: float) -> None:
    backend = Backend(deltas, pace)
    server = await asyncio.start_server(backend.serve, "127.0.0.1", port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
    await stop


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Result:
    frontend: str
    tag: str
    text: str = ""
    call: dict[str, Any] = field(default_factory=dict)
    headers: float = 0.0
    first_byte: float = 0.0
    first_token: float = 0.0
    left_at: float = 0.0
    keepalives: int = 0
    status: int = 0


def request_for(frontend: str, model: str, tag: str) -> tuple[str, dict[str, Any]]:
    tools_openai = [
        {"type": "function", "function": {"name": "echo", "parameters": {"type": "object"}}}
    ]
    if frontend == "openai":
        body = {
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": tag}],
            "tools": tools_openai,
        }
        return "/v1/chat/completions", body
    if frontend == "anthropic":
        body = {
            "model": model, "stream": True, "max_tokens": 256,
            "messages": [{"role": "user", "content": tag}],
            "tools": [{"name": "echo", "input_schema": {"type": "object"}}],
        }  # fmt: skip
        return "/v1/messages", body
    if frontend == "responses":
        body = {
            "model": model, "stream": True, "store": False, "input": tag,
            "tools": [{"type": "function", "name": "echo", "parameters": {"type": "object"}}],
        }  # fmt: skip
        return "/v1/responses", body
    body = {
        "contents": [{"role": "user", "parts": [{"text": tag}]}],
        "tools": [{"functionDeclarations": [{"name": "echo", "parameters": {"type": "object"}}]}],
    }
    method = ":streamGenerateContent" + ("?alt=sse" if frontend == "gemini" else "")
    return f"/v1beta/models/{model}{method}", body


def read_chunk(
    frontend: str, data: dict[str, Any], result: Result, calls: dict[int, list[str]]
) -> bool:
    """Adds one decoded chunk to `result`; whether it carried answer content."""
    before = (len(result.text), sum(len(p) for p in calls.values()), bool(result.call))
    if frontend == "openai":
        for choice in data.get("choices", []):
            delta = choice["delta"]
            result.text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                parts = calls.setdefault(call["index"], [])
                if call.get("id"):
                    result.call["name"] = call["function"]["name"]
                parts.append(call["function"].get("arguments") or "")
    elif frontend == "anthropic":
        kind = data["type"]
        if kind == "content_block_start" and data["content_block"]["type"] == "tool_use":
            result.call["name"] = data["content_block"]["name"]
        elif kind == "content_block_delta":
            delta = data["delta"]
            result.text += delta.get("text", "")
            if delta["type"] == "input_json_delta":
                calls.setdefault(0, []).append(delta["partial_json"])
    elif frontend == "responses":
        kind = data["type"]
        if kind == "response.output_text.delta":
            result.text += data["delta"]
        elif kind == "response.function_call_arguments.delta":
            calls.setdefault(0, []).append(data["delta"])
        elif kind == "response.output_item.done" and data["item"]["type"] == "function_call":
            item = data["item"]  # the whole call, as codex reads it
            result.call["name"] = item["name"]
            if item["arguments"] != "".join(calls.get(0, [])):
                result.call["arguments_in_done"] = item["arguments"]  # makes it wrong
    else:
        for candidate in data.get("candidates", []):
            for part in candidate.get("content", {}).get("parts", []):
                result.text += part.get("text", "")
                if "functionCall" in part:
                    result.call["name"] = part["functionCall"]["name"]
                    result.call["args"] = part["functionCall"]["args"]
    after = (len(result.text), sum(len(p) for p in calls.values()), bool(result.call))
    return after != before


async def one_stream(
    client: aiohttp.ClientSession,
    url: str,
    frontend: str,
    model: str,
    tag: str,
    leave_after: float | None = None,
) -> Result:
    path, body = request_for(frontend, model, tag)
    result = Result(frontend, tag)
    calls: dict[int, list[str]] = {}
    started = time.monotonic()
    async with client.post(url + path, json=body) as reply:
        result.status = reply.status
        result.headers = time.monotonic() - started
        buffer = raw = b""
        async for piece in reply.content.iter_any():
            now = time.monotonic() - started
            result.first_byte = result.first_byte or now
            if leave_after is not None and now >= leave_after:
                result.left_at = time.time()
                reply.close()  # drops the connection
                break
            buffer += piece
            raw += piece
            if frontend == "gemini-array":
                continue
            *events, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
            for event in events:
                for line in event.split(b"\n"):
                    if line.startswith(b"data: {") and read_chunk(
                        frontend, json.loads(line[6:]), result, calls
                    ):
                        result.first_token = result.first_token or now
        result.keepalives = keepalives(frontend, raw)
        if frontend == "gemini-array" and buffer:
            for data in json.loads(buffer):
                if read_chunk(frontend, data, result, calls):
                    result.first_token = result.first_token or time.monotonic() - started
    if calls:
        result.call["args"] = json.loads("".join(calls[0]) or "{}")
    return result


def keepalives(frontend: str, raw: bytes) -> int:
    """The keep-alives in a whole response: Anthropic pings, OpenAI SSE comments,
    repeated Responses `response.in_progress` events, and the blank lines before Gemini's
    first chunk."""
    if frontend == "anthropic":
        return raw.count(b"event: ping")
    if frontend == "responses":
        return max(0, raw.count(b"event: response.in_progress") - 1)
    if frontend == "openai":
        return raw.count(b"\n: ")
    first = min((i for i in (raw.find(b"data:"), raw.find(b"{")) if i >= 0), default=len(raw))
    return raw[:first].count(b"\r\n")


def session(seconds: float) -> aiohttp.ClientSession:
    """One client session for every stream: no connection limit, one connection each."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        timeout=aiohttp.ClientTimeout(total=seconds),
    )


def expected(tag: str, deltas: int) -> tuple[str, dict[str, Any]]:
    return "".join(f"{tag}-{k} " for k in range(deltas)), {
        "name": "echo",
        "args": {"tag": tag, "n": int(tag[1:])},
    }


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_backend(deltas: int, pace: float) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        __file__,
        "--backend",
        "--deltas",
        str(deltas),
        "--pace-ms",
        str(pace * 1000),
    ]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = process.stdout.readline().split()[1]
    return process, f"http://127.0.0.1:{port}"


def start_proxy(
    backend_url: str, streams: int, workers: int, config_dir: str, async_backend: str
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    config = Path(config_dir) / "proxy.toml"
    config.write_text(
        f"[server]\nport = {port}\nworkers = {workers}\nmax_concurrent = {streams + 100}\n"
        'log_level = "warning"\nkeepalive_interval = 5\n'
        f'[backends.local]\nprovider = "openai"\nbase_url = "{backend_url}/v1"\napi_key = "x"\n'
        "timeout = 300\nheader_timeout = 300\nmax_retries = 0\n"
        f'async_backend = "{async_backend}"\n'
    )
    command = [sys.executable, "-m", "langchain_bhumi", "serve", "--config", str(config)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=1)
            time.sleep(3 if workers > 1 else 0)  # the other workers import too
            return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the proxy did not start")


def family(pid: int) -> list[int]:
    """`pid` and its child processes (the workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *(k for kid in kids for k in family(kid))]


def memory_mb(pid: int, field_name: str = "VmRSS") -> float:
    total = 0
    for member in family(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in family(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# --- the runs ---------------------------------------------------------------------------------


async def soak(url: str, streams: int, deltas: int) -> tuple[float, list[Result]]:
    async with session(600) as client:
        started = time.monotonic()
        jobs = [
            one_stream(client, url, FRONTENDS[n % len(FRONTENDS)], "local/m", f"s{n}")
            for n in range(streams)
        ]
        results = await asyncio.gather(*jobs)
        return time.monotonic() - started, results


def report_soak(args: argparse.Namespace, url: str, proxy: subprocess.Popen[str]) -> int:
    asyncio.run(soak(url, 8, args.deltas))  # warm-up
    rss_before = memory_mb(proxy.pid)
    cpu_before = cpu_seconds(proxy.pid)
    clients_before = time.process_time()
    wall, results = asyncio.run(soak(url, args.streams, args.deltas))
    cpu = cpu_seconds(proxy.pid) - cpu_before
    clients_cpu = time.process_time() - clients_before
    rss_after = memory_mb(proxy.pid)
    peak = memory_mb(proxy.pid, "VmHWM")
    exact = mixed = 0
    wrong: Counter[str] = Counter()
    tags = {r.tag for r in results}
    for result in results:
        text, call = expected(result.tag, args.deltas)
        if result.status == 200 and result.text == text and result.call == call:
            exact += 1
            continue
        wrong[result.frontend] += 1
        foreign = {w.split("-")[0] for w in result.text.split()} - {result.tag}
        if foreign & tags or result.call.get("args", {}).get("tag", result.tag) != result.tag:
            mixed += 1
    events = args.streams * (args.deltas + 8)
    ideal = (args.deltas + 8) * args.pace_ms / 1000
    print(
        f"{args.streams} concurrent streams through the proxy ({args.workers} worker(s), "
        f"{args.backend_client} to the backend), "
        f"{args.deltas} text deltas + a streamed tool call each, paced {args.pace_ms:g} ms "
        f"(ideal {ideal:.2f} s per stream)"
    )
    print(f"  frontends: {dict(Counter(r.frontend for r in results))}")
    print(f"  wall {wall:.2f} s; exact outputs {exact}/{args.streams}; mixed streams {mixed}")
    if wrong:
        print(f"  wrong, by frontend: {dict(wrong)}")
        print(f"  statuses: {dict(Counter(r.status for r in results))}")

    def spread(values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return f"median {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"

    print(f"  headers: {spread([r.headers for r in results])}")
    print(f"  first byte: {spread([r.first_byte for r in results])}")
    print(f"  first token: {spread([r.first_token for r in results])}")
    print(f"  proxy CPU {cpu:.2f} s = {cpu / events * 1e6:.0f} us per backend event ({events})")
    print(f"  clients' CPU {clients_cpu:.2f} s (all {args.streams} in this process)")
    print(f"  proxy RSS (all its processes) before {rss_before:.0f} MB, after {rss_after:.0f} MB")
    print(f"  proxy peak RSS {peak:.0f} MB")
    return 0 if exact == args.streams else 1


async def slow(url: str, seconds: float) -> list[Result]:
    async with session(seconds + 120) as client:
        model = f"local/slow-{seconds:g}"
        jobs = [one_stream(client, url, f, model, f"s{n}") for n, f in enumerate(FRONTENDS)]
        leaving = one_stream(client, url, "openai", "local/slow-600", "s99", leave_after=2.0)
        return list(await asyncio.gather(*jobs, leaving))


def report_slow(args: argparse.Namespace, url: str, backend_url: str) -> int:
    *results, left = asyncio.run(slow(url, args.slow))
    closes = httpx.get(backend_url + "/stats").json()["closed_early"]
    print(
        f"a backend that sends nothing for {args.slow:g} s (not even headers); "
        "stream_start_wait 1 s, keep-alive every 5 s:"
    )
    for result in results:
        text, call = expected(result.tag, args.deltas)
        ok = "exact" if result.text == text and result.call == call else "WRONG"
        print(
            f"  {result.frontend:13} headers {result.headers * 1000:6.0f} ms, first byte "
            f"{result.first_byte * 1000:6.0f} ms, first token {result.first_token:5.1f} s, "
            f"keep-alives {result.keepalives:3d}, answer {ok}"
        )
    if closes:
        print(
            f"  a client that left mid-wait: the backend saw its request closed "
            f"{(closes[0] - left.left_at) * 1000:.1f} ms after the client closed"
        )
    return 0 if all(r.first_token for r in results) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--deltas", type=int, default=20)
    parser.add_argument("--pace-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--backend-client",
        choices=["httpx", "aiohttp"],
        default="httpx",
        help="the proxy's client for the backend ([backends.x].async_backend)",
    )
    parser.add_argument("--slow", type=float, default=None, help="seconds of backend silence")
    parser.add_argument("--backend", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        asyncio.run(run_backend(0, args.deltas, args.pace_ms / 1000))
        return
    backend, backend_url = start_backend(args.deltas, args.pace_ms / 1000)
    with tempfile.TemporaryDirectory() as config_dir:
        proxy, url = start_proxy(
            backend_url, args.streams, args.workers, config_dir, args.backend_client
        )
        try:
            code = (
                report_slow(args, url, backend_url) if args.slow else report_soak(args, url, proxy)
            )
        finally:
            proxy.terminate()
            proxy.wait(30)
            assert backend.stdin is not None
            backend.stdin.close()
            backend.wait(10)
    sys.exit(code)


if __name__ == "__main__":
    main()
