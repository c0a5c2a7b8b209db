"""ChatBhumi as a LangChain user sees it, over a scripted loopback server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.messages.utils import message_chunk_to_message
from pydantic import BaseModel, Field

from langchain_bhumi import ChatBhumi, ConfigurationError, MissingAPIKeyError
from langchain_bhumi.protocols import GENERATION_PARAMS
from tests.support.server import Scripted, ScriptedServer

KEY = "sk-test-0123456789abcdef"


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    """One chat-completions stream chunk."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "m-2024",
        "choices": choices,
        **top,
    }


USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}

WEATHER_STREAM = [
    chunk({"role": "assistant", "content": None}),
    chunk({"reasoning_content": "Need the weather."}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({}, finish="tool_calls"),
    chunk(None, usage=USAGE),
]

WEATHER_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "m-2024",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "reasoning_content": "Need the weather.",
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
        }
    ],
    "usage": USAGE,
}


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny"


def model(server: ScriptedServer, **kwargs: Any) -> ChatBhumi:
    return ChatBhumi(model="openai/gpt-test", base_url=server.url, api_key=KEY, **kwargs)


def collect(llm: Any, *args: Any, **kwargs: Any) -> list[AIMessageChunk]:
    return list(llm.stream(*args, **kwargs))


# --- streaming as LangChain expects it ---------------------------------------------------


