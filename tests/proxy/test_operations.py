"""The proxy as an operator sees it: errors, credentials, limits, disconnects, concurrency."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.proxy.config import ProxyConfig, parse_config, single_backend
from tests.proxy.conftest import RunningProxy, backend_closed_within, backend_reached
from tests.support.cassettes import LOCAL_MODEL
from tests.support.server import Received, Scripted, ScriptedServer

OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": LOCAL_MODEL,
        "choices": choices,
        **top,
    }


def text_stream(text: str, **kwargs: Any) -> Scripted:
    return Scripted.sse(
        chunk({"content": text}),
        chunk({}, "stop"),
        chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
        **kwargs,
    )


COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": LOCAL_MODEL,
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


def post(url: str, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=headers, timeout=20)


# --- errors in the client's own format -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, 400), (404, 404), (429, 429), (401, 502), (500, 502), (503, 503)],
)
def test_backend_errors_come_back_in_each_frontends_format(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    status: int,
    expected: int,
) -> None:
    """The backend's failure, in the client's own error shape, with a status the client
    can act on (the backend's auth or server failures are the proxy's 502)."""
    proxy = start_proxy(config_for(backend, backend={"max_retries": 0}))
    error = {"error": {"message": "backend says no", "type": "invalid_request_error"}}
    backend.enqueue(*(Scripted.json(error, status=status) for _ in range(3)))

    reply = post(proxy.url, "/v1/chat/completions", OPENAI_BODY)
    assert reply.status_code == expected
    assert "backend says no" in reply.json()["error"]["message"]

    reply = post(proxy.url, "/v1/messages", ANTHROPIC_BODY)
    assert reply.status_code == expected
    assert reply.json()["type"] == "error" and "backend says no" in reply.json()["error"]["message"]

    reply = post(proxy.url, "/v1beta/models/gemini-2.5-flash:generateContent", GEMINI_BODY)
    assert reply.status_code == expected
    assert reply.json()["error"]["code"] == expected
    assert "backend says no" in reply.json()["error"]["message"]
    assert len(backend.received) == 3


UNKNOWN_MODEL_CALLS = {
    "openai": ("/v1/chat/completions", {**OPENAI_BODY, "model": "no-such-model"}),
    "responses": ("/v1/responses", {"model": "no-such-model", "input": "hi"}),
    "anthropic": ("/v1/messages", {**ANTHROPIC_BODY, "model": "no-such-model"}),
    "gemini": ("/v1beta/models/no-such-model:generateContent", GEMINI_BODY),
}


@pytest.mark.parametrize("frontend", list(UNKNOWN_MODEL_CALLS))
def test_a_model_no_backend_serves_is_a_404_in_each_frontends_format(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy], frontend: str
) -> None:
    """With two backends and no [default], a name the model map does not know is the
    client's 404 (an SDK reports "model not found"), not a 400 or a 500."""
    local = {"provider": "llamacpp", "base_url": backend.url}
    config = parse_config({"backends": {"one": local, "two": local}, "models": {"known": "one/m"}})
    proxy = start_proxy(config)
    path, body = UNKNOWN_MODEL_CALLS[frontend]
    reply = post(proxy.url, path, body)
    assert reply.status_code == 404
    error = reply.json()["error"]
    if frontend == "anthropic":
        assert reply.json()["type"] == "error" and error["type"] == "not_found_error"
    elif frontend == "gemini":
        assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    else:
        assert error["type"] == "not_found_error"
    assert "'no-such-model'" in error["message"] and "[models]" in error["message"]
    assert backend.received == []


def test_a_failure_mid_stream_ends_the_stream_with_an_error_event(
    backend: ScriptedServer, proxy: RunningProxy
) -> None:
    backend.enqueue(Scripted.sse(chunk({"content": "partial"}), done=False, cut_after=1))
    with httpx.stream(
        "POST", proxy.url + "/v1/chat/completions", json={**OPENAI_BODY, "stream": True}, timeout=20
    ) as reply:
        assert reply.status_code == 200
        body = reply.read().decode()
    assert "partial" in body
    assert '"error"' in body and "[DONE]" not in body


