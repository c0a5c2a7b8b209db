"""Speed benchmark: ChatBhumi against a raw httpx + httpx-sse + json loop (and others).

Starts the loopback server (`server.py`) in its own process and measures the clients in
one interleaved run: each round starts a fresh worker process (`clients.py`) per client,
in turn, so a busy moment on the machine falls on every client alike; each figure is the
best round. Then the proxy scenarios (P1-P4 of `proxy.py`) run once per round too.
Prints one table, every figure with its ratio to the raw httpx loop of the same kind
(sync or async) beside it:

    S1  us per text chunk, one stream of 20,000 chunks (reading each chunk, and the
        running `full + chunk` sum)
    S2  us per tool-argument fragment, 10,000 fragments over 2 parallel calls
        (assembled arguments checked exact): merge once, and the running `+`
    S3  ms per short request, 500 sequential 5-chunk streams
    S4  wall and CPU seconds, 256 concurrent streams x 100 chunks paced at 20 ms
    S5  peak RSS of the client process
    P1-P4  the proxy's CPU per streamed chunk (see `proxy.py`)

Usage:
    python benchmarks/run.py                 # everything, ~10 minutes on 2 cores
    python benchmarks/run.py --quick         # scaled-down smoke run
    python benchmarks/run.py --only S2 --clients raw,bhumi --no-proxy
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import workload

HERE = Path(__file__).resolve().parent
CLIENTS = {
    "raw": "raw httpx",
    "raw-async": "raw httpx async",
    "raw-aio": "raw aiohttp",
    "lc-floor": "LC floor",
    "bhumi": "ChatBhumi",
    "bhumi-async": "ChatBhumi async",
    "bhumi-aio": "ChatBhumi+aio",
    "openai": "ChatOpenAI",
    "anthropic": "ChatAnthropic",
}
ASYNC_CLIENTS = frozenset({"raw-async", "raw-aio", "bhumi-async", "bhumi-aio"})
"""Compared with `raw-async`; the others with `raw` (S4 is async for every client)."""
RAW_CLIENTS = frozenset({"raw", "raw-async", "raw-aio"})
DEFAULT_CLIENTS = [
    "raw", "raw-async", "lc-floor", "bhumi", "bhumi-async", "bhumi-aio", "openai", "anthropic"
]  # fmt: skip
OPTIONAL_MODULES = {
    "raw-aio": "httpx_aiohttp",
    "bhumi-aio": "httpx_aiohttp",
    "openai": "langchain_openai",
    "anthropic": "langchain_anthropic",
}
SCENARIOS = ["S1", "S2", "S3", "S4", "S5"]
SLOW_RUN = 8.0
"""A scenario key that took longer than this (s) in the first round runs only once."""


def start_server(cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    """Start `server.py` and return the process and its root URL."""
    command = [sys.executable, str(HERE / "server.py")]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def run_client(
    name: str, root: str, args: argparse.Namespace, cpu: int | None, skip: set[str]
) -> dict[str, Any]:
    """One round of one client: a fresh worker process, each scenario once."""
    scenarios = [s for s in args.only if s != "S5"] or ["S1", "S2", "S3", "S4"]
    command = [
        sys.executable,
        str(HERE / "clients.py"),
        "--client",
        name,
        "--root",
        root,
        "--scenarios",
        ",".join(scenarios),
        "--repeat",
        "1",
        "--skip",
        ",".join(sorted(skip)),
    ]
    if args.quick:
        command.append("--quick")
    if args.gc_freeze:
        command.append("--gc-freeze")
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"client": name, "error": f"worker exited {done.returncode}: {' | '.join(tail)}"}
    report: dict[str, Any] = json.loads(lines[-1])
    report["elapsed"] = elapsed
    return report


def merge_round(best: dict[str, Any] | None, report: dict[str, Any]) -> dict[str, Any]:
    """Keep, per scenario key, the round with the lowest wall time; RSS is the peak of all."""
    if best is None or "results" not in best:
        return report
    if "results" not in report:
        return best
    for key, result in report["results"].items():
        kept = best["results"].get(key)
        runs = (kept or {}).get("runs", 0) + 1
        better = not result.get("error") and (
            kept is None or kept.get("error") or result["wall"] < kept["wall"]
        )
        if better or kept is None:
            best["results"][key] = {**result, "runs": runs}
        else:
            kept["runs"] = runs
    best["peak_rss_mb"] = max(best["peak_rss_mb"], report["peak_rss_mb"])
    best["rss_imported_mb"] = min(best["rss_imported_mb"], report["rss_imported_mb"])
    best["elapsed"] = best.get("elapsed", 0) + report.get("elapsed", 0)
    return best


# --- table ---------------------------------------------------------------------------


def _fmt(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _figure(report: dict[str, Any], key: str, attr: str) -> float | None:
    """A result's figure (`value`, `wall`, `cpu`, or `cpu_per`: CPU in `value`'s unit)."""
    result = (report.get("results") or {}).get(key)
    if result is None or result.get("error"):
        return None
    if attr == "cpu_per":
        wall, value = result.get("wall"), result.get("value")
        return result["cpu"] * value / wall if wall and value else None
    figure = result.get(attr)
    return float(figure) if figure is not None else None


def _cell(
    report: dict[str, Any], base: dict[str, Any] | None, key: str, attr: str, digits: int
) -> str:
    if "results" not in report:
        return "ERR"
    result = report["results"].get(key)
    if result is None:
        return "n/a"
    if result.get("error"):
        return "ERR"
    figure = _figure(report, key, attr)
    text = _fmt(figure, digits)
    # The raw loop has one way of reading a stream: the running `+` rows compare with it.
    same = key.replace(".running", ".merge")
    reference = _figure(base, same, attr) if base else None
    if figure is not None and reference and report["client"] not in RAW_CLIENTS:
        text += f" ({figure / reference:.1f}x)"
    return text


def _rss_cell(report: dict[str, Any], base: dict[str, Any] | None) -> str:
    if "peak_rss_mb" not in report:
        return "ERR"
    text = _fmt(report["peak_rss_mb"], 0)
    if base and "peak_rss_mb" in base and report["client"] not in RAW_CLIENTS:
        text += f" ({report['peak_rss_mb'] / base['peak_rss_mb']:.1f}x)"
    return text


def _base(reports: list[dict[str, Any]], client: str, key: str) -> dict[str, Any] | None:
    """The raw httpx report a client's figure is compared with."""
    wanted = "raw-async" if client in ASYNC_CLIENTS or key == "S4" else "raw"
    found = next((r for r in reports if r["client"] == wanted and "results" in r), None)
    return found or next((r for r in reports if r["client"] == "raw" and "results" in r), None)