def test_streamed_tool_calls_usage_once_metadata_last(server: ScriptedServer) -> None:
    server.enqueue(Scripted.sse(*WEATHER_STREAM))
    chunks = collect(model(server).bind_tools([get_weather]), "weather in Paris and Rome?")

    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert [(c["name"], c["args"], c["id"]) for c in full.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "call_a"),
        ("get_weather", {"city": "Rome"}, "call_b"),
    ]
    assert full.additional_kwargs["reasoning_content"] == "Need the weather."
    assert full.usage_metadata == {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata["finish_reason"] == "tool_calls"
    assert chunks[-1].response_metadata["model_name"] == "m-2024"
    assert not any("finish_reason" in c.response_metadata for c in chunks[:-1])
    named = [tc for c in chunks for tc in c.tool_call_chunks if tc["name"]]
    assert [(tc["index"], tc["id"]) for tc in named] == [(0, "call_a"), (1, "call_b")]


def test_stream_and_invoke_give_the_same_message(server: ScriptedServer) -> None:
    """Streaming, streaming under invoke, and a plain JSON response agree."""
    server.enqueue(
        Scripted.sse(*WEATHER_STREAM),
        Scripted.sse(*WEATHER_STREAM),
        Scripted.json(WEATHER_RESPONSE),
    )
    llm = model(server).bind_tools([get_weather])
    chunks = collect(llm, "hi")
    streamed = message_chunk_to_message(chunks[0] + chunks[1:])
    via_streaming = model(server, streaming=True).bind_tools([get_weather]).invoke("hi")
    plain = llm.invoke("hi")

    def view(m: Any) -> tuple[Any, ...]:
        return (
            m.content,
            m.tool_calls,
            m.invalid_tool_calls,
            m.usage_metadata,
            m.additional_kwargs,
            m.response_metadata,
        )

    assert view(streamed) == view(via_streaming) == view(plain)
    assert server.received[2].json().get("stream") is None


async def test_async_stream_and_invoke(server: ScriptedServer) -> None:
    server.enqueue(Scripted.sse(*WEATHER_STREAM), Scripted.json(WEATHER_RESPONSE))
    llm = model(server).bind_tools([get_weather])
    chunks = [c async for c in llm.astream("hi")]
    msg = await llm.ainvoke("hi")
    assert message_chunk_to_message(chunks[0] + chunks[1:]).tool_calls == msg.tool_calls


def test_text_stream_arrives_in_pieces_and_ends_with_stop(server: ScriptedServer) -> None:
    words = ["Hel", "lo", " wor", "ld"]
    server.enqueue(
        Scripted.sse(
            *[chunk({"content": w}) for w in words],
            chunk({}, finish="stop"),
            chunk(None, usage=USAGE),
            delay=0.01,
        )
    )
    chunks = collect(model(server), "hi")
    assert "".join(c.text for c in chunks) == "Hello world"
    assert len([c for c in chunks if c.text]) >= 2  # paced writes arrive as separate chunks
    assert chunks[-1].response_metadata["finish_reason"] == "stop"


def test_stop_with_pending_calls_finishes_them_as_tool_calls(server: ScriptedServer) -> None:
    """Servers that say `stop` (or nothing) after tool calls still give complete calls."""
    server.enqueue(
        Scripted.sse(
            chunk(
                {"tool_calls": [{"function": {"name": "now", "arguments": ""}, "id": ""}]},
                finish="stop",
            ),
        )
    )
    chunks = collect(model(server), "time?")
    full = chunks[0] + chunks[1:]
    assert [(c["name"], c["args"]) for c in full.tool_calls] == [("now", {})]
    assert full.tool_calls[0]["id"].startswith("call_")
    assert full.response_metadata["finish_reason"] == "tool_calls"
    assert full.response_metadata["native_finish_reason"] == "stop"


def test_invalid_arguments_become_invalid_tool_calls_with_the_reason(
    server: ScriptedServer,
) -> None:
    response = json.loads(json.dumps(WEATHER_RESPONSE))
    response["choices"][0]["finish_reason"] = "length"
    response["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] = '{"city": "Ro'
    server.enqueue(Scripted.json(response))
    msg = model(server).invoke("hi")
    assert [c["args"] for c in msg.tool_calls] == [{"city": "Paris"}]
    [bad] = msg.invalid_tool_calls
    assert (bad["id"], bad["name"], bad["args"]) == ("call_b", "get_weather", '{"city": "Ro')
    assert "not valid JSON" in (bad["error"] or "")
    assert msg.response_metadata["finish_reason"] == "length"


def test_output_version_v1_content_blocks(server: ScriptedServer) -> None:
    server.enqueue(Scripted.sse(*WEATHER_STREAM), Scripted.json(WEATHER_RESPONSE))
    llm = model(server, output_version="v1").bind_tools([get_weather])
    chunks = collect(llm, "hi")
    full = message_chunk_to_message(chunks[0] + chunks[1:])
    plain = llm.invoke("hi")
    for msg in (full, plain):
        assert isinstance(msg, AIMessage)
        kinds = [(b["type"], b.get("name")) for b in msg.content]  # type: ignore[union-attr]
        assert kinds == [
            ("reasoning", None),
            ("tool_call", "get_weather"),
            ("tool_call", "get_weather"),
        ]
        assert msg.content[0]["reasoning"] == "Need the weather."  # type: ignore[index]
        assert [b["args"] for b in msg.content[1:]] == [{"city": "Paris"}, {"city": "Rome"}]  # type: ignore[index]
        assert [c["args"] for c in msg.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]


def test_reasoning_shows_as_a_reasoning_content_block(server: ScriptedServer) -> None:
    """`reasoning` (OpenRouter, Ollama) stays out of the text and reads as a reasoning block."""
    server.enqueue(
        Scripted.sse(
            chunk({"reasoning": "2+2=4"}), chunk({"content": "4"}), chunk({}, finish="stop")
        )
    )
    chunks = collect(model(server), "2+2?")
    merged = message_chunk_to_message(chunks[0] + chunks[1:])
    assert merged.content == "4"
    assert [b["type"] for b in merged.content_blocks] == ["reasoning", "text"]


# --- what goes on the wire ---------------------------------------------------------------


def sent(server: ScriptedServer, index: int = -1) -> dict[str, Any]:
    return server.received[index].json()


def test_bind_tools_tool_choice_and_parallel_calls_on_the_wire(server: ScriptedServer) -> None:
    server.enqueue(*(Scripted.json(WEATHER_RESPONSE) for _ in range(4)))
    llm = model(server)
    llm.bind_tools([get_weather], tool_choice="any", parallel_tool_calls=False).invoke("x")
    body = sent(server)
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["tools"][0]["function"]["name"] == "get_weather"
    llm.bind_tools([get_weather], tool_choice="get_weather").invoke("x")
    assert sent(server)["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    llm.bind_tools([get_weather], tool_choice=True, strict=True).invoke("x")
    body = sent(server)
    assert body["tool_choice"]["function"]["name"] == "get_weather"
    assert body["tools"][0]["function"]["strict"] is True
    llm.bind_tools([get_weather]).invoke("x")
    assert "tool_choice" not in sent(server)


def test_bad_tool_choice_is_a_clear_error(server: ScriptedServer) -> None:
    with pytest.raises(ValueError, match="not 'auto'"):
        model(server).bind_tools([get_weather], tool_choice="get_wether")


def test_call_time_overrides_and_model_kwargs(server: ScriptedServer) -> None:
    server.enqueue(
        Scripted.json(WEATHER_RESPONSE), Scripted.sse(chunk({"content": "x"}, finish="stop"))
    )
    llm = model(server, temperature=0.2, max_tokens=5, stop=["END"], model_kwargs={"user": "u1"})
    llm.invoke("x", model="openai/gpt-other", temperature=0.9, reasoning_effort="low")
    body = sent(server)
    assert body["model"] == "gpt-other"
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.9, 5, ["END"])
    assert (body["user"], body["reasoning_effort"]) == ("u1", "low")
    list(model(server, stream_usage=False).stream("x"))
    assert "stream_options" not in sent(server) and sent(server)["stream"] is True


# Where each generation parameter lands in a Gemini request, the one format that sends them
# all. A parameter added to `ChatRequest` fails the tests below until it is listed here.
GENERATION_ON_THE_WIRE: dict[str, tuple[Any, str, Any]] = {
    "temperature": (0.3, "temperature", 0.3),
    "top_p": (0.8, "topP", 0.8),
    "top_k": (7, "topK", 7),
    "max_tokens": (42, "maxOutputTokens", 42),
    "stop": (["END"], "stopSequences", ["END"]),
    "seed": (11, "seed", 11),
    "reasoning_effort": (
        "low",
        "thinkingConfig",
        {"thinkingLevel": "LOW", "includeThoughts": True},
    ),
    "thinking_budget": (512, "thinkingConfig", {"thinkingBudget": 512, "includeThoughts": True}),
}
GEMINI_ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
    ]
}


