"""Shared fixtures: loopback-only network, a scripted server, and the cassette workflow.

Tiers: unit and conformance tests talk to the scripted server on 127.0.0.1; recorded
tests replay `cassettes/` (record mode `none` unless `--record-mode` or
`BHUMI_RECORD_MODE` says otherwise); `--live` runs the recorded tests against the real
servers instead (local LLM, and cloud providers whose keys are set).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import cassettes
from tests.support.server import ScriptedServer

_real_connect = socket.socket.connect
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--live",
        action="store_true",
        default=False,
        help="Run the recorded tiers against real servers instead of cassettes.",
    )


LIVE_ENV = "BHUMI_LIVE_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    """Let test classes that cannot see fixtures (langchain-tests properties) know the mode."""
    if config.getoption("--live", default=False):
        os.environ[LIVE_ENV] = "1"


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """pytest-recording hook: register the canonical-body matcher."""
    vcr.register_matcher("bhumi_body", cassettes.body_matcher)


@pytest.fixture(scope="session")
def record_mode(request: pytest.FixtureRequest) -> str:
    """Overrides pytest-recording's: `--record-mode`, else `BHUMI_RECORD_MODE`, else none."""
    return cassettes.record_mode_from(request.config.getoption("--record-mode"))


@pytest.fixture(scope="session")
def live(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--live"))


@pytest.fixture(scope="session")
def disable_recording(request: pytest.FixtureRequest) -> bool:
    """Live runs bypass cassettes entirely."""
    return bool(
        request.config.getoption("--live") or request.config.getoption("--disable-recording")
    )


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return cassettes.vcr_config()


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch, record_mode: str, live: bool) -> None:
    """Fail any test that connects anywhere but loopback (unless recording or live)."""
    if record_mode != "none" or live:
        return

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in _LOOPBACK:
            raise RuntimeError(f"tests may only reach 127.0.0.1, not {host!r}")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch, record_mode: str, live: bool) -> None:
    """Tests never pick up a developer's keys or base URLs, except to record or run live."""
    if record_mode != "none" or live:
        return
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name == "HF_TOKEN":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server on 127.0.0.1 (see tests/support/server.py)."""
    with ScriptedServer() as scripted:
        yield scripted
