"""The whole request surface of each API, through the real proxy, against each backend format.

`bodies/` holds large request bodies written from the APIs' documentation and SDK types
(anthropic 2.16, openai 3.57, google-genai 3.6; each checked against those types field
by field): agent sessions with long system prompts, a dozen tools, server tools, signed
thinking, mid-conversation system turns, images and documents of every source, and one
body per API with every optional top-level field set. The Responses API body is codex
0.169's own request (captured), with every kind of tool and item codex sends. Each is sent through the proxy to a
scripted backend of each wire format, and what reached the backend is compared with what
must reach it:

- `bodies/expected/<body>.<format>.json`: the exact backend body, reviewed by hand. After
  a deliberate change, regenerate with `BHUMI_UPDATE_BODIES=1 pytest <this file>` and
  review the diff.
- For a backend of the frontend's own format, `SAME_FORMAT_CHANGES` lists every place the
  backend body differs from the client's (model replaced, field spellings, ...): any
  other difference is a loss.
- Or a 400, in the client's own error format, naming what that format cannot take.

Then one test per valid request that failed before (the failure list of issue 12), and the
token-count endpoints' body handling.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_bhumi.proxy.config import ProxyConfig, parse_config
from tests.proxy.conftest import RunningProxy, run_proxy
from tests.support.server import Received, Scripted, ScriptedServer
from tests.support.wire import anthropic_answer, gemini_answer, openai_answer, responses_answer

BODIES = Path(__file__).parent / "bodies"
EXPECTED = BODIES / "expected"
UPDATE = bool(os.environ.get("BHUMI_UPDATE_BODIES"))

# Backend name in the proxy config -> (wire format, the backend's model).
BACKENDS = {
    "openai_chat": ("oai", "gpt-5"),
    "anthropic": ("ant", "claude-opus-4-6"),
    "gemini": ("gem", "gemini-3-pro-preview"),
    "openai_responses": ("oair", "gpt-5-codex"),  # an `openai` backend: Responses-only model
}
FORMATS = ["openai_chat", "anthropic", "gemini"]


# --- the proxy and its scripted backend (one of each for the module) ----------------------


def answer(request: Received) -> Scripted:
    """A short answer in the request's own format, streamed when it asked for a stream."""
    path = request.path
    if path.endswith("/responses"):
        return responses_answer("ok")
    if path.endswith("/chat/completions"):
        if request.json().get("stream"):
            return openai_answer("ok")
        message = {"role": "assistant", "content": "ok"}
        return Scripted.json(
            {
                "id": "c1",
                "object": "chat.completion",
                "model": "gpt-5",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        )
    if path.endswith("/messages"):
        return anthropic_answer("ok", stream=bool(request.json().get("stream")))
    return gemini_answer("ok", stream=":streamGenerateContent" in path)


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=answer) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(scripted: ScriptedServer) -> Iterator[RunningProxy]:
    providers = {
        "openai_chat": "openai",
        "anthropic": "anthropic",
        "gemini": "gemini",
        "openai_responses": "openai",
    }
    backends = {
        name: {
            "provider": providers[fmt],
            "base_url": scripted.url,
            "api_key": "test-key",
            "max_retries": 0,
        }
        for fmt, (name, _) in BACKENDS.items()
    }
    running = run_proxy(parse_config({"backends": backends}))
    yield running
    running.stop()


FRONTEND_PATHS = {
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
    "anthropic": "/v1/messages",
}


def send(
    proxy: RunningProxy, frontend: str, body: dict[str, Any], backend: str, **query: str
) -> httpx.Response:
    """`body` as a client of `frontend` sends it, routed to the backend of format
    `backend`; the whole answer read."""
    name, model = BACKENDS[backend]
    body = dict(body)
    if frontend == "gemini":
        stream = query.pop("stream", "") == "true"
        method = "streamGenerateContent" if stream else "generateContent"
        path = f"/v1beta/models/{name}/{model}:{method}"
        params = {"alt": "sse"} if stream and query.pop("sse", "true") == "true" else {}
    else:
        body["model"] = f"{name}/{model}"
        path = FRONTEND_PATHS[frontend]
        params = {}
    reply = httpx.post(proxy.url + path, json=body, params=params, timeout=20)
    reply.read()
    return reply


def received_by(
    scripted: ScriptedServer, send_it: Callable[[], httpx.Response]
) -> tuple[httpx.Response, Received | None]:
    """The proxy's answer and the request the backend got for it (`None`: none)."""
    before = len(scripted.received)
    reply = send_it()
    after = scripted.received[before:]
    assert len(after) <= 1, "the proxy sent the backend more than one request"
    return reply, after[0] if after else None


# --- full bodies -----------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((BODIES / f"{name}.json").read_text())
    return body


def without_parts(body: dict[str, Any], *where: tuple[int, int]) -> dict[str, Any]:
    """`body` without the content parts at `(message, part)` positions (a copy)."""
    copy = json.loads(json.dumps(body))
    key, parts_key = ("contents", "parts") if "contents" in copy else ("messages", "content")
    for message, part in sorted(where, reverse=True):
        del copy[key][message][parts_key][part]
    return copy