def test_every_generation_parameter_is_a_chatbhumi_field() -> None:
    """A model instance can set every parameter a call can (and the identifying params,
    which LangChain's cache and tracing read, name each one)."""
    assert not GENERATION_PARAMS - ChatBhumi.model_fields.keys()
    llm = ChatBhumi(model="openai/gpt-test", base_url="http://127.0.0.1:9", api_key=KEY)
    assert not GENERATION_PARAMS - llm._identifying_params.keys()


@pytest.mark.parametrize("where", ["call keyword", "model field"])
@pytest.mark.parametrize("param", sorted(GENERATION_PARAMS))
def test_each_generation_parameter_reaches_the_request_body(
    server: ScriptedServer, param: str, where: str
) -> None:
    """No parameter is accepted and then silently left out of the request."""
    value, wire_name, on_the_wire = GENERATION_ON_THE_WIRE[param]
    server.enqueue(Scripted.json(GEMINI_ANSWER))
    setting = {param: value}
    llm = ChatBhumi(
        model="gemini/gemini-test",
        base_url=server.url,
        api_key=KEY,
        **(setting if where == "model field" else {}),
    )
    llm.invoke("x", **(setting if where == "call keyword" else {}))
    config = sent(server)["generationConfig"]
    assert config[wire_name] == on_the_wire


def test_headers_carry_the_key_as_bearer_and_custom_headers(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(WEATHER_RESPONSE))
    model(server, default_headers={"x-team": "a"}).invoke("x")
    headers = server.received[-1].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-team"] == "a"
    assert headers["user-agent"].startswith("langchain-bhumi/")


class Person(BaseModel):
    """A person."""

    name: str = Field(description="Full name")
    age: int