ROWS: list[tuple[str, str, str, str, int]] = [
    # label, scenario key, result attribute, target, digits
    ("S1 us/text chunk ({s1:,})", "S1.merge", "value", "<= 2.0x", 1),
    ("   CPU us/chunk", "S1.merge", "cpu_per", "", 1),
    ("S1 us/text chunk, running `full + chunk`", "S1.running", "value", "", 1),
    ("S2 us/tool fragment ({s2:,}), merge once", "S2.merge", "value", "<= 2.0x", 1),
    ("   CPU us/fragment", "S2.merge", "cpu_per", "", 1),
    ("S2 us/tool fragment, running `full + chunk`", "S2.running", "value", "<= 5x", 1),
    ("S3 ms/request ({s3} x {s3c} chunks)", "S3", "value", "<= 1.0x", 2),
    ("   CPU ms/request", "S3", "cpu_per", "", 2),
    ("S4 wall s ({s4} x {s4c} @ {pace} ms, ideal {ideal:.1f})", "S4", "wall", "<= {wall:.2f}", 2),
    ("S4 CPU s", "S4", "cpu", "<= 1.2x", 2),
]


def table(reports: list[dict[str, Any]], sizes: workload.Sizes, only: list[str]) -> str:
    """The results table: one row per figure, one column per client, with ratios."""
    ideal = sizes.s4_chunks * sizes.s4_pace_ms / 1000
    names = {
        "s1": sizes.s1_chunks, "s2": sizes.s2_fragments, "s3": sizes.s3_requests,
        "s3c": sizes.s3_chunks, "s4": sizes.s4_streams, "s4c": sizes.s4_chunks,
        "pace": sizes.s4_pace_ms, "ideal": ideal, "wall": ideal * 1.1,
    }  # fmt: skip
    wanted = set(only) if only else set(SCENARIOS)
    header = ["scenario", "target", *(CLIENTS[r["client"]] for r in reports)]
    body: list[list[str]] = []
    for label, key, attr, target, digits in ROWS:
        if key.split(".")[0] not in wanted:
            continue
        cells = [
            "(same)"
            if key.endswith(".running") and report["client"] in RAW_CLIENTS
            else _cell(report, _base(reports, report["client"], key), key, attr, digits)
            for report in reports
        ]
        body.append([label.format(**names), target.format(**names), *cells])
    if wanted:
        body.append(
            [
                "S5 peak RSS MB",
                "<= 110",
                *(_rss_cell(r, _base(reports, r["client"], "S5")) for r in reports),
            ]
        )
    return _render([header, *body])