# (body file, frontend, request query, variant) -> per backend format: "golden" or a 400's text
CASES: list[tuple[str, str, dict[str, str], dict[str, str]]] = [
    ("anthropic_agent_stream", "anthropic", {}, dict.fromkeys(FORMATS, "golden")),
    (
        "anthropic_ga_nonstream",
        "anthropic",
        {},
        {
            "anthropic": "golden",
            "openai_chat": "Anthropic Files API id (file_011CNha8iCJcU1wXNR6q4V8w)",
            "gemini": "Anthropic Files API id (file_011CNha8iCJcU1wXNR6q4V8w)",
        },
    ),
    ("anthropic_interleaved_prefill_stream", "anthropic", {}, dict.fromkeys(FORMATS, "golden")),
    ("openai_agent_stream", "openai_chat", {}, dict.fromkeys(FORMATS, "golden")),
    (
        "openai_all_fields_nonstream",
        "openai_chat",
        {},
        {
            "openai_chat": "golden",
            "gemini": "OpenAI file id (file-6F2ksmvXxt4VdoqmHRw6kL)",
            "anthropic": "OpenAI file id (file-6F2ksmvXxt4VdoqmHRw6kL)",
        },
    ),
    # codex 0.169's request (from a capture), with every tool kind and field it sends.
    ("openai_responses_codex_stream", "openai_responses", {}, dict.fromkeys(FORMATS, "golden")),
    (
        "gemini_agent_stream",
        "gemini",
        {"stream": "true"},
        {
            "gemini": "golden",
            "anthropic": "files/ci-report-8812 is readable only with Gemini's key",
            "openai_chat": "files/ci-report-8812 is readable only with Gemini's key",
        },
    ),
    (
        "gemini_all_fields_nonstream",
        "gemini",
        {},
        {
            "gemini": "golden",
            "anthropic": "Anthropic does not accept audio input",
            "openai_chat": "chat completions cannot send video content this way",
        },
    ),
    (
        "gemini_cached_snake_array_stream",
        "gemini",
        {"stream": "true", "sse": "false"},
        {
            "gemini": "golden",
            "anthropic": "cachedContent: cachedContents/handbook-v7-abc123",
            "openai_chat": "cachedContent: cachedContents/handbook-v7-abc123",
        },
    ),
]

# The same bodies without the parts only their own format can take, for the others.
PORTABLE: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], dict[str, str]]] = {
    # The two blocks given by Anthropic file id; the PDF by URL stays (Gemini fetches it,
    # chat completions cannot take a file by URL).
    "anthropic_ga_portable": (
        "anthropic_ga_nonstream",
        lambda body: without_parts(body, (0, 2), (0, 5)),
        {
            "gemini": "golden",
            "openai_chat": "chat completions accept files inline or by id, not by URL",
        },
    ),
    # The PDF given by OpenAI file id; the input_audio part (Anthropic takes no audio).
    "openai_all_fields_portable": (
        "openai_all_fields_nonstream",
        lambda body: without_parts(body, (2, 3)),
        {"gemini": "golden", "anthropic": "Anthropic does not accept audio input"},
    ),
    "openai_all_fields_text_and_image": (
        "openai_all_fields_nonstream",
        lambda body: without_parts(body, (2, 1), (2, 3)),
        {"anthropic": "golden"},
    ),
    # The Files API PDF.
    "gemini_agent_portable": (
        "gemini_agent_stream",
        lambda body: without_parts(body, (0, 3)),
        {"anthropic": "golden", "openai_chat": "golden"},
    ),
    # The audio and the YouTube video.
    "gemini_all_fields_portable": (
        "gemini_all_fields_nonstream",
        lambda body: without_parts(body, (0, 1), (0, 2)),
        {"anthropic": "golden", "openai_chat": "golden"},
    ),
}