def person_response(arguments: str | None = None, content: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if arguments is not None:
        message["tool_calls"] = [
            {"id": "c1", "type": "function", "function": {"name": "Person", "arguments": arguments}}
        ]
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": message}]}


def test_structured_output_function_calling(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(person_response('{"name": "Ada", "age": 36}')))
    result = model(server).with_structured_output(Person).invoke("who?")
    assert result == Person(name="Ada", age=36)
    body = sent(server)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert body["parallel_tool_calls"] is False


def test_structured_output_json_schema_and_json_mode(server: ScriptedServer) -> None:
    server.enqueue(
        Scripted.json(person_response(content='{"name": "Ada", "age": 36}')),
        Scripted.json(person_response(content='{"name": "Bo", "age": 3}')),
    )
    llm = model(server)
    assert llm.with_structured_output(Person, method="json_schema", strict=True).invoke(
        "x"
    ) == Person(name="Ada", age=36)
    fmt = sent(server)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Person"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["name", "age"]
    schema = Person.model_json_schema()
    assert llm.with_structured_output(schema, method="json_mode").invoke("x") == {
        "name": "Bo",
        "age": 3,
    }
    assert sent(server)["response_format"] == {"type": "json_object"}


def test_structured_output_include_raw_reports_parse_errors(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(person_response('{"name": "Ada"}')))
    result = model(server).with_structured_output(Person, include_raw=True).invoke("x")
    assert isinstance(result, dict)
    assert result["parsed"] is None
    assert result["parsing_error"] is not None
    assert result["raw"].tool_calls[0]["args"] == {"name": "Ada"}


def test_a_full_tool_round_trip_sends_results_paired_with_calls(server: ScriptedServer) -> None:
    server.enqueue(
        Scripted.json(WEATHER_RESPONSE),
        Scripted.sse(chunk({"content": "Sunny both."}, finish="stop")),
    )
    llm = model(server).bind_tools([get_weather])
    first = llm.invoke("weather?")
    results = [ToolMessage("sunny", tool_call_id=c["id"]) for c in first.tool_calls]
    answer = "".join(c.text for c in llm.stream([HumanMessage("weather?"), first, *results]))
    assert answer == "Sunny both."
    messages = sent(server)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == [m["tool_call_id"] for m in messages[2:]]


# --- configuration -------------------------------------------------------------------------


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingAPIKeyError, match="GROQ_API_KEY"):
        ChatBhumi(model="groq/llama-3.3-70b-versatile")
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    llm = ChatBhumi(model="groq/llama-3.3-70b-versatile")
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "gsk-from-env"
    assert "gsk-from-env" not in repr(llm)


def test_local_servers_need_no_key(server: ScriptedServer) -> None:
    server.enqueue(Scripted.json(WEATHER_RESPONSE))
    ChatBhumi(model="ollama/qwen2.5", base_url=server.url).invoke("x")
    assert "authorization" not in server.received[-1].headers


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
def test_base_urls_with_or_without_v1(server: ScriptedServer, suffix: str) -> None:
    server.enqueue(Scripted.json(WEATHER_RESPONSE))
    ChatBhumi(model="vllm/meta-llama/Llama-3-8B", base_url=server.url + suffix).invoke("x")
    assert server.received[-1].path == "/v1/chat/completions"
    assert sent(server)["model"] == "meta-llama/Llama-3-8B"


def test_model_strings() -> None:
    assert ChatBhumi(model="vllm/meta-llama/Llama-3-8B").model_name == "meta-llama/Llama-3-8B"
    assert ChatBhumi(model="org/m", provider="vllm").model_name == "org/m"
    assert ChatBhumi(model="acme/m", base_url="http://127.0.0.1:9").provider_name == "acme"
    assert (
        ChatBhumi(model="perplexity/sonar", api_key="k").endpoint
        == "https://api.perplexity.ai/chat/completions"
    )
    with pytest.raises(ConfigurationError, match="unknown provider 'acme'"):
        ChatBhumi(model="acme/m")
    with pytest.raises(ConfigurationError, match="names no provider"):
        ChatBhumi(model="gpt-4o")


