"""Responses API codec: LangChain messages -> request bodies, events -> normalized events,
and the rule that picks the Responses API for a call."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_bhumi.core.errors import ConfigurationError, StreamCutError, StreamErrorEvent
from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    RefusalDelta,
    ResponseInfo,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.framing import ServerSentEvent
from langchain_bhumi.protocols import get_protocol
from langchain_bhumi.protocols.base import ChatRequest
from langchain_bhumi.protocols.openai_responses.client import (
    OpenAIResponsesProtocol,
    encode_input,
    encode_text_format,
    encode_tool,
    encode_tool_choice,
)
from langchain_bhumi.providers import (
    PROVIDERS,
    ProviderSpec,
    resolve_model,
    responses_only_model,
    wire_format,
)

PROTOCOL = OpenAIResponsesProtocol()
PNG = "iVBORw0KGgo="
REASONING_ITEM = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "**Plan** look it up"}],
    "encrypted_content": "gAAAAB-opaque",
}
WEB_SEARCH_ITEM = {
    "id": "ws_1",
    "type": "web_search_call",
    "status": "completed",
    "action": {"type": "search", "query": "weather"},
}


def body(**fields: Any) -> dict[str, Any]:
    fields.setdefault("messages", [HumanMessage("hi")])
    return PROTOCOL.encode_request(ChatRequest(model="gpt-5", **fields))


def items(*messages: BaseMessage, provider: str | None = "openai") -> list[dict[str, Any]]:
    return encode_input(messages, provider)[1]


def answer(**kwargs: Any) -> AIMessage:
    """An assistant message as ChatBhumi builds it from a Responses answer from OpenAI."""
    kwargs.setdefault(
        "response_metadata", {"wire_format": "openai_responses", "provider": "openai"}
    )
    return AIMessage(**kwargs)


# --- request body ------------------------------------------------------------------------


def test_the_default_request_is_stateless_and_asks_for_encrypted_reasoning() -> None:
    assert body() == {
        "model": "gpt-5",
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    assert body(stream=True)["stream"] is True
    assert "stream_options" not in body(stream=True)


def test_store_true_in_extra_body_drops_the_include_and_extra_includes_are_merged() -> None:
    stored = body(extra_body={"store": True})
    assert stored["store"] is True and "include" not in stored
    asked = body(extra_body={"store": True, "include": ["message.output_text.logprobs"]})
    assert asked["include"] == ["message.output_text.logprobs"]
    merged = body(extra_body={"include": ["web_search_call.action.sources"], "user": "u"})
    assert merged["include"] == ["reasoning.encrypted_content", "web_search_call.action.sources"]
    assert merged["user"] == "u"


def test_sampling_limits_and_reasoning_fields() -> None:
    sent = body(temperature=0.2, top_p=0.9, max_tokens=50, reasoning_effort="low")
    assert sent["temperature"] == 0.2 and sent["top_p"] == 0.9
    assert sent["max_output_tokens"] == 50 and "max_tokens" not in sent
    assert sent["reasoning"] == {"effort": "low", "summary": "auto"}
    assert body(reasoning_effort="none")["reasoning"] == {"effort": "none"}
    assert "reasoning" not in body()


def test_fields_the_responses_api_lacks_are_dropped_with_a_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="langchain_bhumi"):
        sent = body(stop=["END"], seed=7, top_k=3)
    assert not {"stop", "seed", "top_k"} & sent.keys()
    logged = caplog.text
    assert "no stop" in logged and "no seed" in logged and "no top_k" in logged


def test_extra_body_is_merged_last() -> None:
    assert body(max_tokens=5, extra_body={"max_output_tokens": 9})["max_output_tokens"] == 9


# --- tools, tool_choice, text.format ------------------------------------------------------


def test_chat_completions_tools_are_flattened_and_builtin_tools_pass_through() -> None:
    chat_tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
    }
    assert encode_tool(chat_tool) == {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    }
    bare = encode_tool({"type": "function", "function": {"name": "ping"}})
    assert bare == {
        "type": "function",
        "name": "ping",
        "parameters": {"type": "object", "properties": {}},
    }
    search = {"type": "web_search", "search_context_size": "low"}
    flat = {"type": "function", "name": "f", "parameters": {}}
    assert encode_tool(search) is search and encode_tool(flat) is flat
    sent = body(tools=[chat_tool, search], parallel_tool_calls=False)
    assert [t["type"] for t in sent["tools"]] == ["function", "web_search"]
    assert sent["parallel_tool_calls"] is False
    assert "parallel_tool_calls" not in body(parallel_tool_calls=False)  # no tools, no flag


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        ("get_weather", {"type": "function", "name": "get_weather"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "name": "get_weather"},
        ),
        ({"type": "web_search"}, {"type": "web_search"}),
    ],
)
def test_tool_choice_in_responses_shape(choice: Any, expected: Any) -> None:
    assert encode_tool_choice(choice) == expected


def test_response_format_becomes_a_flat_text_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    nested = {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema, "strict": True, "description": "d"},
    }
    assert encode_text_format(nested) == {
        "type": "json_schema",
        "name": "Answer",
        "schema": schema,
        "strict": True,
        "description": "d",
    }
    assert body(response_format={"type": "json_object"})["text"] == {
        "format": {"type": "json_object"}
    }
    assert body(response_format=nested)["text"]["format"]["name"] == "Answer"


# --- input items -------------------------------------------------------------------------


def test_leading_system_messages_become_instructions_later_ones_stay_in_place() -> None:
    instructions, sent = encode_input(
        [
            SystemMessage("Be brief."),
            SystemMessage("Answer in French."),
            HumanMessage("hi"),
            SystemMessage("Now switch to English."),
            ChatMessage(role="developer", content="dev note"),
        ]
    )
    assert instructions == "Be brief.\n\nAnswer in French."
    assert sent[1:] == [
        {"type": "message", "role": "system", "content": "Now switch to English."},
        {"type": "message", "role": "developer", "content": "dev note"},
    ]
    assert "instructions" not in body()


def test_user_content_parts_text_image_and_file() -> None:
    message = HumanMessage(
        [
            {"type": "text", "text": "What is in these?"},
            {
                "type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
            },
            {"type": "image", "url": "https://example.com/cat.png"},
            {
                "type": "file",
                "base64": "JVBERi0=",
                "mime_type": "application/pdf",
                "filename": "a.pdf",
            },
            {"type": "file", "file_id": "file-123"},
        ]
    )
    assert items(message)[0]["content"] == [
        {"type": "input_text", "text": "What is in these?"},
        {"type": "input_image", "detail": "low", "image_url": f"data:image/png;base64,{PNG}"},
        {"type": "input_image", "detail": "auto", "image_url": "https://example.com/cat.png"},
        {
            "type": "input_file",
            "file_data": "data:application/pdf;base64,JVBERi0=",
            "filename": "a.pdf",
        },
        {"type": "input_file", "file_id": "file-123"},
    ]


def test_audio_input_and_function_messages_are_refused_with_a_reason() -> None:
    audio = HumanMessage(
        [{"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}]
    )
    with pytest.raises(ConfigurationError, match="audio"):
        items(audio)
    with pytest.raises(ConfigurationError, match="ToolMessage"):
        items(FunctionMessage(name="f", content="x"))


def test_kept_message_items_go_back_as_they_came_unless_the_text_was_edited() -> None:
    commentary = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "phase": "commentary",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Let me ", "annotations": []}],
    }
    final = {**commentary, "id": "msg_2", "phase": "final_answer"}
    final["content"] = [{"type": "output_text", "text": "check.", "annotations": []}]
    kept = [REASONING_ITEM, commentary, final]
    message = answer(content="Let me check.", additional_kwargs={"response_items": kept})
    assert items(message) == kept
    edited = answer(content="Let me look.", additional_kwargs={"response_items": kept})
    assert items(edited) == [
        REASONING_ITEM,
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
        },
    ]


def test_an_assistant_turn_replays_its_items_then_text_then_calls_with_item_ids() -> None:
    message = answer(
        content="Let me check.",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
        invalid_tool_calls=[
            {"name": "get_time", "args": '{"tz": ', "id": "call_2", "error": "cut"}
        ],
        additional_kwargs={
            "response_items": [REASONING_ITEM, WEB_SEARCH_ITEM],
            "tool_call_extras": {"call_1": {"responses": {"item_id": "fc_1"}}},
        },
    )
    assert items(message) == [
        REASONING_ITEM,
        WEB_SEARCH_ITEM,
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
            "id": "fc_1",
        },
        {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": '{"tz": '},
    ]


@pytest.mark.parametrize(
    "metadata",
    [
        {"wire_format": "openai_responses", "provider": "azure"},  # another provider's blobs
        {"wire_format": "openai_chat", "provider": "openai"},  # another format
    ],
)
def test_kept_items_and_item_ids_go_back_only_to_the_provider_and_format_that_made_them(
    metadata: dict[str, Any],
) -> None:
    message = AIMessage(
        content="",
        tool_calls=[{"name": "f", "args": {}, "id": "call_1"}],
        additional_kwargs={
            "response_items": [REASONING_ITEM],
            "tool_call_extras": {"call_1": {"responses": {"item_id": "fc_1"}}},
        },
        response_metadata=metadata,
    )
    assert items(message) == [
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    ]


def test_reasoning_that_nothing_follows_is_not_sent_back() -> None:
    """An answer cut off by max_output_tokens while reasoning has only a reasoning item;
    the API rejects one without the item it led to."""
    cut = answer(
        content="", additional_kwargs={"response_items": [WEB_SEARCH_ITEM, REASONING_ITEM]}
    )
    assert items(cut) == [WEB_SEARCH_ITEM]
    assert items(answer(content="", additional_kwargs={"response_items": [REASONING_ITEM]})) == []


def test_a_hand_built_assistant_message_is_sent_with_its_items() -> None:
    """No metadata at all: the caller put the items there, so they are meant to go."""
    message = AIMessage("ok", additional_kwargs={"response_items": [REASONING_ITEM]})
    assert items(message)[0] == REASONING_ITEM


def test_tool_results_as_strings_or_as_parts_when_the_tool_returned_images() -> None:
    text = ToolMessage("18 C and cloudy", tool_call_id="call_1")
    assert items(text) == [
        {"type": "function_call_output", "call_id": "call_1", "output": "18 C and cloudy"}
    ]
    blocks = ToolMessage(
        [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], tool_call_id="c"
    )
    assert items(blocks)[0]["output"] == "a\nb"
    image = ToolMessage(
        [
            {"type": "text", "text": "The chart:"},
            {"type": "image", "base64": PNG, "mime_type": "image/png"},
        ],
        tool_call_id="call_2",
    )
    assert items(image) == [
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [
                {"type": "input_text", "text": "The chart:"},
                {
                    "type": "input_image",
                    "detail": "auto",
                    "image_url": f"data:image/png;base64,{PNG}",
                },
            ],
        }
    ]


# --- decoding ----------------------------------------------------------------------------


def frames(*events: dict[str, Any]) -> list[ServerSentEvent]:
    return [ServerSentEvent(event=e.get("type", ""), data=json.dumps(e)) for e in events]


def decode(*events: dict[str, Any]) -> list[StreamEvent]:
    decoder = PROTOCOL.stream_decoder()
    out = decoder.feed(frames(*events))
    return out + decoder.close()


def created(response_id: str = "resp_1", model: str = "gpt-5") -> dict[str, Any]:
    return {
        "type": "response.created",
        "response": {"id": response_id, "model": model, "output": []},
    }


def completed(status: str = "completed", **response: Any) -> dict[str, Any]:
    response.setdefault("usage", {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15})
    return {
        "type": f"response.{status}",
        "response": {"id": "resp_1", "status": status, **response},
    }


def call_added(index: int, call_id: str, name: str, item_id: str | None = None) -> dict[str, Any]:
    item = {"type": "function_call", "call_id": call_id, "name": name, "arguments": ""}
    if item_id:
        item["id"] = item_id
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def call_done(
    index: int, call_id: str, name: str, arguments: str, item_id: str = "fc_x"
) -> dict[str, Any]:
    item = {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }
    return {"type": "response.output_item.done", "output_index": index, "item": item}


def args_delta(index: int, delta: str, item_id: str = "fc_x") -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.delta",
        "output_index": index,
        "item_id": item_id,
        "delta": delta,
    }


def of(kind: type, events: list[StreamEvent]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_usage_with_cached_cache_write_and_reasoning_tokens() -> None:
    usage = {
        "input_tokens": 1220,
        "input_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 200},
        "output_tokens": 100,
        "output_tokens_details": {"reasoning_tokens": 54},
        "total_tokens": 1320,
    }
    assert of(Usage, decode(created(), completed(usage=usage))) == [
        Usage(1220, 100, 1320, cache_read=1000, cache_creation=200, reasoning=54)
    ]


def test_a_call_whose_arguments_are_cut_is_invalid_and_the_finish_is_length() -> None:
    events = decode(
        created(),
        call_added(0, "call_1", "get_weather", "fc_1"),
        args_delta(0, '{"city": "Par'),
        completed("incomplete", incomplete_details={"reason": "max_output_tokens"}),
    )
    (done,) = of(ToolCallDone, events)
    assert (
        done.args is None
        and done.args_text == '{"city": "Par'
        and "not valid JSON" in (done.error or "")
    )
    assert of(Finish, events) == [Finish("length", "max_output_tokens")]


def test_content_filter_incomplete_and_completed_with_calls() -> None:
    filtered = decode(
        created(), completed("incomplete", incomplete_details={"reason": "content_filter"})
    )
    assert of(Finish, filtered) == [Finish("content_filter", "content_filter")]
    called = decode(created(), call_added(0, "c", "f"), call_done(0, "c", "f", "{}"), completed())
    assert of(Finish, called) == [Finish("tool_calls", "completed")]


def test_without_output_index_items_are_keyed_by_their_ids_as_llama_cpp_sends_them() -> None:
    """llama-server sends no output_index; its item ids are stable, so they key the calls."""
    events = decode(
        created(),
        {
            "type": "response.output_item.added",
            "item": {
                "type": "function_call",
                "id": "fc_a",
                "call_id": "call_a",
                "name": "get_weather",
                "arguments": "",
            },
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_a",
            "delta": '{"city": "Paris"}',
        },
        {
            "type": "response.output_item.added",
            "item": {
                "type": "function_call",
                "id": "fc_b",
                "call_id": "call_b",
                "name": "get_weather",
                "arguments": "",
            },
        },
        {"type": "response.function_call_arguments.delta", "item_id": "fc_b", "delta": '{"city": '},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_b", "delta": '"Tokyo"}'},
        {
            "type": "response.output_item.done",
            "item": {
                "type": "function_call",
                "id": "fc_a",
                "call_id": "call_a",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
        },
        {
            "type": "response.output_item.done",
            "item": {
                "type": "function_call",
                "id": "fc_b",
                "call_id": "call_b",
                "name": "get_weather",
                "arguments": '{"city": "Tokyo"}',
            },
        },
        completed(),
    )
    assert [(d.index, d.id, d.args) for d in of(ToolCallDone, events)] == [
        (0, "call_a", {"city": "Paris"}),
        (1, "call_b", {"city": "Tokyo"}),
    ]


def test_rotating_item_ids_do_not_split_a_call() -> None:
    """GitHub Copilot sends a new item_id on every event; output_index stays."""
    events = decode(
        created(),
        call_added(0, "call_1", "get_weather", "id-1"),
        args_delta(0, '{"city":', "id-2"),
        args_delta(0, ' "Paris"}', "id-3"),
        call_done(0, "call_1", "get_weather", '{"city": "Paris"}', "id-4"),
        completed(),
    )
    deltas = of(ToolCallDelta, events)
    assert [(d.id, d.name) for d in deltas] == [
        ("call_1", "get_weather"),
        (None, None),
        (None, None),
    ]
    (done,) = of(ToolCallDone, events)
    assert done.args == {"city": "Paris"} and done.extras == {"responses": {"item_id": "id-4"}}


def test_a_minimal_stream_of_finished_items_decodes_like_a_whole_response() -> None:
    """Only output_item.done and response.completed (no ids, no index, no deltas)."""
    message = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
    }
    events = decode(
        {"type": "response.output_item.done", "item": message},
        {
            "type": "response.output_item.done",
            "item": {
                "type": "function_call",
                "call_id": "c1",
                "name": "f",
                "arguments": '{"a": 1}',
            },
        },
        completed(),
    )
    assert of(TextDelta, events) == [TextDelta("Hi", 0)]
    assert [(d.index, d.id, d.args) for d in of(ToolCallDone, events)] == [(0, "c1", {"a": 1})]
    whole = PROTOCOL.decode_response({"id": "resp_1", "status": "completed", "output": [message]})
    assert of(TextDelta, whole) == [TextDelta("Hi", 0)]


def test_reasoning_summary_parts_are_joined_and_the_item_is_kept() -> None:
    summary = [
        {"type": "summary_text", "text": "First."},
        {"type": "summary_text", "text": "Second."},
    ]
    item = {**REASONING_ITEM, "summary": summary}
    streamed = decode(
        created(),
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "summary_index": 0,
            "delta": "First.",
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "summary_index": 1,
            "delta": "Second.",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        completed(),
    )
    whole = PROTOCOL.decode_response({"id": "resp_1", "status": "completed", "output": [item]})
    for events in (streamed, whole):
        assert "".join(e.text for e in of(ReasoningDelta, events)) == "First.\n\nSecond."
        assert of(ProviderState, events) == [ProviderState("response_items", [item])]


def test_refusals_and_citations() -> None:
    citation = {
        "type": "url_citation",
        "url": "https://example.com",
        "start_index": 0,
        "end_index": 2,
    }
    message = {
        "type": "message",
        "content": [
            {"type": "output_text", "text": "Hi", "annotations": [citation]},
            {"type": "refusal", "refusal": "I can't help with that."},
        ],
    }
    events = PROTOCOL.decode_response({"id": "r", "status": "completed", "output": [message]})
    assert of(RefusalDelta, events) == [RefusalDelta("I can't help with that.")]
    assert ProviderState("annotations", [citation]) in events


@pytest.mark.parametrize(
    ("event", "error_type", "message"),
    [
        (
            {"type": "error", "code": "server_error", "message": "boom", "param": None},
            "server_error",
            "boom",
        ),
        (
            {
                "type": "error",
                "error": {"type": "insufficient_quota", "code": "quota", "message": "pay up"},
            },
            "insufficient_quota/quota",
            "pay up",
        ),
        (
            {
                "type": "response.failed",
                "response": {
                    "status": "failed",
                    "error": {"code": "rate_limit_exceeded", "message": "slow down"},
                },
            },
            "rate_limit_exceeded",
            "slow down",
        ),
    ],
)
def test_error_events_and_failed_responses_raise_stream_errors(
    event: dict[str, Any], error_type: str, message: str
) -> None:
    decoder = PROTOCOL.stream_decoder()
    text = {"type": "response.output_text.delta", "output_index": 0, "delta": "partial"}
    with pytest.raises(StreamErrorEvent) as raised:
        decoder.feed(frames(created(), text, event))
    assert raised.value.error_type == error_type and raised.value.error_message == message
    assert TextDelta("partial", 0) in raised.value.pending  # what came before is delivered


def test_a_stream_without_a_terminal_event_is_cut() -> None:
    decoder = PROTOCOL.stream_decoder()
    decoder.feed(
        frames(created(), {"type": "response.output_text.delta", "output_index": 0, "delta": "Hel"})
    )
    with pytest.raises(StreamCutError, match=r"response\.completed"):
        decoder.close()
    with pytest.raises(StreamCutError, match="single event"):
        PROTOCOL.stream_decoder().close()


def test_unknown_events_and_a_done_marker_are_ignored() -> None:
    decoder = PROTOCOL.stream_decoder()
    unknown = frames(
        created(),
        {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.mcp_call_arguments.delta", "output_index": 1, "delta": "{}"},
    )
    out = decoder.feed([*unknown, ServerSentEvent(data="[DONE]"), *frames(completed())])
    out += decoder.close()
    assert [type(e) for e in out] == [ResponseInfo, Usage, ResponseInfo, Finish]


def test_the_response_id_is_the_first_and_the_model_the_last() -> None:
    events = decode(
        created("resp_a", "gpt-5"),
        {"type": "response.in_progress", "response": {"id": "resp_b"}},
        {
            "type": "response.completed",
            "response": {"id": "resp_c", "status": "completed", "model": "gpt-5-2025-08-07"},
        },
    )
    final = of(ResponseInfo, events)[-1]
    assert (final.id, final.model) == ("resp_a", "gpt-5-2025-08-07")


# --- which wire format a call uses --------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "gpt-5-codex",
        "gpt-5.1-codex-max",
        "codex-mini-latest",
        "o1-pro",
        "o3-pro-2025-06-10",
        "gpt-5-pro",
        "gpt-5.2-pro",
        "computer-use-preview-2025-03-11",
        "o3-deep-research",
    ],
)
def test_responses_only_models(model: str) -> None:
    assert responses_only_model(model)


@pytest.mark.parametrize(
    "model", ["gpt-5", "gpt-4o-mini", "o3-mini", "o4-mini", "gpt-5.1-chat-latest", "codestral"]
)
def test_models_that_chat_completions_serve(model: str) -> None:
    assert not responses_only_model(model)


def test_the_wire_format_rule() -> None:
    openai = PROVIDERS["openai"]
    groq = PROVIDERS["groq"]
    search = [{"type": "web_search"}]
    function = [{"type": "function", "function": {"name": "f"}}]
    assert wire_format(openai, "gpt-5") == "openai_chat"
    assert wire_format(openai, "gpt-5-codex") == "openai_responses"
    assert wire_format(openai, "gpt-5", tools=search) == "openai_responses"
    assert wire_format(openai, "gpt-5", tools=function) == "openai_chat"
    assert wire_format(openai, "gpt-5-codex", use_responses_api=False) == "openai_chat"
    assert wire_format(openai, "gpt-4o", use_responses_api=True) == "openai_responses"
    # Automatic only where the provider is known to serve the API; forced anywhere.
    assert wire_format(groq, "gpt-5-codex", tools=search) == "openai_chat"
    assert wire_format(groq, "llama", use_responses_api=True) == "openai_responses"
    generic = resolve_model("mylab/m", base_url="http://127.0.0.1:9").spec
    assert wire_format(generic, "m", use_responses_api=True) == "openai_responses"
    # Other formats keep their own.
    anthropic: ProviderSpec = PROVIDERS["anthropic"]
    assert wire_format(anthropic, "claude-sonnet-4-5", use_responses_api=True) == "anthropic"


def test_the_format_is_registered() -> None:
    protocol = get_protocol("openai_responses")
    assert isinstance(protocol, OpenAIResponsesProtocol)
    assert protocol.path("gpt-5", stream=True) == "/responses"
    assert protocol.auth_headers("sk-1") == {"authorization": "Bearer sk-1"}