# Everything a backend of the client's own format gets otherwise than the client sent it
# (besides the model, which is the routed backend's): `diff(sent, received)` paths, each
# with why it is not a loss.
SAME_FORMAT_CHANGES: dict[str, set[str]] = {
    "anthropic_agent_stream": {
        "- $.messages[5].content[0].is_error",  # `false`, the default
    },
    "anthropic_ga_nonstream": {"- $.stream"},  # `stream: false`, the default
    "anthropic_interleaved_prefill_stream": {
        "~ $.messages[5].content",  # a string prefill sent as one text block
    },
    "openai_agent_stream": {
        "- $.max_completion_tokens",  # the provider's field for the limit:
        "+ $.max_tokens",  # an OpenAI-compatible server reads max_tokens
        "- $.stream_options.include_obfuscation",  # not relayed
        "~ $.messages[4].content",  # text parts sent as one string
        "~ $.messages[10].content",
    },
    "openai_all_fields_nonstream": {
        "- $.max_completion_tokens",
        "- $.stream",
        "- $.n",  # 1, the default
        "- $.audio",  # audio output is not relayed (the answer is text)
        "~ $.messages[0].content",  # text parts sent as one string
        "~ $.messages[1].content",
        "~ $.messages[5].content",
        "- $.messages[5].refusal",  # null
        "- $.messages[5].audio",  # an earlier audio answer: not relayed
        "~ $.messages[10].content",  # a refusal part: not relayed
        # Legacy functions: the call and its result as a tool call and a tool message.
        "- $.messages[3].function_call",
        "+ $.messages[3].tool_calls",
        "~ $.messages[4].role",
        "- $.messages[4].name",
        "+ $.messages[4].tool_call_id",
        "~ $.tools",  # `functions` appended as tools
        "- $.functions",
        "- $.function_call",
    },
    "gemini_agent_stream": {"+ $.generationConfig.candidateCount"},  # 1, the default
    "gemini_all_fields_nonstream": set(),
    "gemini_cached_snake_array_stream": {
        # snake_case field names spelled in camelCase (the API takes both)
        "- $.cached_content",
        "+ $.cachedContent",
        "- $.safety_settings",
        "+ $.safetySettings",
        "- $.generation_config",  # `response_mime_type: text/plain` is the default
        "+ $.generationConfig",
    },
}


def diff(sent: Any, received: Any, path: str = "$") -> set[str]:
    """Where `received` differs from `sent`: `- path` missing, `+ path` added, `~ path`
    changed (a list of another length or a changed value)."""
    if isinstance(sent, dict) and isinstance(received, dict):
        found = {f"- {path}.{k}" for k in sent.keys() - received.keys()}
        found |= {f"+ {path}.{k}" for k in received.keys() - sent.keys()}
        for key in sent.keys() & received.keys():
            found |= diff(sent[key], received[key], f"{path}.{key}")
        return found
    if isinstance(sent, list) and isinstance(received, list) and len(sent) == len(received):
        return {
            d
            for i, (a, b) in enumerate(zip(sent, received, strict=True))
            for d in diff(a, b, f"{path}[{i}]")
        }
    return set() if sent == received else {f"~ {path}"}


def check_golden(name: str, backend: str, received: Received) -> None:
    golden = EXPECTED / f"{name}.{backend}.json"
    got = {"path": received.path, "body": received.json()}
    if UPDATE:
        EXPECTED.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(golden.read_text())


@pytest.mark.parametrize("backend", FORMATS)
@pytest.mark.parametrize(
    ("name", "frontend", "query", "outcomes"), CASES, ids=[c[0] for c in CASES]
)
def test_a_full_client_body_reaches_each_backend_format_exactly(
    proxy: RunningProxy,
    scripted: ScriptedServer,
    name: str,
    frontend: str,
    query: dict[str, str],
    outcomes: dict[str, str],
    backend: str,
) -> None:
    body = load(name)
    received = check_outcome(
        proxy, scripted, name, frontend, body, query, outcomes[backend], backend
    )
    if received is not None and backend == frontend:
        sent = dict(body)
        if frontend != "gemini":
            sent["model"] = BACKENDS[backend][1]
        assert diff(sent, received.json()) == SAME_FORMAT_CHANGES[name]


def test_a_codex_body_reaches_a_responses_backend(
    proxy: RunningProxy, scripted: ScriptedServer
) -> None:
    """codex's request to an `openai` backend serving a Responses-only model: the backend
    gets `/v1/responses` (not chat completions) with everything its format carries as
    codex sent it: the reasoning item with OpenAI's own `encrypted_content` in place
    (with the call item id it pairs with), hosted tools (`web_search`, `tool_search`),
    `prompt_cache_key`, `text.verbosity` and `client_metadata`. What differs is only what
    the proxy maps for every backend: system and developer turns join `instructions`,
    namespaced and custom tools become flat functions, and the history is rebuilt around
    them (ids of items this proxy cannot tell from its own are not sent)."""
    name = "openai_responses_codex_stream"
    body = load(name)
    received = check_outcome(
        proxy, scripted, name, "openai_responses", body, {}, "golden", "openai_responses"
    )
    assert received is not None
    sent = received.json()
    assert diff({**body, "model": "gpt-5-codex"}, sent) == {
        "~ $.input",
        "~ $.instructions",
        "~ $.tools",
    }
    reasoning = next(item for item in body["input"] if item["type"] == "reasoning")
    position = sent["input"].index(reasoning)
    assert sent["input"][position + 1]["id"] == "fc_fc76c827d95e45c896529863deb6e355"
    assert sent["tools"][-2:] == body["tools"][-2:]  # tool_search, web_search


@pytest.mark.parametrize(
    ("name", "backend"), [(n, b) for n, (_, _, outcomes) in PORTABLE.items() for b in outcomes]
)
def test_a_portable_body_reaches_the_other_formats_exactly(
    proxy: RunningProxy, scripted: ScriptedServer, name: str, backend: str
) -> None:
    source, strip, outcomes = PORTABLE[name]
    frontend, query = next((c[1], c[2]) for c in CASES if c[0] == source)
    body = strip(load(source))
    check_outcome(proxy, scripted, name, frontend, body, query, outcomes[backend], backend)


