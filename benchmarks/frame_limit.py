"""Peak memory of a stream that never sends a newline, with and without the frame limit.

A loopback server (its own process) answers a streaming call with `data: xxxx...`: 100 MB
and no newline, in 64 KiB chunks. Each client run is a fresh process that streams it
through `ChatBhumi` and reports the error it got, how many bytes it read, and its peak
RSS growth. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/frame_limit.py [--mb 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import socket
import sys
import time

CHUNK = 64 * 1024


def serve(sock: socket.socket, total: int) -> None:
    """Answer each connection with `total` bytes of one SSE line, then end the body."""
    while True:
        conn, _ = sock.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            piece = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
            try:
                conn.sendall(b"6\r\ndata: \r\n")
                for _ in range(total // CHUNK):
                    conn.sendall(piece)
                conn.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the client gave up: what we want to see


def client(url: str, max_frame_size: int | None, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from langchain_bhumi import BhumiError, ChatBhumi

    options = {} if max_frame_size is None else {"max_frame_size": max_frame_size}
    llm = ChatBhumi(model="openai/m", base_url=url, api_key="sk-bench", max_retries=0, **options)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = "no error"
    try:
        for _ in llm.stream("hi"):
            pass
    except BhumiError as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:110]}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.put((outcome, (peak - before) / 1024, time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=100, help="size of the newline-free body")
    args = parser.parse_args()
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = multiprocessing.Process(target=serve, args=(sock, args.mb * 1024 * 1024), daemon=True)
    server.start()
    print(f"a {args.mb} MB body without a newline")
    print(f"{'max_frame_size':>16} {'peak RSS growth':>16} {'time':>7}  outcome")
    for limit in (None, 1024 * 1024, 1024**3):
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        run = multiprocessing.Process(target=client, args=(url, limit, queue))
        run.start()
        outcome, growth, seconds = queue.get()
        run.join()
        name = "default (16 MiB)" if limit is None else f"{limit:,}"
        print(f"{name:>16} {growth:>13.1f} MB {seconds:>6.2f}s  {outcome}")
    server.terminate()
    sys.exit(0)


if __name__ == "__main__":
    main()
