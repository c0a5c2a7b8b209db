"""The notebooks run top to bottom: offline from their recorded streams by default,
recorded live with `--record-mode=rewrite`, and committed without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cassettes
from tests.support.cassettes import Target
from tests.support.notebooks import code_cells, run_notebook

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
def test_notebook_runs_top_to_bottom(
    notebook: Path, recording: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if recording != "replay":
        monkeypatch.setenv("BHUMI_NOTEBOOK_LIVE", "1")
        monkeypatch.setenv("LOCAL_LLM_URL", cassettes.LOCAL_LLM_URL)
    namespace = run_notebook(notebook)
    assert "llm" in namespace


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(notebook: Path) -> None:
    for cell in code_cells(notebook):
        assert cell["outputs"] == [] and cell["execution_count"] is None, notebook.name


def test_the_three_notebooks_exist() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "tools_and_agents", "structured_output"}