def check_outcome(
    proxy: RunningProxy,
    scripted: ScriptedServer,
    name: str,
    frontend: str,
    body: dict[str, Any],
    query: dict[str, str],
    outcome: str,
    backend: str,
) -> Received | None:
    """Send `body`; check the backend got its golden body, or the client a 400 saying
    `outcome` (and the backend nothing). The backend's request, if any."""
    reply, received = received_by(scripted, lambda: send(proxy, frontend, body, backend, **query))
    if outcome != "golden":
        assert reply.status_code == 400, reply.text
        assert outcome in reply.text
        assert received is None  # nothing half-understood was sent
        return None
    assert reply.status_code == 200, reply.text
    assert received is not None
    check_golden(name, backend, received)
    return received


# --- the valid requests that failed (issue 12's failure list, A to D) -------------------------

ANTHROPIC_BASE: dict[str, Any] = {
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "hi"}],
}
OPENAI_BASE: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
GEMINI_BASE: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def through(
    proxy: RunningProxy, scripted: ScriptedServer, frontend: str, backend: str, **fields: Any
) -> tuple[httpx.Response, dict[str, Any]]:
    """A small request of `frontend` with `fields`, sent to a backend of format `backend`:
    the client's answer (checked 200) and what the backend got."""
    base = {"anthropic": ANTHROPIC_BASE, "openai_chat": OPENAI_BASE, "gemini": GEMINI_BASE}
    reply, received = received_by(
        scripted, lambda: send(proxy, frontend, {**base[frontend], **fields}, backend)
    )
    assert reply.status_code == 200, reply.text
    assert received is not None
    return reply, received.json()


def refused(
    proxy: RunningProxy, scripted: ScriptedServer, frontend: str, backend: str, **fields: Any
) -> str:
    """The 400 message for a request the backend's format cannot take (nothing sent)."""
    base = {"anthropic": ANTHROPIC_BASE, "openai_chat": OPENAI_BASE, "gemini": GEMINI_BASE}
    reply, received = received_by(
        scripted, lambda: send(proxy, frontend, {**base[frontend], **fields}, backend)
    )
    assert reply.status_code == 400, reply.text
    assert received is None
    error = reply.json()
    message: str = error["error"]["message"]
    # In the client's own error format.
    if frontend == "anthropic":
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    elif frontend == "gemini":
        assert error["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert error["error"]["type"] == "invalid_request_error"
    return message


@pytest.mark.parametrize("backend", FORMATS)
def test_a1_system_turns_anywhere_in_anthropic_messages(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """A1: Claude Code sends a `role: system` turn after the first user turn (was 400
    "messages[1].role must be 'user' or 'assistant'"). It stays in place for Anthropic
    and joins the system text, one block a line, for the others."""
    messages = [
        {"role": "user", "content": "Fix the test."},
        {"role": "system", "content": "Auto-accept is on."},
        {"role": "assistant", "content": "On it."},
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "Go."},
    ]
    system = [{"type": "text", "text": "You are Forge."}, {"type": "text", "text": "Rules."}]
    _, sent = through(proxy, scripted, "anthropic", backend, system=system, messages=messages)
    if backend == "anthropic":
        on_it = {"role": "assistant", "content": [{"type": "text", "text": "On it."}]}
        assert (sent["system"], sent["messages"]) == (system, [*messages[:2], on_it, *messages[3:]])
    elif backend == "openai_chat":
        assert sent["messages"][0] == {
            "role": "system",
            "content": "You are Forge.\nRules.\nAuto-accept is on.\nBe brief.",
        }
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    else:
        assert sent["systemInstruction"] == {
            "parts": [{"text": "You are Forge.\nRules.\nAuto-accept is on.\nBe brief."}]
        }
        assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]


def test_a1_a_system_turn_cleared_at_the_next_user_turn_is_left_out_elsewhere(
    proxy: RunningProxy, scripted: ScriptedServer
) -> None:
    messages = [
        {"role": "user", "content": "a"},
        {
            "role": "system",
            "content": "Only until the next user turn.",
            "clear_at": "next_user_message",
        },
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "system", "content": "Still here.", "clear_at": "next_user_message"},
    ]
    _, sent = through(proxy, scripted, "anthropic", "openai_chat", messages=messages)
    assert sent["messages"][0] == {"role": "system", "content": "Still here."}
    _, sent = through(proxy, scripted, "anthropic", "anthropic", messages=messages)
    b = {"role": "assistant", "content": [{"type": "text", "text": "b"}]}
    assert sent["messages"] == [*messages[:2], b, *messages[3:]]


