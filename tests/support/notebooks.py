"""Run a notebook's code cells top to bottom, in this process, like a kernel would.

In-process (rather than in a Jupyter kernel) so that the recorded tier's cassettes apply
to the notebook's HTTP calls exactly as to any other test. Cells may use top-level
`await`, as in Jupyter; the working directory is the notebook's folder.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
from pathlib import Path
from typing import Any


class NotebookCellError(AssertionError):
    """A cell raised: says which notebook and cell, and shows its source."""


def code_cells(path: Path) -> list[dict[str, Any]]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def run_notebook(path: Path) -> dict[str, Any]:
    """Execute every code cell in order; returns the namespace the cells built."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    previous = Path.cwd()
    os.chdir(path.parent)
    try:
        for number, cell in enumerate(code_cells(path), start=1):
            source = "".join(cell["source"])
            try:
                code = compile(
                    source,
                    f"{path.name}[cell {number}]",
                    "exec",
                    flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                )
                result = eval(code, namespace)  # our own notebooks
                if inspect.iscoroutine(result):
                    loop.run_until_complete(result)
            except Exception as exc:
                raise NotebookCellError(
                    f"{path.name}, code cell {number} raised {type(exc).__name__}: {exc}\n{source}"
                ) from exc
    finally:
        os.chdir(previous)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return namespace
