"""A proxy backend with `first_token_timeout`: a backend stream of keep-alives only ends
in an error the client can act on, instead of holding the client's request open."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from langchain_bhumi.proxy.config import ProxyConfig, parse_config
from tests.proxy.conftest import RunningProxy
from tests.support.server import Scripted, ScriptedServer

KEEP_ALIVES = [b": keep-alive\n\n"] * 200  # 20 s of them at one every 0.1 s


def config(backend: ScriptedServer, **table: object) -> ProxyConfig:
    local = {"provider": "llamacpp", "base_url": backend.url, "max_retries": 0, **table}
    return parse_config({"backends": {"local": local}, "default": {"backend": "local"}})


def test_the_setting_reaches_the_backend_client() -> None:
    with ScriptedServer() as backend:
        parsed = config(backend, first_token_timeout=45)
    assert parsed.backends["local"].first_token_timeout == 45.0
    assert config(backend).backends["local"].first_token_timeout is None


def test_a_backend_that_only_keeps_alive_is_a_504(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    proxy = start_proxy(config(backend, first_token_timeout=0.5))
    backend.enqueue(Scripted(parts=KEEP_ALIVES, delay=0.1))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    reply = httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=15)
    assert reply.status_code == 504
    assert "waiting for the first token" in reply.json()["error"]["message"]
