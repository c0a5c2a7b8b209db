"""The notebooks run top to bottom: offline from their recorded streams by default,
recorded live with `--record-mode=rewrite`. They are stored with their outputs, so a
reader sees what happens without running them, and those outputs are what a run prints
now (refresh: `.venv/bin/python -m tests.support.notebooks`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cassettes
from tests.support.cassettes import Target
from tests.support.notebooks import (
    REFRESH_COMMAND,
    code_cells,
    comparable,
    run_notebook,
    stored_outputs,
)

NOTEBOOKS = sorted((cassettes.ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture
def target() -> Target:
    """The notebooks use the local llama.cpp model."""
    return cassettes.LOCAL


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["notebook"].stem)


@pytest.mark.vcr
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_shows_what_it_prints(
    notebook: Path, recording: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if recording != "replay":
        monkeypatch.setenv("BHUMI_NOTEBOOK_LIVE", "1")
        monkeypatch.setenv("LOCAL_LLM_URL", cassettes.LOCAL_LLM_URL)
    namespace, outputs = run_notebook(notebook)
    assert "llm" in namespace
    if recording == "replay":
        assert comparable(outputs) == comparable(stored_outputs(notebook)), (
            f"{notebook.name}: the stored outputs are not what it prints now; "
            f"refresh them with `{REFRESH_COMMAND}`"
        )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_is_stored_executed(notebook: Path) -> None:
    cells = code_cells(notebook)
    assert [cell["execution_count"] for cell in cells] == list(range(1, len(cells) + 1))
    assert sum(bool(cell["outputs"]) for cell in cells) >= len(cells) - 1, notebook.name


def test_the_agent_notebook_shows_the_tool_rounds_of_its_langgraph_run() -> None:
    last = code_cells(cassettes.ROOT / "notebooks" / "tools_and_agents.ipynb")[-1]
    table = "".join(last["outputs"][0]["text"]).splitlines()
    assert table[0].split() == ["round", "the", "model", "asked", "for", "the", "tools", "answered"]
    assert [row.split()[0] for row in table[1:]] == ["1", "2", "3"]
    assert "get_weather(city='Tokyo')" in table[1]
    assert "convert_units(" in table[2] and "75.2 F" in table[2]
    assert "(no tool: the answer)" in table[3]


def test_the_three_notebooks_exist() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "tools_and_agents", "structured_output"}
