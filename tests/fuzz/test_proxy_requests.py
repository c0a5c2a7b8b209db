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


# --- a field of the wrong type: a 400 that names the field ---------------------------------

USER = {"role": "user", "content": "hi"}
SCHEMA_REQUIRED_LISTS = {"type": "object", "properties": {"a": {}}, "required": [["a"]]}
REQUIRED_LISTS = "expected a list of strings; item 0 is a list"


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [USER], **fields}


def _said(*parts: Any) -> dict[str, Any]:
    """A chat-completions or Messages body whose one user turn holds `parts`."""
    return {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": list(parts)}]}


def _gemini(*parts: Any, **fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": list(parts)}], **fields}


def _responses(*items: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "m", "input": list(items) or "hi", **fields}


def _function(**fields: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", **fields}}


FIELD_ERRORS = [
    # What the decoders' fuzz tier found (tests/fuzz/test_request_decoders.py FOUND).
    ("openai_chat", _chat(stream_options=["x"]), "'stream_options' must be an object"),
    ("openai_chat", _chat(tools=1.5), "'tools' must be a list"),
    (
        "openai_chat",
        {"model": "m", "messages": [{"role": "assistant", "tool_calls": [["x"]]}]},
        "messages[0].tool_calls[0]: expected an object, got a list",
    ),
    (
        "openai_chat",
        {
            "model": "m",
            "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": {}}}]}],
        },
        "messages[0].tool_calls[0].function.name: expected a string, got an object",
    ),
    (
        "openai_chat",
        _chat(tool_choice={"type": "function", "function": ["f"]}),
        "tool_choice.function: expected an object with a string 'name', got a list",
    ),
    (
        "openai_chat",
        {"model": "m", "messages": [{"role": "system", "content": "x", "name": {}}]},
        "messages[0].name: expected a string, got an object",
    ),
    (
        "openai_chat",
        _said(1, 2),
        "messages[0].content[0]: expected a content block (an object), got a number",
    ),
    (
        "gemini",
        _gemini({"text": "hi"}, toolConfig={"functionCallingConfig": {"mode": ["ANY"]}}),
        "toolConfig.functionCallingConfig.mode: expected a string, got a list",
    ),
    # What the proxy's fuzz tier found (FOUND above), and the like in every frontend.
    *(
        (
            frontend,
            _said({"type": "text", "text": ["hi"]}),
            "messages[0].content[0].text: expected a string, got a list",
        )
        for frontend in ("openai_chat", "anthropic")
    ),
    (
        "gemini",
        _gemini({"text": ["hi"]}),
        "contents[0].parts[0].text: expected a string, got a list",
    ),
    (
        "openai_responses",
        _responses(
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "user", "content": [{"type": ["input_text"], "text": "x"}]},
        ),
        "input[2].content[0].type: expected a string, got a list",
    ),
    (
        "openai_responses",
        _responses(tools=[{"type": "function", "name": "f", "parameters": SCHEMA_REQUIRED_LISTS}]),
        f"tools[0].parameters.required: {REQUIRED_LISTS}",
    ),
    (
        "openai_chat",
        _chat(tools=[_function(parameters=SCHEMA_REQUIRED_LISTS)]),
        f"tools[0].function.parameters.required: {REQUIRED_LISTS}",
    ),
    (
        "anthropic",
        _chat(max_tokens=9, tools=[{"name": "f", "input_schema": SCHEMA_REQUIRED_LISTS}]),
        f"tools[0].input_schema.required: {REQUIRED_LISTS}",
    ),
    (
        "gemini",
        _gemini(
            {"text": "hi"},
            tools=[
                {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": [{}]}}]}
            ],
        ),
        "tools[0].functionDeclarations[0].parametersJsonSchema.type: expected a list of "
        "strings; item 0 is an object",
    ),
    # What the audit of the fields each decoder reads found.
    (
        "openai_chat",
        _said({"type": "image_url", "image_url": ["http://x/a.png"]}),
        "messages[0].content[0].image_url: expected an object or a URL, got a list",
    ),
    (
        "openai_chat",
        _chat(reasoning_effort={}),
        "reasoning_effort: expected a string, got an object",
    ),
    (
        "openai_chat",
        _chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object", "properties": []}},
            }
        ),
        "response_format.json_schema.schema.properties: expected an object of schemas, got a list",
    ),
    (
        "anthropic",
        _chat(max_tokens=9, system=[{"type": ["text"], "text": "be brief"}]),
        "system[0].type: expected a string, got a list",
    ),
    (
        "anthropic",
        _said(
            {
                "type": "tool_result",
                "tool_use_id": "t",
                "content": [{"type": "text", "text": 7}],
            }
        ),
        "messages[0].content[0].content[0].text: expected a string, got a number",
    ),
    (
        "gemini",
        _gemini({"inlineData": {"data": "aGk=", "mimeType": 5}}),
        "contents[0].parts[0].inlineData.mimeType: expected a string, got a number",
    ),
    (
        "openai_responses",
        _responses({"type": ["message"], "role": "user", "content": "hi"}),
        "input[0].type: expected a string, got a list",
    ),
    (
        "openai_responses",
        _responses(
            {
                "type": "function_call_output",
                "call_id": "c",
                "output": [{"type": "input_text", "text": ["x"]}],
            }
        ),
        "input[0].output[0].text: expected a string, got a list",
    ),
    (
        "openai_responses",
        _responses(
            text={"format": {"type": "json_schema", "name": "r", "schema": {"required": "a"}}}
        ),
        "text.format.schema.required: expected a list of strings, got a string",
    ),
]


def error_message(frontend: str, response: httpx.Response) -> str:
    """The message of a non-streamed 400, after checking the frontend's own error shape."""
    answer = response.json()
    error = answer["error"]
    if frontend == "anthropic":
        assert answer["type"] == "error" and error["type"] == "invalid_request_error", answer
    elif frontend == "gemini":
        assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT", answer
    else:
        assert error["type"] == "invalid_request_error" and "param" in error, answer
    message: str = error["message"]
    return message


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize(
    ("frontend", "body", "message"),
    FIELD_ERRORS,
    ids=[f"{frontend}:{message.split(':')[0]}" for frontend, _, message in FIELD_ERRORS],
)
def test_a_field_of_the_wrong_type_is_a_400_naming_it(
    apps: dict[str, Any], frontend: str, body: dict[str, Any], message: str, backend: str
) -> None:
    """Whatever the backend's format, the client hears which field is wrong and what it
    should be, in its own API's error shape (not a Python exception's words)."""
    response = post(apps[backend], PATHS[frontend], json.dumps(body).encode())
    assert response.status_code == 400, response.text
    assert error_message(frontend, response) == message