def _render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append(
                "|"
                + "|".join("-" * (w + 2) for w in widths[:1])
                + "|"
                + "|".join("-" * (w + 1) + ":" for w in widths[1:])
                + "|"
            )
    return "\n".join(lines)


PROXY_TARGETS = {"P1": 17.0, "P2": 19.0}
PROXY_CLIENTS = ("aiohttp", "httpx")
"""The proxy's client to its backends: aiohttp is its default when installed."""


def proxy_table(results: list[dict[str, Any]]) -> str:
    """P1-P4: the proxy's CPU per chunk, best round, beside a raw httpx client's."""
    rows = [
        [
            "proxy",
            "to backend",
            "target",
            "proxy CPU us/chunk",
            "raw httpx client",
            "wall s",
            "intact",
        ]
    ]
    for result in results:
        target = PROXY_TARGETS.get(result["scenario"])
        ratio = result["proxy_cpu_us"] / result["raw_cpu_us"]
        rows.append(
            [
                f"{result['scenario']} {result['label']}",
                result["backend_client"],
                f"<= {target:g} us" if target else "",
                f"{result['proxy_cpu_us']:.1f} ({ratio:.1f}x)",
                f"{result['raw_cpu_us']:.1f}",
                f"{result['wall']:.2f}",
                f"{result['intact']}/{result['streams']}",
            ]
        )
    return _render(rows)


def details(reports: list[dict[str, Any]]) -> str:
    """Per-client detail: chunks yielded, CPU, server load, RSS, errors."""
    out = []
    for report in reports:
        name = CLIENTS[report["client"]]
        if "results" not in report:
            out.append(f"{name}: {report.get('error')}")
            continue
        out.append(
            f"{name}: RSS after imports {report['rss_imported_mb']:.0f} MB, "
            f"peak {report['peak_rss_mb']:.0f} MB, workers took {report.get('elapsed', 0):.0f} s"
        )
        for key, r in report["results"].items():
            if r.get("error"):
                out.append(f"  {key:10} ERROR {r['error']}")
                continue
            load = r["server_cpu"] / r["wall"] * 100 if r["wall"] else 0.0
            extra = "".join(f", {k} {v:.4g}" for k, v in r["extra"].items() if k != "ideal")
            out.append(
                f"  {key:10} wall {r['wall']:.3f} s, CPU {r['cpu']:.3f} s, "
                f"chunks seen {r['yielded']:,}, server CPU {load:.0f}% of wall, "
                f"peak RSS so far {r['rss_after_mb']:.0f} MB, best of {r['runs']}{extra}"
            )
    return "\n".join(out)


def misses(
    reports: list[dict[str, Any]], sizes: workload.Sizes, proxy: list[dict[str, Any]]
) -> list[str]:
    """ChatBhumi figures (default install) that miss a target of issue 14."""
    ideal = sizes.s4_chunks * sizes.s4_pace_ms / 1000
    ratio_targets = [
        ("S1.merge", "value", 2.0),
        ("S2.merge", "value", 2.0),
        ("S2.running", "value", 5.0),
        ("S3", "value", 1.0),
        ("S4", "cpu", 1.2),
    ]
    found = []
    for report in reports:
        if report["client"] not in ("bhumi", "bhumi-async") or "results" not in report:
            continue
        name = CLIENTS[report["client"]]
        for key, attr, limit in ratio_targets:
            base = _base(reports, report["client"], key)
            figure = _figure(report, key, attr)
            reference = _figure(base, key.replace(".running", ".merge"), attr) if base else None
            if figure is not None and reference and figure / reference > limit:
                found.append(f"{name} {key}: {figure / reference:.2f}x > {limit:g}x")
        wall = _figure(report, "S4", "wall")
        if wall is not None and wall > ideal * 1.1:
            found.append(f"{name} S4 wall: {wall:.2f} s > {ideal * 1.1:.2f} s")
        if report["peak_rss_mb"] > 110:
            found.append(f"{name} S5: {report['peak_rss_mb']:.0f} MB > 110")
    default_client = next(
        (c for c in PROXY_CLIENTS if any(r["backend_client"] == c for r in proxy)), None
    )
    for result in proxy:
        target = PROXY_TARGETS.get(result["scenario"])
        if result["backend_client"] != default_client:
            continue
        if target and result["proxy_cpu_us"] > target:
            found.append(f"{result['scenario']}: {result['proxy_cpu_us']:.1f} us > {target:g}")
    return found


def _loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return float("nan")


