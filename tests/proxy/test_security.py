"""The proxy as someone who can reach its port sees it: with keys configured nothing but
`GET /health` answers without one; no credential ever shows up in a response or a log
line, even when a backend echoes what it received; per-key limits answer 429."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.proxy.config import ProxyConfig, ProxyKey, check_exposure, parse_config
from langchain_bhumi.proxy.keys import KeyRing
from tests.proxy.conftest import RunningProxy, backend_reached
from tests.proxy.test_operations import (
    ANTHROPIC_BODY,
    COMPLETION,
    GEMINI_BODY,
    OPENAI_BODY,
    config_for,
    text_stream,
)
from tests.support.server import Received, Scripted, ScriptedServer

PROXY_KEY = "proxy-key-SECRET-4f1a9c"
OTHER_KEY = "proxy-key-SECRET-77b2e0"
BACKEND_KEY = "sk-backend-SECRET-90ab12"
CLIENT_KEY = "client-own-SECRET-5d6e7f"

GEMINI = "/v1beta/models/gemini-2.5-flash"
RESPONSES_BODY = {"model": "gpt-4o-mini", "input": "hi"}
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/v1/chat/completions", OPENAI_BODY, "openai"),
    ("POST", "/chat/completions", OPENAI_BODY, "openai"),
    ("GET", "/v1/models", None, "openai"),
    ("POST", "/v1/responses", RESPONSES_BODY, "openai"),
    ("POST", "/responses", RESPONSES_BODY, "openai"),
    ("POST", "/v1/messages", ANTHROPIC_BODY, "anthropic"),
    ("POST", "/v1/messages/count_tokens", ANTHROPIC_BODY, "anthropic"),
    ("POST", GEMINI + ":generateContent", GEMINI_BODY, "gemini"),
    ("POST", GEMINI + ":streamGenerateContent?alt=sse", GEMINI_BODY, "gemini"),
    ("POST", GEMINI + ":countTokens", GEMINI_BODY, "gemini"),
    ("POST", "/v1/models/gemini-2.5-flash:generateContent", GEMINI_BODY, "gemini"),
    ("GET", "/v1beta/models", None, "gemini"),
    ("GET", "/v1beta/models/gemini-2.5-flash", None, "gemini"),
    ("GET", "/no/such/path", None, "openai"),
]


def is_unauthorized(reply: httpx.Response, api: str) -> bool:
    """A 401 in the API's own error format."""
    body = reply.json()
    if reply.status_code != 401:
        return False
    if api == "anthropic":
        return body["type"] == "error" and body["error"]["type"] == "authentication_error"
    if api == "gemini":
        return body["error"]["code"] == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    return body["error"]["type"] == "authentication_error"


