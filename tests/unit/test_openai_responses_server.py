"""The Responses API frontend: what a codex- or SDK-shaped request becomes, and the event
stream a client gets back (checked against the openai SDK's own stream parser)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_bhumi.core.events import (
    Finish,
    ProviderState,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
)
from langchain_bhumi.core.framing import SSEFramer
from langchain_bhumi.protocols.anthropic.client import AnthropicProtocol
from langchain_bhumi.protocols.base import ChatRequest, RequestDecodeError
from langchain_bhumi.protocols.openai_responses.server import (
    STATE_PREFIX,
    OpenAIResponsesEncoder,
    OpenAIResponsesServer,
    ResponsesIncomingRequest,
)

SERVER = OpenAIResponsesServer()

# A request shaped like codex 0.169's second turn (written from its documented shape, with
# our own texts): developer prompts, environment context as a user message, a namespace
# tool, a freeform tool, a hosted tool, and the first round echoed back.
CODEX_TURN_2: dict[str, Any] = {
    "model": "local-coder",
    "stream": True,
    "input": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "developer",
            "content": [{"type": "input_text", "text": "You are a coding agent."}],
        },
        {
            "type": "message",
            "role": "developer",
            "content": [
                {"type": "input_text", "text": "<skills>none</skills>"},
                {"type": "input_text", "text": "<permissions>all</permissions>"},
            ],
        },
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "<environment_context>cwd=/w</environment_context>"}
            ],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "create hello.txt"}],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Use the shell."}],
            "content": None,
            "encrypted_content": None,
        },
        {
            "type": "function_call",
            "status": "completed",
            "id": "fc_1",
            "name": "exec_command",
            "arguments": '{"cmd": "printf hi > hello.txt"}',
            "call_id": "call_1",
        },
        {
            "type": "function_call",
            "id": "fc_2",
            "name": "spawn_agent",
            "namespace": "multi_agent_v1",
            "arguments": "{}",
            "call_id": "call_2",
        },
        {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "exit 0"},
        {"type": "function_call_output", "call_id": "call_2", "output": "spawned"},
        {
            "type": "message",
            "role": "assistant",
            "phase": "final_answer",
            "content": [
                {"type": "output_text", "text": "Done.", "annotations": [], "logprobs": []}
            ],
        },
        {"type": "message", "role": "user", "content": "now patch it"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "exec_command",
            "description": "Run a command.",
            "strict": False,
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "description": "Agents.",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn_agent",
                    "strict": False,
                    "parameters": {"type": "object"},
                }
            ],
        },
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "Apply a patch.",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
        },
        {"type": "web_search", "external_web_access": True},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "reasoning": {"summary": "auto", "effort": "medium"},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "thread-1",
    "client_metadata": {"session_id": "s"},
}


def test_a_codex_shaped_turn_becomes_one_coherent_conversation() -> None:
    incoming = SERVER.decode_request(CODEX_TURN_2)
    chat = incoming.chat
    kinds = [type(m) for m in chat.messages]
    assert kinds == [
        SystemMessage,
        SystemMessage,
        HumanMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        ToolMessage,
        AIMessage,
        HumanMessage,
    ]
    turn = chat.messages[4]
    assert isinstance(turn, AIMessage)
    assert [(c["name"], c["args"], c["id"]) for c in turn.tool_calls] == [
        ("exec_command", {"cmd": "printf hi > hello.txt"}, "call_1"),
        ("multi_agent_v1__spawn_agent", {}, "call_2"),
    ]
    assert turn.additional_kwargs["reasoning_content"] == "Use the shell."
    assert [m.tool_call_id for m in chat.messages[5:7]] == ["call_1", "call_2"]  # type: ignore[attr-defined]
    assert chat.messages[7].content == "Done."
    assert chat.stream and chat.reasoning_effort == "medium" and chat.parallel_tool_calls
    names = [t["function"]["name"] for t in chat.tools or []]
    assert names == [
        "exec_command",
        "multi_agent_v1__spawn_agent",
        "apply_patch",
    ]  # web_search dropped
    patch = (chat.tools or [])[2]["function"]
    assert patch["parameters"]["required"] == ["input"]
    assert "start: /.+/" in patch["description"]
    assert chat.extra_body == {}  # store, include, client_metadata... are not forwarded


def test_the_whole_conversation_reaches_an_anthropic_backend_in_order() -> None:
    chat = SERVER.decode_request(CODEX_TURN_2).chat
    body = AnthropicProtocol().encode_request(ChatRequest(**{**_fields(chat), "model": "claude"}))
    assert "You are a coding agent." in json.dumps(body["system"])
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    results = [
        b["tool_use_id"] for b in body["messages"][2]["content"] if b["type"] == "tool_result"
    ]
    uses = [b["id"] for b in body["messages"][1]["content"] if b["type"] == "tool_use"]
    assert results == uses and len(uses) == 2


def _fields(chat: ChatRequest) -> dict[str, Any]:
    return {name: getattr(chat, name) for name in ChatRequest.__dataclass_fields__}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"previous_response_id": "resp_1"}, "server-side state"),
        ({"conversation": "conv_1"}, "server-side state"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "item_reference"),
        ({"input": []}, "non-empty"),
        ({"input": [{"type": "message", "role": "robot", "content": "x"}]}, "role"),
        ({"tool_choice": 7}, "tool_choice"),
        ({"text": {"format": {"type": "grammar"}}}, "text.format"),
    ],
)
def test_requests_it_cannot_serve_get_a_clear_400(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestDecodeError, match=message):
        SERVER.decode_request({"model": "m", "input": "hi", **change})


def test_tool_choice_and_text_format_translate() -> None:
    body = {
        "model": "m",
        "input": "hi",
        "instructions": "Be brief.",
        "tools": CODEX_TURN_2["tools"],
        "tool_choice": {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "exec_command"}],
        },
        "text": {
            "format": {
                "type": "json_schema",
                "name": "Out",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        "max_output_tokens": 64,
    }
    chat = SERVER.decode_request(body).chat
    assert isinstance(chat.messages[0], SystemMessage) and chat.messages[0].content == "Be brief."
    assert chat.tool_choice == "required"
    assert [t["function"]["name"] for t in chat.tools or []] == ["exec_command"]
    assert chat.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "Out", "schema": {"type": "object"}, "strict": True},
    }
    assert chat.max_tokens == 64
    named = SERVER.decode_request(
        {**body, "tool_choice": {"type": "custom", "name": "apply_patch"}}
    )
    assert named.chat.tool_choice == "apply_patch"


# --- the event stream -------------------------------------------------------------------


def stream_of(encoder: OpenAIResponsesEncoder, *batches: list[Any]) -> list[dict[str, Any]]:
    """Encode like the proxy does and read the bytes back as SSE events."""
    raw = encoder.start() + b"".join(encoder.encode(batch) for batch in batches) + encoder.finish()
    framer = SSEFramer()
    frames = framer.feed(raw) + framer.flush()[0]
    events = [json.loads(f.data) for f in frames]
    assert [f.event for f in frames] == [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def encoder_for(body: dict[str, Any]) -> OpenAIResponsesEncoder:
    incoming = SERVER.decode_request(body)
    assert isinstance(incoming, ResponsesIncomingRequest)
    return SERVER.response_encoder(incoming, response_id="req_abc")


def test_reasoning_text_and_calls_stream_as_ordered_items() -> None:
    encoder = encoder_for(CODEX_TURN_2)
    events = stream_of(
        encoder,
        [ReasoningDelta("Plan: "), ReasoningDelta("patch.")],
        [TextDelta("Patching.")],
        [
            ToolCallDelta(0, "call_9", "apply_patch", '{"input": "*** Begin'),
            ToolCallDelta(0, None, None, ' Patch"}'),
        ],
        [
            ToolCallDone(
                0,
                "call_9",
                "apply_patch",
                '{"input": "*** Begin Patch"}',
                {"input": "*** Begin Patch"},
            ),
            ToolCallDelta(1, "call_10", "multi_agent_v1__spawn_agent", "{}"),
            ToolCallDone(1, "call_10", "multi_agent_v1__spawn_agent", "{}", {}),
        ],
        [
            Usage(input_tokens=100, output_tokens=20, cache_read=40, reasoning=5),
            Finish("tool_calls"),
        ],
    )
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in done] == [
        "reasoning",
        "message",
        "custom_tool_call",
        "function_call",
    ]
    assert done[0]["summary"] == [{"type": "summary_text", "text": "Plan: patch."}]
    assert done[1]["content"][0]["text"] == "Patching."
    assert (done[2]["name"], done[2]["input"], done[2]["call_id"]) == (
        "apply_patch",
        "*** Begin Patch",
        "call_9",
    )
    assert (done[3]["name"], done[3]["namespace"]) == ("spawn_agent", "multi_agent_v1")
    final = events[-1]["response"]
    assert final["id"] == "resp_abc" and final["status"] == "completed"
    assert [i["id"] for i in final["output"]] == [i["id"] for i in done]
    assert final["usage"] == {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 0},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 5},
        "total_tokens": 120,
    }


def test_the_stream_parses_with_the_openai_sdk() -> None:
    """Every event validates against the SDK's typed union (as its stream parser does)."""
    openai_types = pytest.importorskip("openai.types.responses")
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(openai_types.ResponseStreamEvent)
    encoder = encoder_for({"model": "m", "input": "hi", "tools": CODEX_TURN_2["tools"]})
    events = stream_of(
        encoder,
        [ReasoningDelta("hmm"), TextDelta("Hi")],
        [
            ToolCallDelta(0, "c1", "exec_command", '{"cmd":"ls"}'),
            ToolCallDone(0, "c1", "exec_command", '{"cmd":"ls"}', {"cmd": "ls"}),
        ],
        [Usage(input_tokens=3, output_tokens=2), Finish("tool_calls")],
    )
    for event in events:
        parsed = adapter.validate_python(event)
        assert parsed.type == event["type"]