def _package_state() -> str:
    """Version, and the git commit of the work tree measured (read-only git calls)."""
    state = version("langchain-bhumi")
    try:
        commit = subprocess.run(
            ["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "langchain_bhumi"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        state += f" at {commit}" + (" + uncommitted changes in langchain_bhumi/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return state


def _available(names: list[str]) -> list[str]:
    available = []
    for name in names:
        module = OPTIONAL_MODULES.get(name)
        if (
            module
            and subprocess.run(
                [sys.executable, "-c", f"import {module}"], capture_output=True, check=False
            ).returncode
        ):
            print(f"skipping {name}: `{module}` is not installed", file=sys.stderr)
            continue
        available.append(name)
    return available


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes (smoke run)")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. S2 or S1,S3")
    parser.add_argument(
        "--clients", default=",".join(DEFAULT_CLIENTS), help=f"any of {', '.join(CLIENTS)}"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best round is shown)")
    parser.add_argument("--no-proxy", action="store_true", help="leave out P1-P4")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client to CPUs")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="workers call gc.freeze() after imports (an app-level knob)",
    )
    args = parser.parse_args()
    args.only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    names = [c.strip() for c in args.clients.split(",") if c.strip()]
    for name in names:
        if name not in CLIENTS:
            raise SystemExit(f"unknown client {name!r}; choose from {', '.join(CLIENTS)}")
    available = _available(names)

    load_before = _loadavg()
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    sizes = workload.QUICK if args.quick else workload.FULL
    server, root = start_server(1 if pin else None)
    merged: dict[str, dict[str, Any]] = {}
    slow: dict[str, set[str]] = {name: set() for name in available}
    proxy_best: dict[tuple[str, str], dict[str, Any]] = {}
    proxies: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        if not args.no_proxy:
            import proxy as proxy_bench

            shape = (4, 500) if args.quick else (10, 2000)
            for client in PROXY_CLIENTS:
                if client == "httpx" or importlib.util.find_spec("httpx_aiohttp"):
                    proxies[client] = proxy_bench.Proxy(root, shape[1], 0, async_backend=client)
        for round_number in range(args.repeat):
            for name in available:
                print(f"round {round_number + 1}: {name} ...", file=sys.stderr, flush=True)
                report = run_client(name, root, args, 0 if pin else None, slow[name])
                for key, result in (report.get("results") or {}).items():
                    if result.get("wall", 0) > SLOW_RUN:
                        slow[name].add(key)
                merged[name] = merge_round(merged.get(name), report)
            for client, proxy in proxies.items():
                for key in proxy_bench.SCENARIOS:
                    print(
                        f"round {round_number + 1}: proxy {key} ({client}) ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    result = proxy_bench.measure(key, proxy, root, shape[0], shape[1], 0)
                    result["backend_client"] = client
                    kept = proxy_best.get((client, key))
                    if kept is None or result["proxy_cpu_us"] < kept["proxy_cpu_us"]:
                        proxy_best[client, key] = result
    finally:
        for proxy in proxies.values():
            proxy.close()
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    total = time.perf_counter() - started
    load_after = _loadavg()
    reports = [merged[name] for name in available]
    proxy_results = list(proxy_best.values())

    versions = f"Python {platform.python_version()}"
    for dist in (
        "httpx", "httpcore", "langchain-core", "httpx-aiohttp", "aiohttp", "langchain-openai",
        "langchain-anthropic",
    ):  # fmt: skip
        with contextlib.suppress(PackageNotFoundError):
            versions += f", {dist} {version(dist)}"
    print()
    print(
        f"{'quick' if args.quick else 'full'} run, {args.repeat} interleaved rounds, "
        f"{os.cpu_count()} CPUs "
        f"({'server pinned to CPU 1, clients to CPU 0' if pin else 'unpinned'}), {versions}"
        f"{', gc.freeze() after imports' if args.gc_freeze else ''}"
    )
    print(f"langchain-bhumi: {_package_state()}")
    print(f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}")
    if max(load_before, load_after) > 1.5:
        print(
            "WARNING: other processes were using the CPUs; wall times are inflated "
            "(the CPU rows are less affected, the ratios least)."
        )
    print("(ratios: to raw httpx for sync columns, to raw httpx async for async ones and S4)")
    print()
    print(table(reports, sizes, args.only))
    if proxy_results:
        print()
        print(proxy_table(proxy_results))
    print()
    print(details(reports))
    found = misses(reports, sizes, proxy_results)
    print()
    print("ChatBhumi misses: " + ("; ".join(found) if found else "none"))
    print(f"total {total:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"clients": reports, "proxy": proxy_results}, indent=1))


if __name__ == "__main__":
    main()
