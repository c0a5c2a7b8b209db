"""A scripted HTTP/1.1 server on 127.0.0.1 that controls every byte, delay, stall and cut.

Tests enqueue `Scripted` responses; each incoming request takes the next one. Bodies go
out as HTTP chunks, one per part, flushed separately, with optional delays: so a test can
split a stream at any byte, stall after the headers, stall between chunks, or drop the
connection mid-stream. Every request is recorded (method, path, headers, JSON body).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scripted:
    """One scripted response.

    Attributes:
        status: HTTP status.
        parts: Body pieces, each sent as its own HTTP chunk (and TCP write).
        headers: Extra response headers.
        content_type: Content-Type header.
        delay: Seconds to wait before each part.
        stall_before_headers: Seconds to wait before sending anything (the hang).
        stall_after: After this many parts, wait `stall_seconds` (a mid-stream stall).
        stall_seconds: How long a stall lasts.
        cut_after: After this many parts, close the socket without ending the body.
        release: Send nothing until this event is set (a backend that takes as long as
            the test says, e.g. to read a long prompt).

    While it waits (a stall or `release`), the server watches the connection: a client
    that hangs up ends the response at once and counts in `ScriptedServer.aborted`.
    """

    status: int = 200
    parts: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    delay: float = 0.0
    stall_before_headers: float = 0.0
    stall_after: int | None = None
    stall_seconds: float = 0.0
    cut_after: int | None = None
    release: threading.Event | None = None

    @classmethod
    def sse(cls, *chunks: Any, done: bool = True, **kwargs: Any) -> Scripted:
        """An OpenAI-style SSE body: each chunk a `data:` event, then `[DONE]`."""
        frames = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]
        if done:
            frames.append(b"data: [DONE]\n\n")
        return cls(parts=frames, **kwargs)

    @classmethod
    def json(cls, body: Any, status: int = 200, **kwargs: Any) -> Scripted:
        return cls(
            status=status,
            parts=[json.dumps(body).encode()],
            content_type="application/json",
            **kwargs,
        )


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


Responder = Callable[["Received"], Scripted]


class ScriptedServer:
    """Serve scripted responses on 127.0.0.1; use as a context manager.

    Each request takes the next enqueued `Scripted`, or, when a `responder` is set and the
    queue is empty, whatever it returns for that request. `aborted` counts responses the
    client hung up on before they were complete.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self.aborted = 0
        self._queue: deque[Scripted] = deque()
        self.received: list[Received] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *responses: Scripted) -> None:
        with self._lock:
            self._queue.extend(responses)

    def __enter__(self) -> ScriptedServer:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            while not self._stop.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                self.received.append(request)
                with self._lock:
                    queued = self._queue.popleft() if self._queue else None
                script = queued or (
                    self.responder(request)
                    if self.responder
                    else Scripted(
                        status=500,
                        parts=[b'{"error": "no scripted response left"}'],
                        content_type="application/json",
                    )
                )
                if not self._respond(conn, script):
                    return
        except OSError:
            return
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket, buffer: bytes) -> tuple[Received | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(buffer) < length:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buffer += data
        body, buffer = buffer[:length], buffer[length:]
        return Received(method, path, headers, body), buffer

    def _respond(self, conn: socket.socket, script: Scripted) -> bool:
        try:
            return self._send(conn, script)
        except OSError:  # the client hung up mid-response
            self.aborted += 1
            return False

    def _wait(
        self, conn: socket.socket, seconds: float, until: threading.Event | None = None
    ) -> bool:
        """Wait `seconds` (or until `until` is set); `False` when the server stops or the
        client hangs up meanwhile."""
        deadline = time.monotonic() + seconds
        while not (until.is_set() if until is not None else time.monotonic() >= deadline):
            if self._stop.is_set():
                return False
            readable, _, _ = select.select([conn], [], [], 0.02)
            if readable:
                if not conn.recv(1, socket.MSG_PEEK):
                    self.aborted += 1  # the client closed its end
                    return False
                time.sleep(0.02)  # the client's next request, already sent: not a hang-up
        return True

    def _send(self, conn: socket.socket, script: Scripted) -> bool:
        if script.release is not None and not self._wait(conn, 0, script.release):
            return False
        if script.stall_before_headers and not self._wait(conn, script.stall_before_headers):
            return False
        head = [
            f"HTTP/1.1 {script.status} {_REASONS.get(script.status, 'Status')}",
            f"content-type: {script.content_type}",
            "transfer-encoding: chunked",
        ]
        head += [f"{k}: {v}" for k, v in script.headers.items()]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for number, part in enumerate(script.parts):
            if script.cut_after is not None and number == script.cut_after:
                conn.shutdown(socket.SHUT_RDWR)
                return False
            if (
                script.stall_after is not None
                and number == script.stall_after
                and not self._wait(conn, script.stall_seconds)
            ):
                return False
            if script.delay:
                time.sleep(script.delay)
            if part:
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        if script.cut_after is not None and script.cut_after >= len(script.parts):
            conn.shutdown(socket.SHUT_RDWR)
            return False
        conn.sendall(b"0\r\n\r\n")
        return True


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    """`data` cut at the given byte offsets (sorted, deduplicated, clipped)."""
    cuts = sorted({p for p in points if 0 < p < len(data)})
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces
