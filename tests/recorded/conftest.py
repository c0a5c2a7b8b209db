"""Recorded tier: each test runs against every target, from its cassette (default), by
recording it (`--record-mode=rewrite`), or live (`--live`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from langchain_bhumi import ChatBhumi
from tests.support import cassettes
from tests.support.cassettes import Target

RECORD_COMMAND = ".venv/bin/python -m pytest tests/recorded --record-mode=rewrite"


@pytest.fixture(scope="session", autouse=True)
def _local_llm_up(record_mode: str, live: bool) -> None:
    """Recording or live: start the local LLM first, outside any cassette."""
    if record_mode != "none" or live:
        cassettes.ensure_local_llm()


@pytest.fixture(params=cassettes.TARGETS, ids=lambda t: t.id)
def target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def suite(request: pytest.FixtureRequest) -> str:
    """Cassette folder name for a test module: `test_scenarios.py` -> `scenarios`."""
    return Path(str(request.node.fspath)).stem.removeprefix("test_")


@pytest.fixture
def vcr_cassette_dir(target: Target, suite: str) -> str:
    return str(cassettes.CASSETTES / target.id / suite)


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest, target: Target) -> str:
    """`@pytest.mark.default_cassette(name)`, else the test's name without the target
    parameter (the target is the folder)."""
    marker = request.node.get_closest_marker("default_cassette")
    if marker is not None:
        return str(marker.args[0])
    name, _, params = request.node.name.partition("[")
    params = params.rstrip("]").replace(target.id, "", 1).strip("-")
    return "-".join([name, params]) if params else name


@pytest.fixture
def recording(
    target: Target,
    record_mode: str,
    live: bool,
    vcr_cassette_dir: str,
    default_cassette_name: str,
) -> str:
    """How this test talks to its target: "replay", "record" or "live"; skips or fails
    with the reason when it cannot."""
    reason = target.unsupported.get(default_cassette_name.split("-", 1)[0])
    if reason is not None:
        pytest.skip(f"{target.id}: {reason}")
    if live or record_mode != "none":
        if not target.required and target.api_key() is None:
            pytest.skip(
                f"{target.provider}: set {' or '.join(target.key_env)} to record or run live"
            )
        return "live" if live else "record"
    path = Path(vcr_cassette_dir) / f"{default_cassette_name}.yaml"
    if not path.exists():
        if target.required:
            pytest.fail(
                f"cassette {path.relative_to(cassettes.ROOT)} is missing; record it with "
                f"`{RECORD_COMMAND}` (starts ../shared/tools/local-llm)"
            )
        pytest.skip(
            f"{target.provider}: not recorded yet; a maintainer with {target.key_env[0]} set "
            f"records it with `{RECORD_COMMAND}`"
        )
    return "replay"


@pytest.fixture
def make_llm(target: Target, recording: str) -> Callable[..., ChatBhumi]:
    """Build the target's ChatBhumi (deterministic settings), for the current mode."""

    def build(**overrides: Any) -> ChatBhumi:
        params: dict[str, Any] = {"model": target.model, "temperature": 0, **target.params}
        if target.base_url:
            params["base_url"] = target.base_url
        params["api_key"] = target.api_key() if recording != "replay" else cassettes.REPLAY_KEY
        if target.required and recording != "replay":
            params["api_key"] = cassettes.REPLAY_KEY  # the local server takes any key
        params.update(overrides)
        return ChatBhumi(**params)

    return build
