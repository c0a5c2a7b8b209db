"""A minimal, fast loopback server streaming OpenAI chat-completions SSE bodies.

Run by `run.py` in its own process (pinned to its own core when there are two), so the
clients measured never share a core with it. It speaks just enough HTTP/1.1 for httpx,
aiohttp and the openai SDK: keep-alive, `Content-Length` request bodies, chunked
responses. Bodies are pre-built per scenario; every SSE event is written as its own
chunked-encoding chunk with its own `transport.write`, as a real server does.

- `POST /<kind>/<n>/<pace_ms>/v1/chat/completions` (or `/v1/messages`, Anthropic's
  format) streams a scenario (see `workload`):
  unpaced (`pace_ms` 0) with write flow control, or with delta k sent at
  `start + (k + 1) * pace_ms` (absolute schedule, so pacing does not drift).
- `GET /stats` answers `{"cpu": <server CPU seconds>, "requests": n, "connections": n}`.

The server binds 127.0.0.1 only, prints `PORT <n>` when ready, and stops when its
standard input closes (the parent exited) or after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import deque

import workload

HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n"
    b"cache-control: no-cache\r\n"
    b"connection: keep-alive\r\n"
    b"x-request-id: req_bench\r\n"
    b"\r\n"
)
END = b"0\r\n\r\n"


def _chunked(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


def _plain(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    ).encode() + body


class Bodies:
    """Pre-built, chunk-framed response pieces per `(kind, n)`, built on first use."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], list[bytes]] = {}
        self.requests = 0
        self.connections = 0

    def get(self, kind: str, n: int, form: str = "chat/completions") -> list[bytes]:
        key = (form, kind, n)
        pieces = self._cache.get(key)
        if pieces is None:
            pieces = [_chunked(e) for e in workload.FORMATS[form](kind, n)]
            self._cache[key] = pieces
        return pieces


class BenchProtocol(asyncio.Protocol):
    """One connection: parse requests, stream responses (one at a time, keep-alive)."""

    def __init__(self, bodies: Bodies) -> None:
        self.bodies = bodies
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.queue: deque[bytes] = deque()
        self.busy = False
        self.paused = False
        self.timer: asyncio.TimerHandle | None = None

    # --- asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.bodies.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next_request()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.timer is None and self.queue:
            self._pump()

    # --- requests ------------------------------------------------------------------

    def _next_request(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    self._fail("400 Bad Request", "chunked request bodies are not supported")
                    return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self._respond(method, path)

    def _respond(self, method: str, path: str) -> None:
        assert self.transport is not None
        self.bodies.requests += 1
        if method == "GET" and path == "/stats":
            stats = {
                "cpu": time.process_time(),
                "requests": self.bodies.requests,
                "connections": self.bodies.connections,
            }
            self.transport.write(_plain("200 OK", json.dumps(stats).encode()))
            return
        parts = path.split("/")
        form = "messages" if path.endswith("/messages") else "chat/completions"
        try:
            kind, n, pace_ms = parts[1], int(parts[2]), int(parts[3])
            pieces = self.bodies.get(kind, n, form)
        except (IndexError, KeyError, ValueError) as exc:
            body = json.dumps({"error": {"message": f"bad path {path!r}: {exc}"}}).encode()
            self.transport.write(_plain("404 Not Found", body))
            return
        self.busy = True
        self.transport.write(HEADERS)
        self.queue.extend(pieces)
        self.queue.append(END)
        if pace_ms <= 0:
            self._pump()
            return
        # Leading events now; delta k at start + (k + 1) * pace; trailing events at once.
        for _ in range(workload.LEADING_EVENTS[form, kind]):
            self.transport.write(self.queue.popleft())
        self._paced(self.loop.time(), pace_ms / 1000, 1, n)

    def _paced(self, start: float, pace: float, k: int, n: int) -> None:
        self.timer = None
        if self.transport is None:
            return
        if k > 1:
            self.transport.write(self.queue.popleft())
        if k <= n:
            self.timer = self.loop.call_at(start + k * pace, self._paced, start, pace, k + 1, n)
        else:
            self._pump()

    def _pump(self) -> None:
        transport = self.transport
        queue = self.queue
        while queue and not self.paused and transport is not None:
            transport.write(queue.popleft())
        if not queue:
            self.busy = False
            if self.buffer:
                self._next_request()

    def _fail(self, status: str, message: str) -> None:
        assert self.transport is not None
        body = json.dumps({"error": {"message": message}}).encode()
        self.transport.write(_plain(status, body))
        self.transport.close()


async def serve(port: int, max_seconds: float) -> None:
    """Serve on 127.0.0.1 until stdin closes or `max_seconds` pass."""
    loop = asyncio.get_running_loop()
    bodies = Bodies()
    server = await loop.create_server(
        lambda: BenchProtocol(bodies), "127.0.0.1", port, backlog=2048, reuse_address=True
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = loop.create_future()

    def on_stdin() -> None:
        if not os.read(sys.stdin.fileno(), 4096) and not stop.done():
            stop.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await asyncio.wait_for(stop, max_seconds)
    except asyncio.TimeoutError:
        print("server: --max-seconds reached, stopping", file=sys.stderr)
    finally:
        loop.remove_reader(sys.stdin.fileno())
        server.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