@pytest.fixture
def keyed(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> RunningProxy:
    monkeypatch.setenv("TEST_PROXY_KEY", PROXY_KEY)
    return start_proxy(config_for(backend, server={"proxy_keys": ["${TEST_PROXY_KEY}", OTHER_KEY]}))


@pytest.mark.parametrize(("method", "path", "body", "api"), ROUTES)
def test_with_proxy_keys_every_route_but_health_needs_one(
    backend: ScriptedServer,
    keyed: RunningProxy,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    api: str,
) -> None:
    """Model lists and token counts too: the proxy cannot be used or enumerated."""
    for headers in ({}, {"authorization": "Bearer wrong-key"}, {"x-api-key": PROXY_KEY[:-1]}):
        reply = httpx.request(method, keyed.url + path, json=body, headers=headers, timeout=10)
        assert is_unauthorized(reply, api), (headers, reply.status_code, reply.text)
        assert PROXY_KEY not in reply.text and "wrong-key" not in reply.text
    assert backend.received == []
    assert httpx.get(keyed.url + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("path", "credential"),
    [
        ("/v1/models", {"headers": {"authorization": f"Bearer {PROXY_KEY}"}}),
        ("/v1/models", {"headers": {"authorization": f"Bearer {OTHER_KEY}"}}),
        ("/v1beta/models", {"headers": {"x-goog-api-key": PROXY_KEY}}),
        ("/v1beta/models", {"params": {"key": PROXY_KEY}}),
        ("/v1/models", {"headers": {"x-api-key": OTHER_KEY}}),
    ],
)
def test_a_valid_key_is_accepted_in_each_apis_own_header(
    keyed: RunningProxy, path: str, credential: dict[str, Any]
) -> None:
    assert httpx.get(keyed.url + path, timeout=10, **credential).status_code == 200


def test_each_frontends_model_call_works_with_its_own_header(
    backend: ScriptedServer, keyed: RunningProxy
) -> None:
    backend.enqueue(*(Scripted.json(COMPLETION) for _ in range(4)))
    replies = [
        httpx.post(
            keyed.url + "/v1/chat/completions",
            json=OPENAI_BODY,
            headers={"authorization": f"Bearer {PROXY_KEY}"},
        ),
        httpx.post(
            keyed.url + "/v1/responses",
            json=RESPONSES_BODY,
            headers={"authorization": f"Bearer {PROXY_KEY}"},
        ),
        httpx.post(
            keyed.url + "/v1/messages", json=ANTHROPIC_BODY, headers={"x-api-key": PROXY_KEY}
        ),
        httpx.post(
            keyed.url + GEMINI + ":generateContent",
            json=GEMINI_BODY,
            headers={"x-goog-api-key": PROXY_KEY},
        ),
    ]
    assert [r.status_code for r in replies] == [200, 200, 200, 200]
    for received in backend.received:  # the proxy key is not the backend's business
        assert PROXY_KEY not in json.dumps(received.headers)


def test_keys_are_compared_in_constant_time_over_every_configured_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every presented key is compared with every configured one, matched or not, by
    `hmac.compare_digest`; prefixes, suffixes and empty keys do not match."""
    ring = KeyRing(tuple(ProxyKey(f"k{n}", f"secret-number-{n}") for n in range(4)))
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    match = ring.match("secret-number-0")
    assert match is not None and match.name == "k0"
    assert len(compared) == 4
    for wrong in ("secret-number-", "secret-number-00", "ecret-number-0", "", None):
        assert ring.match(wrong) is None


LOCAL = {"local": {"provider": "llamacpp", "base_url": "http://127.0.0.1:9"}}


@pytest.mark.parametrize(
    ("host", "exposed"),
    [("127.0.0.1", False), ("::1", False), ("localhost", False), ("127.0.0.2", False),
     ("0.0.0.0", True), ("::", True), ("192.168.1.5", True), ("proxy.internal", True)],
)  # fmt: skip
def test_only_loopback_may_be_served_without_proxy_keys(host: str, exposed: bool) -> None:
    open_config = parse_config({"backends": LOCAL, "server": {"host": host}})
    if exposed:
        with pytest.raises(ConfigurationError, match=r"refusing to serve on .* without proxy keys"):
            check_exposure(open_config)
    else:
        check_exposure(open_config)
    for server in ({"proxy_keys": [PROXY_KEY]}, {"open_proxy": True}):
        check_exposure(parse_config({"backends": LOCAL, "server": {"host": host, **server}}))


# --- a proxy started some other way than `serve` (uvicorn --factory, create_app) -----------

Answer = tuple[int, dict[str, Any] | None, bool]


def gate_answer(
    server: tuple[str, int | None] | None,
    path: str = "/v1/chat/completions",
    *,
    method: str = "POST",
    keys: tuple[ProxyKey, ...] = (),
    open_proxy: bool = False,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Answer:
    """What the gate answers a request that came in on `server` (ASGI `scope["server"]`,
    the local end of the connection): status, JSON body (`None` when the routes
    answered), and whether the routes behind the gate ran."""
    from langchain_bhumi.proxy import routes
    from langchain_bhumi.proxy.app import default_codecs
    from langchain_bhumi.proxy.gate import Gate

    reached: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"served"})

    gate = Gate(
        app,
        keys=KeyRing(keys),
        codecs=default_codecs(),
        frontend_for_path=routes.frontend_for_path,
        open_proxy=open_proxy,
    )
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": list(headers),
        "server": server,
        "client": ("203.0.113.7", 50123),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(gate(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, None if reached else json.loads(body), bool(reached)


NETWORK = [("192.168.1.5", 8080), ("10.0.0.2", 443), ("2001:db8::5", 8080), ("::ffff:10.0.0.2", 80)]
LOCAL_ONLY = [
    ("127.0.0.1", 8080),
    ("::1", 8080),
    ("::ffff:127.0.0.1", 8080),  # an IPv4 client of a dual-stack `::` bind
    ("/run/proxy.sock", None),  # a Unix socket
    ("testserver", 80),  # an in-process test client
    None,
]


@pytest.mark.parametrize("server", NETWORK)
@pytest.mark.parametrize(
    ("path", "api"),
    [
        ("/v1/chat/completions", "openai"),
        ("/v1/responses", "openai"),
        ("/v1/messages", "anthropic"),
        (GEMINI + ":generateContent", "gemini"),
        ("/health", "openai"),
    ],
)
def test_without_proxy_keys_a_request_from_the_network_is_refused_with_the_fix(
    server: tuple[str, int], path: str, api: str
) -> None:
    """`uvicorn --factory ...create_app_from_environment --host 0.0.0.0` skips `serve`'s
    check: the gate refuses what comes in on a non-loopback address, in the API's own
    error format, saying how to fix it, and the routes never run."""
    method = "GET" if path == "/health" else "POST"
    status, body, reached = gate_answer(server, path, method=method)
    assert (status, reached) == (403, False)
    assert body is not None
    if api == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "permission_error"
        message = body["error"]["message"]
    elif api == "gemini":
        assert body["error"]["code"] == 403 and body["error"]["status"] == "PERMISSION_DENIED"
        message = body["error"]["message"]
    else:
        assert body["error"]["type"] == "permission_error"
        message = body["error"]["message"]
    assert "without proxy keys" in message and server[0] in message
    assert "[server].proxy_keys" in message and "open_proxy = true" in message


@pytest.mark.parametrize("server", LOCAL_ONLY)
def test_without_proxy_keys_a_local_request_is_served(
    server: tuple[str, int | None] | None,
) -> None:
    assert gate_answer(server) == (200, None, True)


@pytest.mark.parametrize("server", NETWORK[:1])
def test_proxy_keys_or_the_open_proxy_flag_serve_the_network(server: tuple[str, int]) -> None:
    keys = (ProxyKey("ci", PROXY_KEY),)
    assert gate_answer(server, keys=keys)[0] == 401
    given = ((b"authorization", f"Bearer {PROXY_KEY}".encode()),)
    assert gate_answer(server, keys=keys, headers=given) == (200, None, True)
    assert gate_answer(server, open_proxy=True) == (200, None, True)


def test_the_app_refuses_the_network_unless_its_config_allows_an_open_proxy() -> None:
    """The same rule in the app as `create_app` and the worker factory build it."""
    from starlette.testclient import TestClient

    from langchain_bhumi.proxy.app import create_app

    for server, expected in ({}, 403), ({"open_proxy": True}, 200):
        app = create_app(parse_config({"backends": LOCAL, "server": server}))
        client = TestClient(app, base_url="http://192.168.1.5:8080")
        assert client.get("/v1/models").status_code == expected
        local = TestClient(app, base_url="http://127.0.0.1:8080")
        assert local.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("${TEST_EMPTY_KEY}", r"proxy_keys\[1\] = '\$\{TEST_EMPTY_KEY\}' is empty"),
        ({"key": "${TEST_EMPTY_KEY}", "name": "ci"}, r"proxy_keys\[1\] .*TEST_EMPTY_KEY"),
        ("", r"proxy_keys\[1\] = '' is empty"),
        ("${TEST_UNSET_KEY}", r"proxy_keys\[1\]: environment variable TEST_UNSET_KEY is not set"),
    ],
)
def test_a_proxy_key_that_expands_to_nothing_stops_the_proxy_instead_of_opening_it(
    monkeypatch: pytest.MonkeyPatch, entry: str | dict[str, str], named: str
) -> None:
    """`proxy_keys = ["${KEY}"]` with KEY empty: leaving the entry out could leave the
    proxy open while its operator believes keys are on."""
    monkeypatch.setenv("TEST_EMPTY_KEY", "")
    monkeypatch.delenv("TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=named):
        parse_config({"backends": LOCAL, "server": {"proxy_keys": [PROXY_KEY, entry]}})


def test_proxy_keys_with_names_and_limits() -> None:
    keys = [PROXY_KEY, {"key": OTHER_KEY, "name": "ci", "requests_per_minute": 5}]
    server = {"proxy_keys": keys, "key_max_concurrent": 2}
    config = parse_config({"backends": LOCAL, "server": server})
    assert [(k.name, k.requests_per_minute, k.max_concurrent) for k in config.proxy_keys] == [
        ("key1", None, 2),
        ("ci", 5, 2),
    ]
    assert PROXY_KEY not in repr(config) and OTHER_KEY not in repr(config)
    with pytest.raises(ConfigurationError, match=r"proxy_keys\[0\] must be a key"):
        parse_config({"backends": LOCAL, "server": {"proxy_keys": [{"name": "no key"}]}})
    with pytest.raises(ConfigurationError, match="requests_per_minute must be a number >= 1"):
        parse_config(
            {
                "backends": LOCAL,
                "server": {"proxy_keys": [{"key": PROXY_KEY, "requests_per_minute": 0}]},
            }
        )
    forwarding = {"local": {**LOCAL["local"], "passthrough_key": True}}
    with pytest.raises(ConfigurationError, match="passthrough_key"):
        parse_config({"backends": forwarding, "server": {"proxy_keys": [PROXY_KEY]}})


# --- no credential in any answer or log line ------------------------------------------------


def echo_credentials(status: int) -> Callable[[Received], Scripted]:
    """A backend that rejects the request and echoes the credentials it received, plainly
    and as headers, in its error body (as some servers do)."""

    def respond(request: Received) -> Scripted:
        seen = {
            k: v
            for k, v in request.headers.items()
            if k in ("authorization", "x-api-key", "x-goog-api-key")
        }
        plain = " ".join(v.removeprefix("Bearer ") for v in seen.values())
        message = f"invalid credentials {plain}; headers were {json.dumps(seen)}"
        return Scripted.json(
            {"error": {"message": message, "type": "invalid_request_error"}}, status
        )

    return respond


FRONTEND_CALLS = [
    ("/v1/chat/completions", OPENAI_BODY),
    ("/v1/chat/completions", {**OPENAI_BODY, "stream": True}),
    ("/v1/messages", ANTHROPIC_BODY),
    ("/v1/messages", {**ANTHROPIC_BODY, "stream": True}),
    (GEMINI + ":generateContent", GEMINI_BODY),
    (GEMINI + ":streamGenerateContent?alt=sse", GEMINI_BODY),
]


def assert_nowhere(secrets: tuple[str, ...], reply: httpx.Response, log: str) -> None:
    for secret in secrets:
        assert secret not in reply.text, reply.text
        assert secret not in json.dumps(dict(reply.headers))
        assert secret not in log, log


@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize(("passthrough", "late"), [(False, False), (True, False), (False, True)])
def test_no_credential_reaches_a_response_or_a_log_line_even_when_the_backend_echoes_it(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    caplog: pytest.LogCaptureFixture,
    status: int,
    passthrough: bool,
    late: bool,
) -> None:
    """The backend's own key, the proxy key and (with `passthrough_key`) the client's own
    key: none is in any response body, header or log line at any level, for every
    frontend, streamed or not, and for an error that arrives after the stream started."""
    table: dict[str, Any] = {"max_retries": 0}
    if passthrough:
        table["passthrough_key"] = True
    else:
        table["api_key"] = BACKEND_KEY
    server: dict[str, Any] = {"proxy_keys": [PROXY_KEY]} if not passthrough else {}
    if late:
        server |= {"stream_start_wait": 0.05, "keepalive_interval": 0.05}
    proxy = start_proxy(config_for(backend, backend=table, server=server))
    respond = echo_credentials(status)
    if late:
        backend.responder = lambda request: replace(respond(request), stall_before_headers=0.3)
    else:
        backend.responder = respond
    client_key = CLIENT_KEY if passthrough else PROXY_KEY
    caplog.set_level(logging.DEBUG)
    for path, body in FRONTEND_CALLS:
        if late and not (body.get("stream") or "stream" in path):
            continue
        reply = httpx.post(
            proxy.url + path,
            json=body,
            headers={"authorization": f"Bearer {client_key}", "x-api-key": client_key},
            timeout=10,
        )
        assert reply.status_code == (200 if late else {400: 400, 401: 502}[status])
        assert "invalid credentials" in reply.text
        time.sleep(0.05)  # the access line is written when the response is over
        log = "\n".join(r.getMessage() for r in caplog.records)
        assert_nowhere((BACKEND_KEY, PROXY_KEY, CLIENT_KEY), reply, log)
    sent = [
        r.headers.get("authorization", "") + r.headers.get("x-api-key", "")
        for r in backend.received
    ]
    assert all((CLIENT_KEY in s) == passthrough for s in sent), sent


# --- per-key limits ---------------------------------------------------------------------------


def test_a_key_over_its_requests_per_minute_gets_429_with_retry_after(
    backend: ScriptedServer,
    start_proxy: Callable[[ProxyConfig], RunningProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = [{"key": PROXY_KEY, "name": "ci", "requests_per_minute": 2}, OTHER_KEY]
    proxy = start_proxy(config_for(backend, server={"proxy_keys": keys}))
    backend.enqueue(*(Scripted.json(COMPLETION) for _ in range(3)))
    mine = {"x-api-key": PROXY_KEY}
    with caplog.at_level(logging.INFO, logger="langchain_bhumi.proxy"):
        replies = [
            httpx.post(proxy.url + "/v1/messages", json=ANTHROPIC_BODY, headers=mine)
            for _ in range(3)
        ]
        other = httpx.post(
            proxy.url + "/v1/messages", json=ANTHROPIC_BODY, headers={"x-api-key": OTHER_KEY}
        )
        time.sleep(0.05)
    assert [r.status_code for r in replies] == [200, 200, 429]
    limited = replies[-1]
    assert limited.json()["type"] == "error"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert 0 < int(limited.headers["retry-after"]) <= 60
    assert other.status_code == 200
    assert len(backend.received) == 3
    lines = [r.getMessage() for r in caplog.records if "status=429" in r.getMessage()]
    assert len(lines) == 1 and "key=ci" in lines[0] and PROXY_KEY not in lines[0]


def test_a_key_over_its_concurrent_requests_gets_429_until_one_ends(
    backend: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> None:
    server = {"proxy_keys": [PROXY_KEY, OTHER_KEY], "key_max_concurrent": 1}
    proxy = start_proxy(config_for(backend, server=server))
    release = threading.Event()
    backend.enqueue(text_stream("long", release=release), Scripted.json(COMPLETION))
    backend.enqueue(Scripted.json(COMPLETION))
    url = proxy.url + "/v1/chat/completions"
    mine = {"authorization": f"Bearer {PROXY_KEY}"}

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=20) as client:
            first = asyncio.create_task(
                client.post(url, json={**OPENAI_BODY, "stream": True}, headers=mine)
            )
            await backend_reached(backend)
            second = await client.post(url, json=OPENAI_BODY, headers=mine)
            other = await client.post(
                url, json=OPENAI_BODY, headers={"authorization": f"Bearer {OTHER_KEY}"}
            )
            release.set()
            done = await first
            again = await client.post(url, json=OPENAI_BODY, headers=mine)
            return [done, second, other, again]

    try:
        done, second, other, again = asyncio.run(run())
    finally:
        release.set()
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert second.json()["error"]["type"] == "rate_limit_error"
    assert [done.status_code, other.status_code, again.status_code] == [200, 200, 200]
