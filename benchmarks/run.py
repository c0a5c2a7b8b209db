"""Speed benchmark: ChatBhumi against a raw httpx + httpx-sse + json loop (and others).

Starts the loopback server (`server.py`) in its own process, measures every client in a
fresh worker process (`clients.py`), and prints one table:

    S1  us per text chunk, one stream of 20,000 chunks
    S2  us per tool-argument fragment, 10,000 fragments over 2 parallel calls
        (assembled arguments checked exact), two consumer patterns for LangChain models
    S3  ms per short request, 500 sequential 5-chunk streams
    S4  wall and CPU seconds, 256 concurrent streams x 100 chunks paced at 20 ms
    S5  peak RSS of the client process

Usage:
    python benchmarks/run.py                 # everything, ~3-5 minutes
    python benchmarks/run.py --quick         # scaled-down smoke run
    python benchmarks/run.py --only S2 --clients raw,bhumi
"""

from __future__ import annotations

import argparse
import contextlib
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
}
DEFAULT_CLIENTS = ["raw", "raw-aio", "lc-floor", "bhumi", "bhumi-aio", "openai"]
OPTIONAL_MODULES = {
    "raw-aio": "httpx_aiohttp",
    "bhumi-aio": "httpx_aiohttp",
    "openai": "langchain_openai",
}
SCENARIOS = ["S1", "S2", "S3", "S4", "S5"]


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


def run_client(name: str, root: str, args: argparse.Namespace, cpu: int | None) -> dict[str, Any]:
    """Measure one client in a fresh worker process."""
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
        str(args.repeat),
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


# --- table ---------------------------------------------------------------------------


def _fmt(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _cell(report: dict[str, Any], key: str, attr: str = "value", digits: int = 1) -> str:
    if "error" in report and "results" not in report:
        return "ERR"
    result = report["results"].get(key)
    if result is None:
        return "n/a"
    if result.get("error"):
        return "ERR"
    if attr == "cpu_per":  # CPU time in the unit of `value`
        wall, value = result.get("wall"), result.get("value")
        return _fmt(result["cpu"] * value / wall if wall and value else None, digits)
    return _fmt(result.get(attr), digits)


def table(reports: list[dict[str, Any]], sizes: workload.Sizes, only: list[str]) -> str:
    """The results table: rows S1..S5, one column per client, plus the target."""
    ideal = sizes.s4_chunks * sizes.s4_pace_ms / 1000
    rows: list[tuple[str, str, str, str, int]] = [
        # label, scenario key, result attribute, target, digits
        (f"S1 us/text chunk ({sizes.s1_chunks:,})", "S1", "value", "<= 40", 1),
        ("   CPU us/chunk", "S1", "cpu_per", "", 1),
        (
            f"S2 us/tool fragment ({sizes.s2_fragments:,}), merge once",
            "S2.merge",
            "value",
            "<= 50",
            1,
        ),
        ("   CPU us/fragment", "S2.merge", "cpu_per", "", 1),
        ("S2 us/tool fragment, running `full + chunk`", "S2.running", "value", "", 1),
        (
            f"S3 ms/request ({sizes.s3_requests} x {sizes.s3_chunks} chunks)",
            "S3",
            "value",
            "<= 1.0",
            2,
        ),
        ("   CPU ms/request", "S3", "cpu_per", "", 2),
        (
            f"S4 wall s ({sizes.s4_streams} x {sizes.s4_chunks} @ {sizes.s4_pace_ms} ms, "
            f"ideal {ideal:.1f})",
            "S4",
            "wall",
            f"<= {ideal * 1.2:.2f}",
            2,
        ),
        ("S4 CPU s", "S4", "cpu", "", 2),
        ("S5 peak RSS MB", "S5", "", "<= 120", 0),
    ]
    wanted = set(only) if only else set(SCENARIOS)
    header = ["scenario", "target", *(CLIENTS[r["client"]] for r in reports)]
    body: list[list[str]] = []
    for label, key, attr, target, digits in rows:
        if key.split(".")[0] not in wanted and not (key == "S5" and wanted):
            continue
        if key == "S5":
            cells = [
                _fmt(r.get("peak_rss_mb"), 0) if "peak_rss_mb" in r else "ERR" for r in reports
            ]
        elif key == "S2.running":
            cells = [
                _cell(r, key, attr, digits)
                if r["client"] not in ("raw", "raw-async", "raw-aio")
                else "(same)"
                for r in reports
            ]
        else:
            cells = [_cell(r, key, attr, digits) for r in reports]
        body.append([label, target, *cells])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *body]):
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
            f"peak {report['peak_rss_mb']:.0f} MB, worker took {report.get('elapsed', 0):.0f} s"
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


def misses(reports: list[dict[str, Any]], sizes: workload.Sizes) -> list[str]:
    """ChatBhumi columns that miss a target."""
    ideal = sizes.s4_chunks * sizes.s4_pace_ms / 1000
    checks = [
        ("S1", "value", 40.0),
        ("S2.merge", "value", 50.0),
        ("S3", "value", 1.0),
        ("S4", "wall", ideal * 1.2),
    ]
    found = []
    for report in reports:
        if not report["client"].startswith("bhumi") or "results" not in report:
            continue
        for key, attr, target in checks:
            r = report["results"].get(key)
            if r and not r.get("error") and r[attr] is not None and r[attr] > target:
                found.append(f"{CLIENTS[report['client']]} {key}: {r[attr]:.2f} > {target:g}")
        if report["peak_rss_mb"] > 120:
            found.append(f"{CLIENTS[report['client']]} S5: {report['peak_rss_mb']:.0f} MB > 120")
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


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes (smoke run)")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. S2 or S1,S3")
    parser.add_argument(
        "--clients", default=",".join(DEFAULT_CLIENTS), help=f"any of {', '.join(CLIENTS)}"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per scenario")
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

    load_before = _loadavg()
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    sizes = workload.QUICK if args.quick else workload.FULL
    server, root = start_server(1 if pin else None)
    reports = []
    started = time.perf_counter()
    try:
        for name in available:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            reports.append(run_client(name, root, args, 0 if pin else None))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    total = time.perf_counter() - started
    load_after = _loadavg()

    versions = f"Python {platform.python_version()}"
    for dist in ("httpx", "langchain-core", "httpx-aiohttp", "aiohttp", "langchain-openai"):
        with contextlib.suppress(PackageNotFoundError):
            versions += f", {dist} {version(dist)}"
    print()
    print(
        f"{'quick' if args.quick else 'full'} run, {os.cpu_count()} CPUs "
        f"({'server pinned to CPU 1, clients to CPU 0' if pin else 'unpinned'}), {versions}"
        f"{', gc.freeze() after imports' if args.gc_freeze else ''}"
    )
    print(f"langchain-bhumi: {_package_state()}")
    print(f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}")
    if max(load_before, load_after) > 1.5:
        print(
            "WARNING: other processes were using the CPUs; wall times are inflated "
            "(the CPU rows are less affected). Re-run on an idle machine."
        )
    print()
    print(table(reports, sizes, args.only))
    print()
    print(details(reports))
    found = misses(reports, sizes)
    print()
    print("ChatBhumi misses: " + ("; ".join(found) if found else "none"))
    print(f"total {total:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
