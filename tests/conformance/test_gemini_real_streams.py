"""Conformance: every recorded Gemini exchange, replayed byte for byte.

Each exchange in `../shared/real-streams` with `api_family == "gemini"` is served by the
loopback `ScriptedServer`, its body cut at random byte offsets (seeded by the exchange
name and mode, so a failure reproduces), and read through `ChatBhumi`: bodies recorded
from `streamGenerateContent` (SSE, or the JSON array sent without `alt=sse`) through
`stream`, `astream`, `invoke(streaming=True)` and `ainvoke(streaming=True)`; bodies from
`generateContent` through `invoke` and `ainvoke`. The result is compared with an
independent reading of the same bytes (`tests/conformance/_gemini_reference.py`): text,
reasoning, tool calls (name, arguments, Gemini's own ids), thought signatures, usage,
finish reason, model name and response id, plus the streaming contract.

Exchanges recorded on Vertex AI are replayed through the `vertex` provider with the
recorded project base URL, and the request path must be the recorded one.

Multi-round exchanges (functionCall -> functionResponse -> text) are replayed as a
conversation: round 2's request is built from round 1's recorded request, the message
ChatBhumi decoded from round 1's response, and the recorded tool results, and must match
the recorded round-2 request (roles, parts, call/result pairing, ids Gemini gave, thought
signatures, tools, generation config).

The folder is found next to the repository (`../shared/real-streams`) or through
`$BHUMI_REAL_STREAMS`; without it only the synthetic streams (`synthetic/`) are replayed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi import (
    BadRequestError,
    BhumiError,
    ChatBhumi,
    ProviderHTTPError,
    RateLimitError,
)
from tests.conformance._gemini_reference import (
    TYPE_NUMBERS,
    Exchange,
    Expected,
    camel_fields,
    chunks_of,
    expected_error,
    expected_for,
    load_exchanges,
    signature_bytes,
)
from tests.conformance._modes import Format, check_stream_contract
from tests.conformance._reference import ENV_VAR, streams_root
from tests.conformance._replay import (
    aggregate,
    by_outcome,
    cut_by_seed,
    params,
    recordings_only,
    serve_parts,
)
from tests.support.server import ScriptedServer

ROOT = streams_root()
RECORDINGS_ONLY = recordings_only(ROOT, ENV_VAR)

EXCHANGES = load_exchanges(ROOT)
STREAMED, WHOLE, FAILED = by_outcome(EXCHANGES, streamed=lambda e: e.streamed)

API_KEY = "AIza-test-conformance-0000"
STATUS_CLASSES: dict[int, type[ProviderHTTPError]] = {400: BadRequestError, 429: RateLimitError}

# Exchanges whose recording forces a deliberate reading, and why. Nothing is skipped.
SPECIAL_CASES: dict[str, str] = {
    "gemini/langchaingo__testdata__TestGoogleAIWithStreaming__i0": (
        "JSON-array body (no alt=sse), `enum-encoding=int` (finishReason 1 = STOP), and the "
        "last chunk's promptTokenCount (8) is lower than the earlier ones (9): last wins"
    ),
    "gemini/langchaingo__testdata__TestGoogleAIToolCallResponse__i0": (
        "`enum-encoding=int` whole response; a call without thoughtSignature or id"
    ),
    "gemini/langchaingo__testdata__TestGoogleAIToolCallResponse__i1": (
        "JSON-array body (no alt=sse) with integer enums, round 2 of a tool round trip"
    ),
    "gemini/llm-gemini__test_gemini__test_tools__i0": (
        "JSON-array body (no alt=sse) with thought parts, a zero-argument call `args: {}`"
    ),
    "gemini/llm-gemini__test_gemini__test_tools_with_gemini_3_thought_signatures__i0": (
        "JSON-array body; the signed call is followed by an empty text part"
    ),
    "gemini/vercel-ai__google-stream-tool-call-arguments": (
        "Vertex AI streamed arguments: `partialArgs` + `willContinue`, strings in pieces, "
        "`functionCall: {}` closing each call; reframed as SSE by the dataset"
    ),
    "gemini/vercel-ai__google-stream-no-args-tool-call": (
        "a whole call without `args` (`{}`), then three calls with streamed arguments"
    ),
    "gemini/pydantic-ai__test_google__test_google_streaming_tool_call_thought_signature__i1": (
        "promptTokenCount jumps from 55 to 257 on the last chunk: cumulative, last wins"
    ),
    "gemini/vercel-ai__google-429-retry-info.response-json": (
        "429 with a google.rpc.RetryInfo detail: RateLimitError with retry_after 34.4 s "
        "(max_retries=0, so the test does not wait)"
    ),
    "gemini/otel-contrib__cassettes__test_generate_content_invalid_temperature__i0": (
        "400 INVALID_ARGUMENT from Vertex AI: BadRequestError with Google's message"
    ),
}


# --- helpers ----------------------------------------------------------------------------


def _vertex_prefix(exchange: Exchange) -> str | None:
    """`/v1/projects/.../publishers/google` for an exchange recorded on Vertex AI."""
    if "aiplatform" not in str(exchange.meta.get("host")):
        return None
    path = str(exchange.meta["endpoint_path"])
    return path[: path.index("/models/")]


def make_model(
    exchange: Exchange, server: ScriptedServer, *, streaming: bool, **options: Any
) -> ChatBhumi:
    """A ChatBhumi pointed at the loopback server, AI Studio or Vertex AI as recorded."""
    if exchange.status != 200:
        options["max_retries"] = 0
    if streaming:
        options["streaming"] = True
    prefix = _vertex_prefix(exchange)
    provider = "vertex" if prefix else "gemini"
    return ChatBhumi(
        model=f"{provider}/{exchange.model}",
        base_url=server.url + (prefix or ""),
        api_key=API_KEY,
        timeout=20,
        **options,
    )


def expected_path(exchange: Exchange, *, streaming: bool) -> str:
    prefix = _vertex_prefix(exchange) or "/v1beta"
    resource = exchange.model if "/" in exchange.model else f"models/{exchange.model}"
    method = "streamGenerateContent?alt=sse" if streaming else "generateContent"
    return f"{prefix}/{resource}:{method}"


def serve(exchange: Exchange, server: ScriptedServer, mode: str) -> None:
    """Queue the body cut for `mode`; the cuts depend only on the exchange name and mode."""
    serve_parts(server, exchange, cut_by_seed(f"{exchange.name}/{mode}", exchange.body))


# --- checks -----------------------------------------------------------------------------


def check_message(message: AIMessage, expected: Expected, exchange: Exchange) -> None:
    """The final message says what the recorded bytes say."""
    assert message.content == expected.text
    assert message.additional_kwargs.get("reasoning_content") == (expected.reasoning or None)
    assert message.invalid_tool_calls == []
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        (c.name, c.args) for c in expected.calls
    ]
    ids = [c["id"] for c in message.tool_calls]
    assert all(isinstance(i, str) and i for i in ids), ids
    assert len(set(ids)) == len(ids), ids
    extras = message.additional_kwargs.get("tool_call_extras") or {}
    for call, want in zip(message.tool_calls, expected.calls, strict=True):
        if want.native_id is not None:
            assert call["id"] == want.native_id
        signature = ((extras.get(call["id"]) or {}).get("google") or {}).get("thought_signature")
        assert signature == want.signature, call["name"]
    if expected.signature is None:
        assert "extra_content" not in message.additional_kwargs
    else:
        assert message.additional_kwargs["extra_content"] == {
            "google": {"thought_signature": expected.signature}
        }

    usage = expected.usage
    if usage is None:
        assert message.usage_metadata is None
    else:
        got = message.usage_metadata
        assert got is not None
        assert (got["input_tokens"], got["output_tokens"], got["total_tokens"]) == (
            usage["input_tokens"],
            usage["output_tokens"],
            usage["total_tokens"],
        )
        assert (got.get("output_token_details") or {}).get("reasoning") == usage.get("reasoning")
        assert (got.get("input_token_details") or {}).get("cache_read") == usage.get("cache_read")

    metadata = message.response_metadata
    assert metadata.get("finish_reason") == expected.finish_reason
    assert metadata.get("model_name") == (expected.model or exchange.model)
    assert metadata.get("finish_message") == expected.finish_message
    assert metadata.get("id") == expected.response_id


def check_chunks(chunks: list[AIMessageChunk], expected: Expected) -> None:
    """The streaming contract; usage once, on the last chunk; each call has its own
    index, in order."""
    announced = check_stream_contract(chunks)
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == (0 if expected.usage is None else 1)
    assert announced == list(range(len(expected.calls)))


def check_request(server: ScriptedServer, exchange: Exchange, streaming: bool) -> None:
    """One request, to the recorded endpoint, the key in a header and not in the URL."""
    assert len(server.received) == 1, [r.path for r in server.received]
    request = server.received[0]
    assert request.path == expected_path(exchange, streaming=streaming)
    assert request.headers["x-goog-api-key"] == API_KEY
    assert API_KEY not in request.path
    assert request.json()["contents"][0]["role"] == "user"


def check_http_error(error: BhumiError | None, exchange: Exchange, server: ScriptedServer) -> None:
    """The typed error carries the status, Google's status word, message and retry delay."""
    assert isinstance(error, ProviderHTTPError), repr(error)
    want = expected_error(exchange)
    assert isinstance(error, STATUS_CLASSES[exchange.status]), type(error)
    assert error.status_code == exchange.status
    assert error.error_type == want.status
    assert want.message in str(error)
    assert error.retry_after == want.retry_after
    assert API_KEY not in str(error)


