"""Profile one client on one scenario, and say where the time goes by package.

Examples:
    # cProfile: top functions and self time per package (our code, langchain-core, httpx...)
    python benchmarks/profile_client.py --client bhumi --scenario S1

    # py-spy (sampling, lower overhead): record, then summarize the collapsed stacks
    py-spy record -r 2000 -f raw -o /tmp/s1.txt -- \\
        python benchmarks/profile_client.py --client bhumi --scenario S1 --no-cprofile
    python benchmarks/profile_client.py --summarize /tmp/s1.txt

The scenario runs `--loops` times after a warm-up, against a server started here.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from collections import Counter
from pathlib import Path

import clients
import run
import workload

CATEGORIES = (
    ("langchain_bhumi/core/transport", "bhumi transport (per-read loop)"),
    ("langchain_bhumi/core/framing", "bhumi SSE framer"),
    ("langchain_bhumi/core/toolcalls", "bhumi tool-call assembler"),
    ("langchain_bhumi/protocols", "bhumi OpenAI decoder"),
    ("langchain_bhumi/chat_models", "bhumi ChatBhumi._stream"),
    ("langchain_bhumi/message_builder", "bhumi MessageBuilder"),
    ("langchain_bhumi", "bhumi other"),
    ("langchain_core/load/serializable", "pydantic init of message/generation objects"),
    ("pydantic/", "pydantic init of message/generation objects"),
    (
        "BaseMessage.__init__ (langchain_core/messages/base.py",
        "pydantic init of message/generation objects",
    ),
    ("langchain_core/utils/json", "langchain-core parse_partial_json"),
    ("langchain_core/language_models", "langchain-core stream()/astream() loop"),
    ("langchain_core/callbacks", "langchain-core callbacks"),
    ("langchain_core/messages", "langchain-core messages (validators, merge)"),
    ("langchain_core/outputs", "langchain-core outputs (ChatGenerationChunk)"),
    ("langchain_core/utils", "langchain-core utils (merge_dicts, merge_lists)"),
    ("langchain_core", "langchain-core other"),
    ("httpx_sse", "httpx-sse"),
    ("httpx_aiohttp", "httpx-aiohttp"),
    ("aiohttp", "aiohttp"),
    ("httpcore", "httpcore"),
    ("h11", "h11"),
    ("httpx", "httpx"),
    ("anyio", "anyio"),
    ("json/", "json.loads (stdlib + C scanner)"),
    ("codecs", "utf-8 incremental decode"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("contextlib", "contextlib (httpx/httpcore context managers)"),
    ("ssl.py", "socket/ssl"),
    ("socket.py", "socket/ssl"),
    ("openai/", "openai SDK"),
    ("langchain_openai", "langchain-openai"),
    ("clients.py", "benchmark consumer loop"),
    ("floor.py", "floor model"),
)

MEASURED = ("once (clients.py", "crowd (clients.py")

# Inclusive views: the share of samples whose stack passes through each frame.
INCLUSIVE = (
    ("BaseChatModel.stream", "langchain-core stream()/astream() (everything under it)"),
    ("Serializable.__init__", "LangChain message/generation object construction"),
    ("parse_partial_json", "  of which parse_partial_json (tool_call_chunks -> tool_calls)"),
    ("add_ai_message_chunks", "AIMessageChunk merging (`+`, final merge)"),
    ("ChatBhumi._stream", "ChatBhumi._stream/_astream (everything under it)"),
    ("MessageBuilder.chunk", "  MessageBuilder.chunk (incl. AIMessageChunk init)"),
    ("Transport._on_read", "  Transport._on_read (framing + decoding)"),
    ("OpenAIChatStreamDecoder.feed", "    protocol decoder (incl. json.loads)"),
    ("FrameDecoder.feed", "    protocol decoder (incl. json.loads)"),
    ("SSEFramer.feed", "    SSE framer feed"),
    ("iter_bytes", "  httpx iter_bytes/aiter_bytes (network + HTTP parsing)"),
    ("Transport._open", "  Transport._open/_aopen (request build + send + headers)"),
    ("_aopen", "  Transport._open/_aopen (request build + send + headers)"),
    ("ChatBhumi._prepare", "  ChatBhumi._prepare (request encoding)"),
    ("create_ssl_context", "httpx client creation: SSL context (once per pool)"),
    ("on_chat_model_start", "langchain-core callback manager start"),
    ("CallbackManager.configure", "langchain-core CallbackManager.configure"),
)


def category(location: str) -> str:
    """The package a frame belongs to (`location` is a file name or py-spy frame)."""
    for marker, name in CATEGORIES:
        if marker in location:
            return name
    return "other"


def _builtin_category(funcname: str) -> str:
    if "pydantic" in funcname:
        return "pydantic init of message/generation objects"
    if "json" in funcname or "scanner" in funcname or "scan_once" in funcname:
        return "json.loads (stdlib + C scanner)"
    if "recv" in funcname or "send" in funcname or "poll" in funcname or "select" in funcname:
        return "socket/ssl"
    return "builtins (str, dict, list ops...)"


def breakdown(stats: pstats.Stats) -> Counter[str]:
    """Self time per category from cProfile stats."""
    totals: Counter[str] = Counter()
    for (filename, _, funcname), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~":
            totals[_builtin_category(funcname)] += tottime
        else:
            totals[category(filename)] += tottime
    return totals


def summarize_collapsed(path: Path, top: int = 0) -> Counter[str]:
    """Self samples per category from a py-spy `--format raw` file, measured region only.

    A sample counts when its stack passes through the timed part of a scenario (frames
    `once`/`crowd` in clients.py), so imports, warm-up and `gc.collect` are left out.
    """
    totals: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not any(m in stack for m in MEASURED):
            continue
        leaf = stack.split(";")[-1]
        totals[category(leaf)] += int(count)
        leaves[leaf] += int(count)
    if top:
        whole = sum(leaves.values()) or 1
        print("inclusive (share of samples passing through):")
        labels = list(dict.fromkeys(label for _, label in INCLUSIVE))
        for label in labels:
            markers = [m for m, lab in INCLUSIVE if lab == label]
            hits = sum(
                int(line.rpartition(" ")[2])
                for line in path.read_text().splitlines()
                if any(m in line for m in MEASURED) and any(m in line for m in markers)
            )
            print(f"  {hits / whole * 100:5.1f}%  {label}")
        print()
        print(f"top {top} leaf frames (self samples):")
        for leaf, n in leaves.most_common(top):
            print(f"  {n / whole * 100:5.1f}%  {leaf}")
        print()
    return totals


def print_breakdown(totals: Counter[str], unit: str, per: float, per_label: str) -> None:
    """Print a category table, with a per-item figure."""
    whole = sum(totals.values()) or 1
    for name, value in totals.most_common():
        print(f"  {name:58} {value / whole * 100:5.1f}%  {value * per:9.2f} {per_label}")
    print(f"  {'total':58} 100.0%  {whole * per:9.2f} {per_label} ({whole:.3f} {unit})")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="bhumi", choices=sorted(run.CLIENTS))
    parser.add_argument("--scenario", default="S1", help="S1, S2.merge, S2.running, S3, S4")
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-cprofile", action="store_true", help="just run (for py-spy)")
    parser.add_argument("--summarize", type=Path, help="summarize a py-spy raw file and exit")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--cpu-per-item",
        type=float,
        default=0.0,
        help="with --summarize: the measured CPU us per item, to spread over the categories",
    )
    args = parser.parse_args()

    if args.summarize:
        totals = summarize_collapsed(args.summarize, args.top)
        per = args.cpu_per_item / sum(totals.values()) if args.cpu_per_item else 1.0
        print_breakdown(totals, "samples", per, "us/item" if args.cpu_per_item else "samples")
        return

    sizes = workload.QUICK if args.quick else workload.FULL
    server, root = run.start_server(None)
    try:
        bench = clients.Bench(
            clients.make_client(args.client, root), root, sizes, repeat=1, budget=1e9
        )
        bench.warm_up(["S2", "S4"])
        scenario, _, pattern = args.scenario.upper().partition(".")
        steps = {
            "S1": (bench.s1, sizes.s1_chunks, "us/chunk"),
            "S2": (
                lambda: bench.s2(pattern.lower() or "merge"),
                sizes.s2_fragments,
                "us/fragment",
            ),
            "S3": (bench.s3, sizes.s3_requests, "us/request"),
            "S4": (bench.s4, sizes.s4_streams * sizes.s4_chunks, "us/chunk"),
        }
        step, items, label = steps[scenario]
        profiler = None if args.no_cprofile else cProfile.Profile()
        if profiler:
            profiler.enable()
        results = [step() for _ in range(args.loops)]
        if profiler:
            profiler.disable()
        for result in results:
            if result.error:
                print("ERROR", result.error, file=sys.stderr)
        best = min(results, key=lambda r: r.wall)
        print(f"{args.client} {args.scenario}: best wall {best.wall:.3f} s, cpu {best.cpu:.3f} s")
        if profiler:
            stats = pstats.Stats(profiler)
            print(f"\nself time by package (cProfile, per {label[3:]}, all {args.loops} loops):")
            print_breakdown(breakdown(stats), "s", 1e6 / (items * args.loops), label)
            print()
            stats.sort_stats("tottime").print_stats(args.top)
        bench.close()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