@pytest.mark.parametrize(
    "cut_args",
    [
        '{"expression": "',
        '{"city": "Par',
        '{"a": 1, "b": [1, 2',
        '{"a": {"b": 1}',
        '{"a": 1} trailing',
    ],
)
def test_a_call_cut_off_mid_stream_is_never_executed_with_repaired_args(
    server: ScriptedServer, cut_args: str
) -> None:
    """When a stream ends (finish_reason=length) inside a call's arguments, LangChain's own
    aggregation would 'repair' the truncated JSON into a valid dict and an agent would run
    the tool with made-up arguments. The aggregated message must hold an invalid call."""
    server.enqueue(
        Scripted.sse(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_c",
                            "function": {"name": "calculate", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": cut_args}}]}),
            chunk({}, finish="length"),
        ),
        Scripted.sse(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_c",
                            "function": {"name": "calculate", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": cut_args}}]}),
            chunk({}, finish="length"),
        ),
    )
    chunks = collect(model(server), "x")
    streamed = message_chunk_to_message(chunks[0] + chunks[1:])
    assert streamed.tool_calls == []
    [bad] = streamed.invalid_tool_calls
    assert (bad["id"], bad["name"]) == ("call_c", "calculate")
    assert bad["args"] is not None and bad["args"].startswith(cut_args)
    # The same holds when LangChain streams under invoke (agents with stream_mode="messages").
    via_invoke = model(server, streaming=True).invoke("x")
    assert via_invoke.tool_calls == [] and len(via_invoke.invalid_tool_calls) == 1


def test_openai_models_on_other_servers_send_max_tokens(server: ScriptedServer) -> None:
    """OpenAI's own API takes max_completion_tokens; OpenAI-compatible servers read max_tokens
    (llama.cpp ignores the newer field and generates to the end of its context)."""
    assert ChatBhumi(
        model="openai/gpt-4o-mini", api_key=KEY
    )._resolved.provider.max_tokens_field == ("max_completion_tokens")
    server.enqueue(Scripted.json(WEATHER_RESPONSE))
    ChatBhumi(model="openai/qwen", base_url=server.url, api_key=KEY, max_tokens=7).invoke("x")
    body = sent(server)
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body


def test_json_schema_dicts_are_tools_and_provider_tools_pass_through(
    server: ScriptedServer,
) -> None:
    server.enqueue(Scripted.json(WEATHER_RESPONSE))
    schema = {"title": "Joke", "type": "object", "properties": {"setup": {"type": "string"}}}
    search = {"type": "web_search_preview"}
    # A built-in Responses tool would switch `openai` to the Responses API on its own.
    llm = model(server, use_responses_api=False)
    llm.bind_tools([schema, search], tool_choice="Joke").invoke("x")
    tools = sent(server)["tools"]
    assert tools[0]["function"]["name"] == "Joke" and tools[1] == search


async def test_the_aiohttp_async_backend_streams_the_same(server: ScriptedServer) -> None:
    """`async_backend="aiohttp"` (httpx's API over aiohttp) gives the same message."""
    pytest.importorskip("httpx_aiohttp")
    server.enqueue(Scripted.sse(*WEATHER_STREAM, delay=0.005))
    llm = model(server, async_backend="aiohttp").bind_tools([get_weather])
    chunks = [c async for c in llm.astream("hi")]
    merged = message_chunk_to_message(chunks[0] + chunks[1:])
    assert [c["args"] for c in merged.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert merged.usage_metadata == {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_local_server_may_take_long_to_start_but_not_to_continue(
    server: ScriptedServer, mode: str
) -> None:
    """llama-server sends nothing until it has processed the whole prompt (minutes on a
    CPU for a long one): the wait for a stream to start is longer for local servers, while
    a stall once it streams still trips the idle timeout."""
    import asyncio

    from langchain_bhumi import BhumiTimeoutError

    def run(llm: ChatBhumi) -> str:
        if mode == "sync":
            return "".join(c.text for c in llm.stream("x"))

        async def collect_async() -> str:
            return "".join([c.text async for c in llm.astream("x")])

        return asyncio.run(collect_async())

    llm = ChatBhumi(model="llamacpp/qwen", base_url=server.url, timeout=0.3, header_timeout=3)
    server.enqueue(
        Scripted.sse(
            chunk({"content": "slow start"}), chunk({}, finish="stop"), stall_before_headers=0.8
        )
    )
    assert run(llm) == "slow start"
    server.enqueue(
        Scripted.sse(
            chunk({"content": "a"}),
            chunk({"content": "b"}),
            chunk({}, finish="stop"),
            stall_after=1,
            stall_seconds=2.0,
        )
    )
    with pytest.raises(BhumiTimeoutError) as caught:
        run(llm)
    assert caught.value.phase == "between chunks" and caught.value.timeout == 0.3
    cloud = ChatBhumi(model="openai/gpt-4o-mini", base_url=server.url, api_key=KEY, timeout=0.3)
    server.enqueue(Scripted.sse(chunk({"content": "late"}), stall_before_headers=0.8))
    with pytest.raises(BhumiTimeoutError) as caught:  # the bhumi hang: no such grace for APIs
        run(cloud)
    assert caught.value.phase == "waiting for headers"


def test_a_key_is_required_only_by_the_providers_own_endpoint(server: ScriptedServer) -> None:
    """`openai/...` pointed at llama.cpp needs no OPENAI_API_KEY; OpenAI itself does."""
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        ChatBhumi(model="openai/gpt-4o-mini")
    server.enqueue(Scripted.json(WEATHER_RESPONSE))
    ChatBhumi(model="openai/qwen", base_url=server.url + "/v1").invoke("x")
    assert "authorization" not in server.received[-1].headers