def test_a_length_stop_is_incomplete_and_a_failure_is_response_failed() -> None:
    events = stream_of(
        encoder_for({"model": "m", "input": "hi"}), [TextDelta("cut"), Finish("length")]
    )
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}

    encoder = encoder_for({"model": "m", "input": "hi"})
    raw = encoder.start() + encoder.encode([TextDelta("par")])
    raw += encoder.error(400, "invalid_request_error", "the prompt exceeds the context window")
    framer = SSEFramer()
    tail = [json.loads(f.data) for f in framer.feed(raw)][-2:]
    assert [e["type"] for e in tail] == ["error", "response.failed"]
    assert tail[1]["response"]["error"]["code"] == "context_length_exceeded"


def test_backend_state_rides_in_encrypted_content_and_comes_back() -> None:
    """An Anthropic backend's signed thinking goes out in a reasoning item the client
    replays verbatim; on the next turn it is the thinking block Anthropic requires."""
    encoder = encoder_for({"model": "m", "input": "hi"})
    encoder.set_backend(provider="anthropic", wire_format="anthropic")
    blocks = [{"type": "thinking", "thinking": "Think.", "signature": "SIG"}]
    body = encoder.complete(
        [
            ReasoningDelta("Think."),
            ToolCallDelta(0, "toolu_1", "exec_command", '{"cmd":"ls"}'),
            ToolCallDone(0, "toolu_1", "exec_command", '{"cmd":"ls"}', {"cmd": "ls"}),
            ProviderState("thinking_blocks", blocks),
            Finish("tool_calls"),
        ]
    )
    state = [i for i in body["output"] if i["type"] == "reasoning" and i.get("encrypted_content")]
    assert len(state) == 1 and state[0]["encrypted_content"].startswith(STATE_PREFIX)

    follow_up = {
        "model": "m",
        "input": [
            {"role": "user", "content": "hi"},
            *body["output"],
            {"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt"},
        ],
    }
    chat = SERVER.decode_request(follow_up).chat
    anthropic = AnthropicProtocol().encode_request(
        ChatRequest(**{**_fields(chat), "model": "claude"})
    )
    assistant = anthropic["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "Think.", "signature": "SIG"}
    assert assistant[1]["type"] == "tool_use" and assistant[1]["id"] == "toolu_1"