FORMAT = Format(
    serve=serve,
    make_model=make_model,
    expected_for=expected_for,
    check_failure=check_http_error,
    check_request=check_request,
    check_chunks=check_chunks,
    check_message=check_message,
    invoke_streams=lambda exchange: exchange.streamed,
)


# --- replay -----------------------------------------------------------------------------

test_stream, test_astream, test_invoke, test_ainvoke = FORMAT.tests(
    streamed=params(STREAMED + FAILED, id_of=lambda e: e.folder),
    every=params(EXCHANGES, id_of=lambda e: e.folder),
)


@RECORDINGS_ONLY
def test_selection_is_complete() -> None:
    """Every Gemini exchange is replayed, the features the issue names are among them,
    and every special case names an exchange that exists."""
    names = {e.name for e in EXCHANGES}
    assert names == {e.name for e in STREAMED + WHOLE + FAILED}
    assert set(SPECIAL_CASES) <= names, set(SPECIAL_CASES) - names
    expectations = {e.name: expected_for(e) for e in STREAMED + WHOLE}
    assert any(any(c.signature for c in x.calls) for x in expectations.values())
    assert any(len(x.calls) > 1 for x in expectations.values())
    assert any(not e.is_sse for e in STREAMED)  # a JSON-array stream
    assert any(_vertex_prefix(e) for e in STREAMED)


