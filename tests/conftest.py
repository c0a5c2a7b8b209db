"""Shared fixtures: a scripted loopback server, and no network beyond 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.server import ScriptedServer

_real_create_connection = socket.create_connection
_real_connect = socket.socket.connect


def _loopback_only(address: object) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
        raise RuntimeError(f"tests may only reach 127.0.0.1, not {host!r}")


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to connect anywhere but loopback."""

    def guarded_connect(self: socket.socket, address: object) -> None:
        _loopback_only(address)
        return _real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server on 127.0.0.1 (see tests/support/server.py)."""
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real keys or base URLs from the environment."""
    import os

    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name in ("HF_TOKEN",):
            monkeypatch.delenv(name, raising=False)
