"""Run a notebook's code cells top to bottom, in this process, like a kernel would, and
keep what each cell shows.

In-process (rather than in a Jupyter kernel) so that the recorded tier's cassettes apply
to the notebook's HTTP calls exactly as to any other test. Cells may use top-level
`await`, as in Jupyter; the working directory is the notebook's folder. What a cell prints
becomes a `stream` output and the value of its last expression an `execute_result`
(`pprint`-formatted), so the notebooks are stored with the outputs a reader sees.

Refresh the stored outputs (offline, from the notebooks' recorded streams):

    .venv/bin/python -m tests.support.notebooks            # rewrite notebooks/*.ipynb
    .venv/bin/python -m tests.support.notebooks --check    # exit 1 if any is stale
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import inspect
import io
import json
import os
import pprint
import re
import sys
from pathlib import Path
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
REFRESH_COMMAND = ".venv/bin/python -m tests.support.notebooks"

Output = dict[str, Any]


class NotebookCellError(AssertionError):
    """A cell raised: says which notebook and cell, and shows its source."""


def code_cells(path: Path) -> list[dict[str, Any]]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def run_notebook(path: Path) -> tuple[dict[str, Any], list[list[Output]]]:
    """Execute every code cell in order: the namespace the cells built, and each code
    cell's outputs (nbformat dicts)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    outputs: list[list[Output]] = []
    loop = asyncio.new_event_loop()
    previous = Path.cwd()
    os.chdir(path.parent)
    try:
        for number, cell in enumerate(code_cells(path), start=1):
            source = "".join(cell["source"])
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    value = _run_cell(source, f"{path.name}[cell {number}]", namespace, loop)
            except Exception as exc:
                raise NotebookCellError(
                    f"{path.name}, code cell {number} raised {type(exc).__name__}: {exc}\n{source}"
                ) from exc
            outputs.append(_outputs(number, printed.getvalue(), value))
    finally:
        os.chdir(previous)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return namespace, outputs


_NOTHING = object()


def _run_cell(
    source: str, name: str, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> Any:
    """Run a cell; the value of its last statement when that is an expression."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    _execute(ast.Module(body=tree.body, type_ignores=[]), name, "exec", namespace, loop)
    if last is None:
        return _NOTHING
    return _execute(ast.Expression(body=last.value), name, "eval", namespace, loop)


def _execute(
    tree: ast.Module | ast.Expression,
    name: str,
    mode: str,
    namespace: dict[str, Any],
    loop: asyncio.AbstractEventLoop,
) -> Any:
    code = compile(tree, name, mode, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # our own notebooks
    if inspect.iscoroutine(result):
        result = loop.run_until_complete(result)
    return result


def _outputs(number: int, printed: str, value: Any) -> list[Output]:
    outputs: list[Output] = []
    if printed:
        outputs.append({"name": "stdout", "output_type": "stream", "text": _lines(printed)})
    if value is not _NOTHING and value is not None:
        text = pprint.pformat(value, width=100, sort_dicts=False)
        outputs.append(
            {
                "data": {"text/plain": _lines(text)},
                "execution_count": number,
                "metadata": {},
                "output_type": "execute_result",
            }
        )
    return outputs


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def with_outputs(path: Path, outputs: list[list[Output]]) -> str:
    """The notebook's JSON with these outputs and execution counts (nbformat layout)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = iter(outputs)
    number = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            number += 1
            cell["outputs"] = next(cells)
            cell["execution_count"] = number
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


_UNSTABLE = re.compile(r"0x[0-9a-f]{6,}|lc_run-[0-9a-f-]{36}|call_[A-Za-z0-9]{16,}")


def comparable(outputs: list[list[Output]]) -> list[list[Output]]:
    """Outputs with what differs between two identical runs (object addresses, run ids,
    invented call ids) masked."""
    return json.loads(_UNSTABLE.sub("<…>", json.dumps(outputs)))  # type: ignore[no-any-return]


def stored_outputs(path: Path) -> list[list[Output]]:
    return [cell["outputs"] for cell in code_cells(path)]


def main() -> int:
    parser = argparse.ArgumentParser(description="Store the notebooks' outputs (offline).")
    parser.add_argument("--check", action="store_true", help="exit 1 if any output is stale")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args()
    for name in list(os.environ):  # as in the tests: offline, no developer's keys
        if name.endswith(("_API_KEY", "_BASE_URL")) or name == "BHUMI_NOTEBOOK_LIVE":
            del os.environ[name]
    stale = []
    for path in args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb")):
        _, outputs = run_notebook(path.resolve())
        if comparable(outputs) == comparable(stored_outputs(path)):
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(with_outputs(path, outputs), encoding="utf-8")
    if stale and args.check:
        print(f"stale outputs in {', '.join(stale)}: run {REFRESH_COMMAND}", file=sys.stderr)
        return 1
    print(f"{'stale' if args.check else 'refreshed'}: {', '.join(stale) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