@pytest.mark.parametrize("backend", FORMATS)
def test_a2_max_tokens_zero_warms_the_cache_and_answers_without_content(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """A2: `max_tokens: 0` (Anthropic's prompt-cache warm-up) was a 400."""
    reply, sent = through(proxy, scripted, "anthropic", backend, max_tokens=0)
    if backend == "gemini":
        assert sent["generationConfig"]["maxOutputTokens"] == 1
    else:  # Anthropic warms its cache; the others are asked for one (unseen) token
        assert sent["max_tokens"] == (0 if backend == "anthropic" else 1)
    message = reply.json()
    assert message["content"] == [] and message["stop_reason"] == "max_tokens"


@pytest.mark.parametrize("backend", FORMATS)
def test_a3_between_tools_thinking(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """A3: `thinking: {"type": "between_tools"}` was a 400 ("unsupported thinking type")."""
    _, sent = through(proxy, scripted, "anthropic", backend, thinking={"type": "between_tools"})
    if backend == "anthropic":
        assert sent["thinking"] == {"type": "between_tools"}
    elif backend == "openai_chat":
        assert sent["reasoning_effort"] == "high"
    else:
        assert sent["generationConfig"]["thinkingConfig"]["thinkingLevel"] == "HIGH"


def test_a4_n_null_and_n_1_are_one_choice_and_n_2_is_refused(
    proxy: RunningProxy, scripted: ScriptedServer
) -> None:
    """A4: `n: null` was a 400 ("only n=1 is supported"); A8: n=2 stays refused (the
    answer has one choice)."""
    for n in (None, 1):
        through(proxy, scripted, "openai_chat", "anthropic", n=n)
    reply, received = received_by(
        scripted, lambda: send(proxy, "openai_chat", {**OPENAI_BASE, "n": 2}, "anthropic")
    )
    assert reply.status_code == 400 and "only n=1" in reply.text and received is None


CUSTOM_TOOL = {
    "type": "custom",
    "custom": {
        "name": "apply_patch",
        "description": "Apply a patch.",
        "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}},
    },
}
FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("backend", FORMATS)
def test_a5_custom_tool_choice(proxy: RunningProxy, scripted: ScriptedServer, backend: str) -> None:
    """A5: `tool_choice: {"type": "custom", ...}` was a 400; D3: the custom tool itself went
    verbatim to Anthropic and Gemini, which reject it."""
    choice = {"type": "custom", "custom": {"name": "apply_patch"}}
    _, sent = through(
        proxy,
        scripted,
        "openai_chat",
        backend,
        tools=[CUSTOM_TOOL, FUNCTION_TOOL],
        tool_choice=choice,
    )
    if backend == "openai_chat":
        assert (sent["tools"], sent["tool_choice"]) == ([CUSTOM_TOOL, FUNCTION_TOOL], choice)
    elif backend == "anthropic":
        assert sent["tool_choice"] == {"type": "tool", "name": "apply_patch"}
        assert sent["tools"][0]["name"] == "apply_patch"
        assert sent["tools"][0]["input_schema"]["properties"]["input"]["type"] == "string"
        assert (
            "start: /.+/" in sent["tools"][0]["input_schema"]["properties"]["input"]["description"]
        )
    else:
        assert sent["toolConfig"] == {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["apply_patch"]}
        }
        names = [d["name"] for d in sent["tools"][0]["functionDeclarations"]]
        assert names == ["apply_patch", "read_file"]


@pytest.mark.parametrize("backend", FORMATS)
def test_a6_allowed_tools(proxy: RunningProxy, scripted: ScriptedServer, backend: str) -> None:
    """A6: `tool_choice: {"type": "allowed_tools", ...}` was a 400. OpenAI gets it as sent;
    the others get the allowed tools only, under its mode."""
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "read_file"}}],
        },
    }
    _, sent = through(
        proxy,
        scripted,
        "openai_chat",
        backend,
        tools=[CUSTOM_TOOL, FUNCTION_TOOL],
        tool_choice=choice,
    )
    if backend == "openai_chat":
        assert (sent["tools"], sent["tool_choice"]) == ([CUSTOM_TOOL, FUNCTION_TOOL], choice)
    elif backend == "anthropic":
        assert [t["name"] for t in sent["tools"]] == ["read_file"]
        assert sent["tool_choice"] == {"type": "any"}
    else:
        assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["read_file"]
        assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@pytest.mark.parametrize(
    "instruction",
    [
        {"role": "system"},
        {"parts": None},
        {"role": "user", "parts": [{"text": "Be brief."}]},
        {"parts": {"text": "Be brief."}},
        "Be brief.",
        ["Be brief."],
        {"text": "Be brief."},
    ],
)
@pytest.mark.parametrize("backend", ["anthropic", "gemini"])
def test_a7_system_instruction_in_every_shape(
    proxy: RunningProxy, scripted: ScriptedServer, instruction: Any, backend: str
) -> None:
    """A7: a `systemInstruction` without `parts` (optional in the type) was a 400; the SDKs'
    shorthands (a string, a part, a list) are the same instruction."""
    _, sent = through(proxy, scripted, "gemini", backend, systemInstruction=instruction)
    empty = instruction in ({"role": "system"}, {"parts": None})
    if backend == "anthropic":
        assert sent.get("system") == (None if empty else "Be brief.")
    elif isinstance(instruction, dict) and "text" not in instruction:
        assert sent.get("systemInstruction") == instruction  # a Gemini backend: as sent
    else:
        assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def test_b1_tool_call_arguments_sent_as_an_object(
    proxy: RunningProxy, scripted: ScriptedServer
) -> None:
    """B1: Ollama-style clients send `arguments` as an object (was a 500 at 6ded1e4)."""
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    _, sent = through(proxy, scripted, "openai_chat", "anthropic", messages=messages)
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}}
    ]