def test_an_unreachable_backend_is_a_502(
    start_proxy: Callable[[ProxyConfig], RunningProxy],
) -> None:
    proxy = start_proxy(single_backend("llamacpp/m", base_url="http://127.0.0.1:9/v1"))
    reply = post(proxy.url, "/v1/chat/completions", OPENAI_BODY)
    assert reply.status_code == 502
    assert "could not reach" in reply.json()["error"]["message"]


def test_bad_requests_are_400_with_the_reason(proxy: RunningProxy) -> None:
    reply = post(proxy.url, "/v1/chat/completions", {"model": "x", "messages": []})
    assert reply.status_code == 400 and "messages" in reply.json()["error"]["message"]
    reply = httpx.post(proxy.url + "/v1/chat/completions", content=b"{not json", timeout=10)
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]["message"]


# --- credentials ------------------------------------------------------------------------


def config_for(
    scripted: ScriptedServer, backend: dict[str, Any] | None = None, **tables: Any
) -> ProxyConfig:
    """A config whose one backend is the scripted server (`backend` adds to its table;
    other keywords are TOML tables such as `server`)."""
    local = {"provider": "llamacpp", "base_url": scripted.url, **(backend or {})}
    return parse_config({"backends": {"local": local}, **tables})


def test_proxy_keys_are_required_when_configured(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_PROXY_KEY", "proxy-secret-123")
    proxy = start_proxy(config_for(backend, server={"proxy_keys": ["${TEST_PROXY_KEY}"]}))
    assert post(proxy.url, "/v1/chat/completions", OPENAI_BODY).status_code == 401
    backend.enqueue(Scripted.json(COMPLETION))
    reply = post(
        proxy.url, "/v1/chat/completions", OPENAI_BODY, authorization="Bearer proxy-secret-123"
    )
    assert reply.status_code == 200
    assert len(backend.received) == 1


def test_client_credentials_never_reach_the_backend_unless_passthrough(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    backend.enqueue(Scripted.json(COMPLETION), Scripted.json(COMPLETION))
    plain = start_proxy(config_for(backend))
    reply = post(
        plain.url, "/v1/chat/completions", OPENAI_BODY, authorization="Bearer client-secret-abc"
    )
    assert reply.status_code == 200
    assert "client-secret-abc" not in json.dumps(backend.received[-1].headers)
    passthrough = start_proxy(config_for(backend, backend={"passthrough_key": True}))
    post(
        passthrough.url,
        "/v1/chat/completions",
        OPENAI_BODY,
        authorization="Bearer client-secret-abc",
    )
    assert backend.received[-1].headers["authorization"] == "Bearer client-secret-abc"


# --- backends as the proxy builds them --------------------------------------------------------


def test_a_backend_without_a_key_says_which_config_fields_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy's operator writes TOML, not `ChatBhumi(api_key=...)`: the error names the
    backend, its table's `api_key` / `api_key_env` and the provider's variable."""
    from langchain_bhumi.proxy.app import create_app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = parse_config({"backends": {"cloud": {"provider": "openai"}}})
    with pytest.raises(ConfigurationError) as caught:
        create_app(config)
    message = str(caught.value)
    assert "backend 'cloud'" in message and "[backends.cloud]" in message
    assert "api_key =" in message and 'api_key_env = "OPENAI_API_KEY"' in message
    assert "export OPENAI_API_KEY" in message
    assert "ChatBhumi" not in message
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")  # the provider's variable is enough
    create_app(config)


def test_a_local_backend_waits_for_headers_as_long_as_chatbhumi_does(
    backend: ScriptedServer,
) -> None:
    """llama.cpp sends no headers until it has read the whole prompt: a proxied llamacpp
    backend gets the provider's long header wait, unless its table sets one."""
    from langchain_bhumi import ChatBhumi
    from langchain_bhumi.proxy.service import Backend

    def header_wait(**table: Any) -> float | None:
        config = config_for(backend, backend=table)
        return Backend(config.backends["local"]).client.transport.timeouts.headers

    model = ChatBhumi(model=f"llamacpp/{LOCAL_MODEL}", base_url=backend.url)
    chat_wait = model._client.transport.timeouts.headers
    assert chat_wait is not None and chat_wait > 60  # longer than the idle timeout
    assert header_wait() == chat_wait
    assert header_wait(header_timeout=5) == 5.0


# --- limits -----------------------------------------------------------------------------------


def test_request_bodies_over_the_limit_are_413(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    proxy = start_proxy(config_for(backend, server={"max_body_bytes": 1000}))
    big = {**OPENAI_BODY, "messages": [{"role": "user", "content": "x" * 2000}]}
    reply = post(proxy.url, "/v1/chat/completions", big)
    assert reply.status_code == 413
    assert backend.received == []


def test_requests_beyond_the_concurrency_limit_wait_for_a_slot(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    """The request over the limit queues, and is served as soon as a slot frees."""
    proxy = start_proxy(config_for(backend, server={"max_concurrent": 1, "queue_timeout": 20}))
    release = threading.Event()
    backend.enqueue(text_stream("first", release=release), Scripted.json(COMPLETION))

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=20) as client:
            url = proxy.url + "/v1/chat/completions"
            first = asyncio.create_task(client.post(url, json={**OPENAI_BODY, "stream": True}))
            await backend_reached(backend)
            second = asyncio.create_task(client.post(url, json=OPENAI_BODY))
            await asyncio.sleep(0.3)
            assert not second.done() and len(backend.received) == 1  # waiting in the proxy
            release.set()
            return [await first, await second]

    try:
        first, second = asyncio.run(both())
    finally:
        release.set()
    assert first.status_code == 200 and "first" in first.text
    assert second.status_code == 200 and second.json()["choices"][0]["message"]["content"] == "ok"


def test_a_request_that_waits_too_long_for_a_slot_is_a_503_with_retry_after(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    proxy = start_proxy(config_for(backend, server={"max_concurrent": 1, "queue_timeout": 0.2}))
    release = threading.Event()
    backend.enqueue(text_stream("first", release=release))

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=20) as client:
            first = asyncio.create_task(
                client.post(proxy.url + "/v1/messages", json={**ANTHROPIC_BODY, "stream": True})
            )
            await backend_reached(backend)
            second = await client.post(proxy.url + "/v1/messages", json=ANTHROPIC_BODY)
            release.set()
            return [await first, second]

    try:
        first, second = asyncio.run(both())
    finally:
        release.set()
    assert first.status_code == 200 and "first" in first.text
    assert second.status_code == 503 and int(second.headers["retry-after"]) > 0
    assert second.json()["error"]["type"] == "overloaded_error"
    assert "concurrency limit" in second.json()["error"]["message"]
    assert len(backend.received) == 1


def test_a_client_that_disconnects_cancels_the_backend_request(
    backend: ScriptedServer, proxy: RunningProxy
) -> None:
    """Mid-stream: the backend, still sending (4 s of answer left), sees its connection
    closed within a second of the client leaving."""
    parts = [chunk({"content": f"word{n} "}) for n in range(200)]
    backend.enqueue(Scripted.sse(*parts, delay=0.02))
    with httpx.stream(
        "POST", proxy.url + "/v1/chat/completions", json={**OPENAI_BODY, "stream": True}, timeout=20
    ) as reply:
        for line in reply.iter_lines():
            if "word3" in line:
                break
    closed_within = backend_closed_within(backend, time.monotonic())
    assert closed_within <= 1.0, f"the backend request closed {closed_within:.2f} s late"


def test_concurrent_streams_do_not_mix(backend: ScriptedServer, proxy: RunningProxy) -> None:
    """50 concurrent streams, each asking for its own number: each gets only its own."""

    def echo(request: Received) -> Scripted:
        asked = request.json()["messages"][-1]["content"]
        return Scripted.sse(
            *[chunk({"content": f"{asked}-{n} "}) for n in range(20)],
            chunk({}, "stop"),
            delay=0.005,
        )

    backend.responder = echo

    async def one(client: httpx.AsyncClient, number: int) -> str:
        body = {
            **OPENAI_BODY,
            "stream": True,
            "messages": [{"role": "user", "content": f"n{number}"}],
        }
        text = ""
        async with client.stream("POST", proxy.url + "/v1/chat/completions", json=body) as reply:
            async for line in reply.aiter_lines():
                if line.startswith("data: {"):
                    for choice in json.loads(line[6:])["choices"]:
                        text += choice["delta"].get("content") or ""
        return text

    async def all_of_them() -> list[str]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(one(client, n) for n in range(50)))

    for number, text in enumerate(asyncio.run(all_of_them())):
        assert text == "".join(f"n{number}-{i} " for i in range(20))


# --- the small endpoints and the log ---------------------------------------------------------


def test_health_models_and_token_counts(proxy: RunningProxy) -> None:
    assert httpx.get(proxy.url + "/health").json()["status"] == "ok"
    assert httpx.get(proxy.url + "/v1/models").json()["data"][0]["id"] == LOCAL_MODEL
    models = httpx.get(proxy.url + "/v1beta/models").json()["models"]
    assert models[0]["name"] == f"models/{LOCAL_MODEL}"
    count = post(proxy.url, "/v1beta/models/gemini-2.5-flash:countTokens", GEMINI_BODY).json()
    assert count["totalTokens"] > 0
    assert post(proxy.url, "/v1/messages/count_tokens", ANTHROPIC_BODY).json()["input_tokens"] > 0


def test_each_request_is_logged_without_prompts_or_secrets(
    backend: ScriptedServer, proxy: RunningProxy, caplog: pytest.LogCaptureFixture
) -> None:
    backend.enqueue(text_stream("hello"))
    with caplog.at_level(logging.INFO, logger="langchain_bhumi.proxy"):
        post(
            proxy.url,
            "/v1/chat/completions",
            {**OPENAI_BODY, "stream": True},
            authorization="Bearer sk-client-zzz",
        )
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.05)
    [record] = [r for r in caplog.records if r.name == "langchain_bhumi.proxy"]
    line = record.getMessage()
    for field in (
        "rid=req_",
        "frontend=openai_chat",
        "backend=llamacpp",
        "model=gpt-4o-mini",
        "status=200",
        "ttft=",
        "total=",
    ):
        assert field in line, line
    assert "sk-client-zzz" not in line and "prompt=" not in line


def test_a_backend_can_drop_options_it_rejects(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    proxy = start_proxy(config_for(backend, backend={"drop": ["reasoning_effort"]}))
    backend.enqueue(Scripted.json(COMPLETION))
    reply = post(proxy.url, "/v1/chat/completions", {**OPENAI_BODY, "reasoning_effort": "high"})
    assert reply.status_code == 200
    assert "reasoning_effort" not in backend.received[-1].json()


def test_call_signatures_survive_clients_that_drop_them() -> None:
    """Gemini 3 needs each call's thought signature back; an OpenAI or Anthropic client
    sends back only id, name and arguments. The proxy puts the signature back."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from langchain_bhumi.core.events import ToolCallDone
    from langchain_bhumi.protocols.base import ChatRequest
    from langchain_bhumi.proxy.service import CallExtrasCache

    cache = CallExtrasCache(capacity=2)
    signature = {"google": {"thought_signature": "c2ln"}}
    cache.remember([ToolCallDone(0, "call_1", "get_weather", "{}", {}, None, signature)])
    history = [
        HumanMessage("weather?"),
        AIMessage(
            "",
            tool_calls=[{"name": "get_weather", "args": {}, "id": "call_1", "type": "tool_call"}],
        ),
        ToolMessage("sunny", tool_call_id="call_1"),
    ]
    restored = cache.restore(ChatRequest(model="m", messages=history))
    assert restored.messages[1].additional_kwargs["tool_call_extras"] == {"call_1": signature}
    for number in range(3):  # bounded: the oldest ids are forgotten
        cache.remember([ToolCallDone(0, f"other_{number}", "f", "{}", {}, None, signature)])
    assert cache.restore(ChatRequest(model="m", messages=history)).messages[1] is history[1]


def gemini_call(name: str, args: dict[str, Any], signature: str) -> Scripted:
    """A Gemini 3 streamed answer: one function call carrying its thought signature."""
    part = {"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}
    chunk = {
        "candidates": [
            {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
        "modelVersion": "gemini-3-pro-preview",
    }
    return Scripted(parts=[f"data: {json.dumps(chunk)}\r\n\r\n".encode()])


def gemini_text(text: str) -> Scripted:
    chunk = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "modelVersion": "gemini-3-pro-preview",
    }
    return Scripted(parts=[f"data: {json.dumps(chunk)}\r\n\r\n".encode()])


@pytest.mark.parametrize("persisted", [True, False])
def test_call_signatures_survive_a_restart_when_persisted(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    tmp_path: Path,
    persisted: bool,
) -> None:
    """An OpenAI client drives a Gemini 3 backend through two turns with a restart of the
    proxy between them: the thought signature of turn 1's call goes back with turn 2
    when the signature store is a file (and is lost when it lives in memory only)."""
    openai = pytest.importorskip("openai")
    server = {"signature_store": str(tmp_path / "signatures.sqlite")} if persisted else {}
    config = parse_config(
        {
            "backends": {
                "gem": {"provider": "gemini", "base_url": backend.url, "api_key": "gem-key-123"}
            },
            "server": server,
        }
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    question = {"role": "user", "content": "Weather in Paris?"}
    backend.enqueue(gemini_call("get_weather", {"city": "Paris"}, "c2lnbmF0dXJlLTE="))
    first = start_proxy(config)
    client = openai.OpenAI(base_url=first.url + "/v1", api_key="any", max_retries=0)
    calls: dict[int, dict[str, str]] = {}
    for part in client.chat.completions.create(
        model="gemini-3-pro-preview", messages=[question], tools=tools, stream=True
    ):
        for delta in part.choices[0].delta.tool_calls or [] if part.choices else []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    [call] = calls.values()
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    first.stop()

    backend.enqueue(gemini_text("Sunny in Paris."))
    second = start_proxy(config)
    client = openai.OpenAI(base_url=second.url + "/v1", api_key="any", max_retries=0)
    function = {"name": call["name"], "arguments": call["arguments"]}
    history = [
        question,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call["id"], "type": "function", "function": function}],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 24 C"},
    ]
    answer = client.chat.completions.create(
        model="gemini-3-pro-preview", messages=history, tools=tools, stream=True
    )
    text = "".join(p.choices[0].delta.content or "" for p in answer if p.choices)
    assert text == "Sunny in Paris."
    sent = backend.received[-1].json()["contents"]
    [called] = [p for c in sent if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert called["functionCall"]["name"] == "get_weather"
    if persisted:
        assert called["thoughtSignature"] == "c2lnbmF0dXJlLTE="
    else:
        assert called.get("thoughtSignature") != "c2lnbmF0dXJlLTE="


def test_the_signature_store_is_bounded_and_keeps_the_newest(tmp_path: Path) -> None:
    from langchain_bhumi.core.events import ToolCallDone
    from langchain_bhumi.proxy.call_extras import CallExtrasCache

    path = tmp_path / "signatures.sqlite"
    cache = CallExtrasCache(capacity=2, path=path, file_capacity=3)
    for number in range(5):
        extras = {"google": {"thought_signature": f"sig-{number}"}}
        cache.remember([ToolCallDone(0, f"call_{number}", "f", "{}", {}, None, extras)])
    assert cache.store is not None and cache.store.count() == 3
    cache.close()
    reopened = CallExtrasCache(path=path, file_capacity=3)
    assert reopened.store is not None
    kept = reopened.store.get([f"call_{n}" for n in range(5)])
    assert sorted(kept) == ["call_2", "call_3", "call_4"]
    assert kept["call_4"] == {"google": {"thought_signature": "sig-4"}}
    reopened.close()
