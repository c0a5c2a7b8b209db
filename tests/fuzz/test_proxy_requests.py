"""Fuzz the proxy end to end: whatever bytes a client posts to a frontend, the answer is a
4xx (or a 502: the backend is unreachable) in that frontend's own error format, never a
500 with a traceback, never a hang.

Every frontend of the registry, in-process over ASGI, each with one backend per backend
format at a closed port (127.0.0.1:9), so every request that gets past decoding and
translation fails to connect. Inputs: arbitrary bytes, the recorded requests of
`../shared/real-streams` with JSON values mutated and with bytes mutated. A few seconds
per frontend; derandomized unless BHUMI_FUZZ_EXPLORE=1 (see `_support.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_bhumi.protocols import server_formats
from langchain_bhumi.proxy.app import create_app
from langchain_bhumi.proxy.config import parse_config
from tests.fuzz._support import (
    byte_mutation,
    fuzz,
    keys_of,
    mutate_bytes,
    mutated_json,
    no_hang,
    recorded_requests,
)

pytest.importorskip("starlette")

PATHS = {
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/m:generateContent",
}
"""A model endpoint of each frontend (streaming is asked for in the body, or below)."""

CLOSED = "http://127.0.0.1:9"
BACKENDS: dict[str, dict[str, Any]] = {
    "openai_chat": {"provider": "llamacpp", "base_url": CLOSED},
    "openai_responses": {"provider": "openai", "base_url": CLOSED, "api_key": "sk-fuzz"},
    "anthropic": {"provider": "anthropic", "base_url": CLOSED, "api_key": "sk-fuzz"},
    "gemini": {"provider": "gemini", "base_url": CLOSED, "api_key": "fuzz"},
}
"""One backend per backend format, all at a closed port, never retried."""

ALLOWED = frozenset(range(400, 500)) | {502}


def _app(backend_format: str) -> Any:
    table = {**BACKENDS[backend_format], "max_retries": 0}
    app = create_app(parse_config({"backends": {"b": table}, "default": {"backend": "b"}}))
    backend = app.state.proxy.backends["b"]
    if backend.format != backend_format:  # a Responses backend: the OpenAI client, switched
        backend.client = backend.client.speaking(backend_format)
    return app


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, Any]]:
    built = {name: _app(name) for name in BACKENDS}
    yield built
    for app in built.values():
        asyncio.run(app.state.proxy.aclose())


def post(app: Any, path: str, body: bytes) -> httpx.Response:
    """One request to the app in-process; a 500 would come back as a response (the app's
    exceptions are not raised here, as a client would not see them either)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            headers = {"content-type": "application/json"}
            response = await client.post(path, content=body, headers=headers, timeout=10)
            await response.aread()
            return response

    with no_hang():
        return asyncio.run(send())


def assert_answered_in_format(frontend: str, response: httpx.Response, body: bytes) -> None:
    """The property: a 4xx or 502, with an error body in the frontend's format."""
    assert response.status_code in ALLOWED, (
        f"{frontend}: HTTP {response.status_code} {response.text[:300]!r} for {body[:300]!r}"
    )
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        assert b"error" in response.content
        return
    answer = response.json()
    assert isinstance(answer, dict) and "error" in answer, (frontend, answer)
    if frontend == "anthropic":
        assert answer["type"] == "error"


def _documents(frontend: str) -> list[Any]:
    documents = recorded_requests(frontend)
    if not documents:
        pytest.skip(f"no recorded {frontend} requests (../shared/real-streams is absent)")
    return documents


FRONTENDS = server_formats()


@pytest.mark.parametrize("frontend", FRONTENDS)
@fuzz(40)
@given(body=st.binary(max_size=300), backend=st.sampled_from(sorted(BACKENDS)))
def test_arbitrary_bytes(apps: dict[str, Any], frontend: str, body: bytes, backend: str) -> None:
    assert_answered_in_format(frontend, post(apps[backend], PATHS[frontend], body), body)


@pytest.mark.parametrize("frontend", FRONTENDS)
@fuzz(60)
@given(data=st.data(), backend=st.sampled_from(sorted(BACKENDS)))
def test_mutated_recorded_requests(
    apps: dict[str, Any], frontend: str, data: st.DataObject, backend: str
) -> None:
    documents = _documents(frontend)
    document = data.draw(mutated_json(documents, keys_of(documents)))
    if isinstance(document, dict) and frontend != "gemini":
        document["stream"] = data.draw(st.sampled_from([True, False]))
    body = json.dumps(document).encode()
    assert_answered_in_format(frontend, post(apps[backend], PATHS[frontend], body), body)


@pytest.mark.parametrize("frontend", FRONTENDS)
@fuzz(30)
@given(
    data=st.data(),
    backend=st.sampled_from(sorted(BACKENDS)),
    mutations=st.lists(byte_mutation, min_size=1, max_size=3),
)
def test_recorded_requests_with_bytes_mutated(
    apps: dict[str, Any], frontend: str, data: st.DataObject, backend: str, mutations: Any
) -> None:
    document = data.draw(st.sampled_from(_documents(frontend)))
    body = mutate_bytes(json.dumps(document).encode(), mutations)
    assert_answered_in_format(frontend, post(apps[backend], PATHS[frontend], body), body)


# What the fuzzer and the audit found: each was an HTTP 500 (text/plain) before.
_TEXT_AS_LIST = (
    b'{"model":"m","max_tokens":9,"messages":[{"role":"user","content":'
    b'[{"type":"text","text":["hi"]}]}]}'
)
FOUND = [
    *(
        pytest.param(frontend, "openai_chat", body, id=f"{frontend}-{name}")
        for frontend in PATHS
        for name, body in (("deep-list", b"[" * 100_000), ("deep-object", b'{"a":' * 20_000))
    ),
    pytest.param("anthropic", "openai_chat", _TEXT_AS_LIST, id="text-list-to-chat"),
    pytest.param("anthropic", "openai_responses", _TEXT_AS_LIST, id="text-list-to-responses"),
    pytest.param(
        "openai_responses",
        "gemini",
        b'{"model":"m","input":"hi","tools":[{"type":"function","name":"f",'
        b'"parameters":{"type":"object","properties":{"a":{"type":"string"}},'
        b'"required":[["a"]]}}]}',
        id="required-list-to-gemini",
    ),
]


@pytest.mark.parametrize(("frontend", "backend", "body"), FOUND)
def test_what_the_fuzzer_found_is_a_4xx(
    apps: dict[str, Any], frontend: str, backend: str, body: bytes
) -> None:
    response = post(apps[backend], PATHS[frontend], body)
    assert_answered_in_format(frontend, response, body)
    assert response.status_code == 400