@pytest.mark.parametrize("backend", ["anthropic", "gemini"])
def test_c1_c2_json_mode_without_a_backend_json_mode_is_asked_for_in_words(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """C1/C2: `json_object` (and `json_schema` without a schema) to an Anthropic backend
    was a 502 ("Anthropic has no JSON mode"). Anthropic gets the request in words; Gemini
    has a JSON mode."""
    for response_format in (
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "answer"}},
    ):
        system = {"role": "system", "content": "Be brief."}
        _, sent = through(
            proxy,
            scripted,
            "openai_chat",
            backend,
            messages=[system, *OPENAI_BASE["messages"]],
            response_format=response_format,
        )
        if backend == "anthropic":
            assert sent["system"] == "Be brief.\nAnswer with one JSON object and nothing else."
            assert "output_config" not in sent
        else:
            assert sent["generationConfig"]["responseMimeType"] == "application/json"


def user_turn(*blocks: dict[str, Any]) -> dict[str, Any]:
    """`messages` with one user turn of `blocks` (Anthropic and OpenAI shape)."""
    return {"messages": [{"role": "user", "content": list(blocks)}]}


def gemini_turn(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": list(parts)}]}


@pytest.mark.parametrize(
    ("frontend", "backend", "fields", "message"),
    [
        (  # C3
            "openai_chat",
            "anthropic",
            user_turn(
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
            ),
            "Anthropic does not accept audio input",
        ),
        (  # C3
            "gemini",
            "anthropic",
            gemini_turn({"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}),
            "Anthropic does not accept video input",
        ),
        (  # C4
            "anthropic",
            "openai_chat",
            user_turn(
                {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
            ),
            "chat completions accept files inline or by id, not by URL",
        ),
        (  # C5
            "gemini",
            "openai_chat",
            gemini_turn({"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}),
            "chat completions cannot send video content this way",
        ),
    ],
)
def test_c3_c5_what_a_backend_format_cannot_take_is_a_400_not_a_502(
    proxy: RunningProxy,
    scripted: ScriptedServer,
    frontend: str,
    backend: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    """C3-C5: the request's own content, which the backend's format cannot carry, was
    reported as the backend's failure (502)."""
    assert message in refused(proxy, scripted, frontend, backend, **fields)


CUSTOM_HISTORY = [
    {"role": "user", "content": "patch it"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_02",
                "type": "custom",
                "custom": {"name": "apply_patch", "input": "*** Begin"},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_02", "content": "Done."},
]


@pytest.mark.parametrize("backend", FORMATS)
def test_c6_d8_a_custom_tool_call_in_the_history(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """C6: a custom call and its result made the Gemini encoding fail (502); D8: to an
    OpenAI backend the call was silently rewritten as an empty function call."""
    _, sent = through(
        proxy, scripted, "openai_chat", backend, messages=CUSTOM_HISTORY, tools=[CUSTOM_TOOL]
    )
    if backend == "openai_chat":
        assert sent["messages"][1]["tool_calls"] == CUSTOM_HISTORY[1]["tool_calls"]
    elif backend == "anthropic":
        assert sent["messages"][1]["content"] == [
            {
                "type": "tool_use",
                "id": "call_02",
                "name": "apply_patch",
                "input": {"input": "*** Begin"},
            }
        ]
    else:
        assert sent["contents"][1]["parts"] == [
            {"functionCall": {"name": "apply_patch", "args": {"input": "*** Begin"}}}
        ]
        assert sent["contents"][2]["parts"] == [
            {"functionResponse": {"name": "apply_patch", "response": {"output": "Done."}}}
        ]


LEGACY_HISTORY = [
    {"role": "user", "content": "read the notes"},
    {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "read_file", "arguments": '{"path": "n.md"}'},
    },
    {"role": "function", "name": "read_file", "content": "ship Friday"},
]
LEGACY_FUNCTION = {
    "name": "read_file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
}


@pytest.mark.parametrize("backend", FORMATS)
def test_c7_d4_legacy_functions(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """C7: a `function_call` + `role: function` history was a 502 for Anthropic ("cannot
    send a ChatMessage"); D4: to an OpenAI backend the function message lost its name."""
    _, sent = through(
        proxy,
        scripted,
        "openai_chat",
        backend,
        messages=LEGACY_HISTORY,
        functions=[LEGACY_FUNCTION],
        function_call="auto",
    )
    if backend == "openai_chat":
        assert sent["messages"][1:] == [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_fn_1",
                        "type": "function",
                        "function": LEGACY_HISTORY[1]["function_call"],
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_fn_1", "content": "ship Friday"},
        ]
        assert sent["tools"] == [{"type": "function", "function": LEGACY_FUNCTION}]
        assert sent["tool_choice"] == "auto"
    elif backend == "anthropic":
        assert sent["messages"][1:] == [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_fn_1",
                        "name": "read_file",
                        "input": {"path": "n.md"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_fn_1", "content": "ship Friday"}
                ],
            },
        ]
    else:
        assert sent["contents"][2]["parts"] == [
            {"functionResponse": {"name": "read_file", "response": {"output": "ship Friday"}}}
        ]


@pytest.mark.parametrize("backend", ["openai_chat", "gemini"])
def test_d1_d2_d5_anthropic_only_tools_and_blocks_never_reach_other_formats(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """D1: server tools went verbatim into other formats' `tools`; D2/D5: text documents
    and search results went to OpenAI as raw (invalid) parts and vanished for Gemini."""
    blocks = [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "log line"},
            "title": "ci.txt",
        },
        {
            "type": "search_result",
            "source": "https://w.test",
            "title": "Runbook",
            "content": [{"type": "text", "text": "Flush it."}],
        },
        {"type": "container_upload", "file_id": "file_1"},
    ]
    _, sent = through(
        proxy,
        scripted,
        "anthropic",
        backend,
        messages=[{"role": "user", "content": blocks}],
        tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}],
    )
    texts = [
        '<document title="ci.txt">\nlog line\n</document>',
        '<search_result source="https://w.test" title="Runbook">\nFlush it.\n</search_result>',
    ]
    if backend == "openai_chat":
        assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
        assert sent["messages"] == [{"role": "user", "content": "\n".join(texts)}]
    else:
        assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["get_weather"]
        assert len(sent["tools"]) == 1
        assert sent["contents"] == [{"role": "user", "parts": [{"text": t} for t in texts]}]


def test_d6_a_gemini_thought_signature_never_becomes_an_anthropic_signature(
    proxy: RunningProxy, scripted: ScriptedServer
) -> None:
    """D6: a Gemini thought part's signature reached Anthropic as a `thinking` block
    signature, which Anthropic rejects."""
    contents = [
        {"role": "user", "parts": [{"text": "hi"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Thinking...", "thought": True, "thoughtSignature": "R1NJRw=="},
                {"text": "Hello."},
            ],
        },
        {"role": "user", "parts": [{"text": "more"}]},
    ]
    _, sent = through(proxy, scripted, "gemini", "anthropic", contents=contents)
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello."}],
    }


def test_d7_the_top_effort_is_geminis_xhigh(proxy: RunningProxy, scripted: ScriptedServer) -> None:
    """D7: `reasoning_effort: "max"` became `thinkingLevel: "MAX"`, not a Gemini level."""
    _, sent = through(proxy, scripted, "openai_chat", "gemini", reasoning_effort="max")
    assert sent["generationConfig"]["thinkingConfig"]["thinkingLevel"] == "XHIGH"


@pytest.mark.parametrize("backend", ["anthropic", "openai_chat"])
def test_gemini_cached_content_and_other_modalities_need_a_gemini_backend(
    proxy: RunningProxy, scripted: ScriptedServer, backend: str
) -> None:
    """Another backend would answer without the cached prompt, or in text instead of an
    image: a 400 naming the field, not a silently different answer."""
    message = refused(proxy, scripted, "gemini", backend, cachedContent="cachedContents/abc")
    assert "cachedContent: cachedContents/abc" in message
    message = refused(
        proxy,
        scripted,
        "gemini",
        backend,
        generationConfig={"responseModalities": ["TEXT", "IMAGE"]},
    )
    assert "an answer in IMAGE" in message


def test_what_another_format_does_not_get_is_named_in_a_debug_line(
    proxy: RunningProxy, scripted: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="langchain_bhumi.proxy"):
        through(
            proxy,
            scripted,
            "anthropic",
            "openai_chat",
            metadata={"user_id": "u1"},
            context_management={"edits": []},
            tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}],
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "langchain_bhumi.proxy"]
    dropped = next(line for line in lines if "not sent" in line)
    for name in ("metadata", "context_management", "web_search_20250305"):
        assert name in dropped


# --- answers in the shape the request asked for --------------------------------------------


def sse_data(reply: httpx.Response) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for line in reply.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def tool_call_answer(name: str, args: dict[str, Any], *, stream: bool) -> Scripted:
    """An Anthropic backend's answer that calls `name` (streamed or whole)."""
    return anthropic_answer("", (("toolu_1", name, args),), stream=stream)


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_to_a_custom_tool_goes_back_as_a_custom_call(
    proxy: RunningProxy, scripted: ScriptedServer, stream: bool
) -> None:
    """A backend of another format calls the custom tool as a function with `input`; the
    OpenAI client gets the custom call it declared, whole."""
    patch = "*** Begin Patch\n*** End Patch\n"
    scripted.enqueue(tool_call_answer("apply_patch", {"input": patch}, stream=stream))
    body = {**OPENAI_BASE, "tools": [CUSTOM_TOOL, FUNCTION_TOOL], "stream": stream}
    reply = send(proxy, "openai_chat", body, "anthropic")
    assert reply.status_code == 200, reply.text
    custom = {"id": "toolu_1", "type": "custom", "custom": {"name": "apply_patch", "input": patch}}
    if stream:
        chunks = sse_data(reply)
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        calls = [d["tool_calls"] for d in deltas if "tool_calls" in d]
        assert calls == [[{"index": 0, **custom}]]
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    else:
        choice = reply.json()["choices"][0]
        assert choice["message"]["tool_calls"] == [custom]
        assert choice["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_a_legacy_functions_request_gets_a_function_call(
    proxy: RunningProxy, scripted: ScriptedServer, stream: bool
) -> None:
    args = {"path": "n.md"}
    scripted.enqueue(tool_call_answer("read_file", args, stream=stream))
    body = {**OPENAI_BASE, "functions": [LEGACY_FUNCTION], "stream": stream}
    reply = send(proxy, "openai_chat", body, "anthropic")
    assert reply.status_code == 200, reply.text
    if stream:
        chunks = sse_data(reply)
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        calls = [d["function_call"] for d in deltas if "function_call" in d]
        assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("read_file", args)]
        assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"
    else:
        choice = reply.json()["choices"][0]
        call = choice["message"]["function_call"]
        assert (call["name"], json.loads(call["arguments"])) == ("read_file", args)
        assert "tool_calls" not in choice["message"]
        assert choice["finish_reason"] == "function_call"


def test_a_cache_warm_up_stream_has_no_content(
    proxy: RunningProxy, scripted: ScriptedServer
) -> None:
    """`max_tokens: 0` to a backend without a cache to warm: it is asked for one token,
    which the client never sees."""
    reply = send(proxy, "anthropic", {**ANTHROPIC_BASE, "max_tokens": 0, "stream": True}, "gemini")
    assert reply.status_code == 200
    events = [e["type"] for e in sse_data(reply)]
    assert "content_block_start" not in events and "content_block_delta" not in events
    delta = next(e for e in sse_data(reply) if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "max_tokens"


# --- the token-count endpoints: same body handling as the chat routes (issue 12, point 4) ---


@pytest.fixture
def small_proxy(
    scripted: ScriptedServer, start_proxy: Callable[[ProxyConfig], RunningProxy]
) -> RunningProxy:
    """A proxy with a 2,000-byte body limit and a proxy key."""
    config = parse_config(
        {
            "backends": {
                "ant": {"provider": "anthropic", "base_url": scripted.url, "api_key": "k"}
            },
            "server": {"max_body_bytes": 2000, "proxy_keys": ["proxy-key-123"]},
        }
    )
    return start_proxy(config)


COUNT_ROUTES = {
    "anthropic": "/v1/messages/count_tokens",
    "gemini": "/v1beta/models/gemini-2.5-flash:countTokens",
}
KEY = {"x-api-key": "proxy-key-123"}


@pytest.mark.parametrize("frontend", list(COUNT_ROUTES))
def test_count_tokens_reads_the_body_like_every_other_route(
    small_proxy: RunningProxy, frontend: str
) -> None:
    url = small_proxy.url + COUNT_ROUTES[frontend]
    body = ANTHROPIC_BASE if frontend == "anthropic" else GEMINI_BASE

    def post(content: bytes, **headers: str) -> httpx.Response:
        kind = {"content-type": "application/json"}
        return httpx.post(url, content=content, headers={**kind, **headers}, timeout=10)

    def error_of(reply: httpx.Response) -> str:
        assert reply.headers["content-type"] == "application/json"
        error = reply.json()
        if frontend == "anthropic":
            assert error["type"] == "error"
        else:
            assert error["error"]["code"] == reply.status_code
        message: str = error["error"]["message"]
        return message

    counted = post(json.dumps(body).encode(), **KEY)
    assert counted.status_code == 200
    assert next(iter(counted.json().values())) > 0
    malformed = post(b'{"messages": [', **KEY)  # was a 500 text/plain with a traceback
    assert malformed.status_code == 400
    assert "not valid JSON" in error_of(malformed)
    listed = post(b'["not", "a", "request"]', **KEY)  # was counted
    assert listed.status_code == 400
    assert "must be a JSON object" in error_of(listed)
    large = post(json.dumps({**body, "pad": "x" * 3000}).encode(), **KEY)  # was accepted
    assert large.status_code == 413
    assert "larger than 2000 bytes" in error_of(large)
    keyless = post(json.dumps(body).encode())  # the proxy key applies here too
    assert keyless.status_code == 401
    assert "proxy key" in error_of(keyless)