# --- multi-round conversations ----------------------------------------------------------


def _round_pairs() -> list[tuple[Exchange, Exchange]]:
    """(round 1, round 2) of each recorded tool round trip with both requests stored."""
    by_name = {e.name: e for e in EXCHANGES}
    pairs = []
    for second in EXCHANGES:
        if not second.name.endswith("__i1"):
            continue
        first = by_name.get(second.name[: -len("__i1")] + "__i0")
        if first is None or first.request is None or second.request is None:
            continue
        if expected_for(first).calls:
            pairs.append((first, second))
    return pairs


ROUND_PAIRS = _round_pairs()


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A recorded Gemini (OpenAPI) schema as JSON Schema, as a LangChain user binds it."""
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            name = TYPE_NUMBERS[value] if isinstance(value, int) else value
            converted[key] = name.lower()
        elif key == "properties":
            converted[key] = {k: _json_schema(v) for k, v in value.items()}
        elif key == "items":
            converted[key] = _json_schema(value)
        else:
            converted[key] = value
    return converted


def _bound_model(
    first: Exchange, server: ScriptedServer
) -> tuple[Any, list[BaseMessage], dict[str, Any]]:
    """A model bound like the recorded round-1 request, and its conversation."""
    request = camel_fields(first.request)
    messages: list[BaseMessage] = [
        SystemMessage(part["text"])
        for part in (request.get("systemInstruction") or {}).get("parts", [])
    ]
    for content in request["contents"]:
        assert content["role"] == "user"
        messages.append(HumanMessage("".join(p["text"] for p in content["parts"])))
    options: dict[str, Any] = {}
    config = dict(request.get("generationConfig") or {})
    for field, option in (
        ("maxOutputTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("topK", "top_k"),
    ):
        if field in config:
            options[option] = config.pop(field)
    config.pop("candidateCount", None)
    model_kwargs: dict[str, Any] = {}
    if config:
        model_kwargs["generationConfig"] = config
    if "safetySettings" in request:
        model_kwargs["safetySettings"] = request["safetySettings"]
    llm = make_model(first, server, streaming=first.streamed, model_kwargs=model_kwargs, **options)
    tools = []
    for declaration in request["tools"][0]["functionDeclarations"]:
        function: dict[str, Any] = {"name": declaration["name"]}
        if declaration.get("description"):
            function["description"] = declaration["description"]
        if "parametersJsonSchema" in declaration:
            function["parameters"] = declaration["parametersJsonSchema"]
        elif "parameters" in declaration:
            function["parameters"] = _json_schema(declaration["parameters"])
        tools.append({"type": "function", "function": function})
    mode = (request.get("toolConfig") or {}).get("functionCallingConfig", {}).get("mode")
    choice = {"AUTO": "auto", "ANY": "any", "NONE": "none"}.get(mode) if mode else None
    return llm.bind_tools(tools, tool_choice=choice), messages, request


def _normalized_schema(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "type":
                name = TYPE_NUMBERS[value] if isinstance(value, int) else value
                out[key] = name.upper()
            elif key == "additionalProperties" and value is False:
                continue
            else:
                out[key] = _normalized_schema(value)
        return out
    if isinstance(schema, list):
        return [_normalized_schema(v) for v in schema]
    return schema


def normalized_request(body: dict[str, Any], native_ids: set[str]) -> dict[str, Any]:
    """A request in a comparable form: camelCase fields, signatures as bytes, call ids only
    where Gemini gave them (ids a client invented mean nothing to Gemini), the recorder's
    extras (`model` field, system `role`, `candidateCount: 1`, empty descriptions and
    parameter schemas) left out, schema types as upper-case names."""
    body = camel_fields(json.loads(json.dumps(body)))
    body.pop("model", None)
    system = body.get("systemInstruction")
    if system:
        body["systemInstruction"] = {"parts": system["parts"]}
    config = body.get("generationConfig")
    if config is not None:
        if config.get("candidateCount") == 1:
            del config["candidateCount"]
        if not config:
            del body["generationConfig"]
    for tool in body.get("tools") or ():
        for declaration in tool.get("functionDeclarations") or ():
            if not declaration.get("description"):
                declaration.pop("description", None)
            for key in ("parameters", "parametersJsonSchema"):
                schema = declaration.get(key)
                if schema is None:
                    continue
                if not schema.get("properties"):
                    del declaration[key]
                else:
                    declaration[key] = _normalized_schema(schema)
    for content in body["contents"]:
        for part in content["parts"]:
            if "thoughtSignature" in part:
                part["thoughtSignature"] = signature_bytes(part["thoughtSignature"])
            for key in ("functionCall", "functionResponse"):
                if key in part and part[key].get("id") not in native_ids:
                    part[key].pop("id", None)
    return body


def _check_pairing(body: dict[str, Any]) -> None:
    """Each result answers the call at its position, by name (and id when there is one)."""
    contents = body["contents"]
    for position, content in enumerate(contents):
        results = [p["functionResponse"] for p in content["parts"] if "functionResponse" in p]
        if not results:
            continue
        previous = contents[position - 1]
        assert previous["role"] == "model" and content["role"] == "user"
        calls = [p["functionCall"] for p in previous["parts"] if "functionCall" in p]
        assert [r["name"] for r in results] == [c["name"] for c in calls]
        assert [r.get("id") for r in results] == [c.get("id") for c in calls]


@pytest.mark.parametrize(
    ("first", "second"),
    [pytest.param(a, b, id=a.folder[: -len("__i0")]) for a, b in ROUND_PAIRS],
)
def test_multi_round_requests_match_the_recording(
    first: Exchange, second: Exchange, server: ScriptedServer
) -> None:
    """Round 1's request, and round 2's built from round 1's request, the decoded answer
    and the tool results, match what was recorded."""
    llm, messages, _ = _bound_model(first, server)
    serve(first, server, "stream")
    answer = aggregate(list(llm.stream(messages))) if first.streamed else llm.invoke(messages)
    assert answer.tool_calls

    recorded = camel_fields(second.request)
    recorded_results = [
        p["functionResponse"]
        for c in recorded["contents"]
        for p in c["parts"]
        if "functionResponse" in p
    ]
    results = [
        ToolMessage(json.dumps(result["response"]), tool_call_id=call["id"])
        for call, result in zip(answer.tool_calls, recorded_results, strict=True)
    ]
    serve(second, server, "invoke")
    reply = llm.invoke([*messages, answer, *results])
    assert reply.content == expected_for(second).text

    native_ids = {
        part["functionCall"]["id"]
        for chunk in chunks_of(first)
        for candidate in chunk.get("candidates") or ()
        for part in (candidate.get("content") or {}).get("parts") or ()
        if "functionCall" in part and part["functionCall"].get("id")
    }
    sent_first, sent_second = (r.json() for r in server.received)
    _check_pairing(sent_second)
    _check_pairing(recorded)
    assert normalized_request(sent_first, native_ids) == normalized_request(
        first.request or {}, native_ids
    )
    assert normalized_request(sent_second, native_ids) == normalized_request(
        second.request or {}, native_ids
    )
    # Ids go back only when Gemini gave them; they then must be Gemini's own.
    sent_ids = {
        part[key]["id"]
        for content in sent_second["contents"]
        for part in content["parts"]
        for key in ("functionCall", "functionResponse")
        if key in part and "id" in part[key]
    }
    assert sent_ids == native_ids


@RECORDINGS_ONLY
def test_multi_round_selection() -> None:
    """The round trips the issue names are all replayed."""
    names = {a.folder for a, _ in ROUND_PAIRS}
    for wanted in (
        "fantasy__TestGoogleCommon__gemini-2.5-flash__multi_tool_streaming__i0",
        "langchaingo__testdata__TestGoogleAIToolCallResponse__i0",
        "pydantic-ai__test_google__test_google_streaming_tool_call_thought_signature__i0",
    ):
        assert wanted in names, sorted(names)
