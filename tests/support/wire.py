"""Small builders of provider answers in each wire format, for scripted servers.

Each `*_answer` returns one `Scripted` streamed response: some text, or tool calls given as
`(id, name, args)` triples. The response id is a parameter so tests can make a server
repeat it (Ollama draws ids from 1,000 values; scripted servers and proxies send constants).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.server import Received, Scripted

Call = tuple[str, str, dict[str, Any]]
"""A tool call as `(id, name, args)`."""


def openai_answer(
    text: str = "", calls: tuple[Call, ...] = (), *, response_id: str = "chatcmpl-1"
) -> Scripted:
    """A chat-completions SSE stream."""

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **top: Any) -> Any:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {
            "id": response_id,
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": choices,
            **top,
        }

    chunks = [chunk({"role": "assistant", "content": text or None})]
    for index, (call_id, name, args) in enumerate(calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                    ]
                }
            )
        )
    chunks.append(chunk({}, "tool_calls" if calls else "stop"))
    chunks.append(
        chunk(None, usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    )
    return Scripted.sse(*chunks)


def anthropic_answer(
    text: str = "", calls: tuple[Call, ...] = (), *, response_id: str = "msg_1", stream: bool = True
) -> Scripted:
    """A Messages API SSE stream, or (`stream=False`) the whole message as JSON."""
    if not stream:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content.extend(
            {"type": "tool_use", "id": call_id, "name": name, "input": args}
            for call_id, name, args in calls
        )
        return Scripted.json(
            {
                "id": response_id,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": content,
                "stop_reason": "tool_use" if calls else "end_turn",
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }
        )
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": response_id,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        }
    ]
    blocks: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if text:
        blocks.append(({"type": "text", "text": ""}, {"type": "text_delta", "text": text}))
    for call_id, name, args in calls:
        blocks.append(
            (
                {"type": "tool_use", "id": call_id, "name": name, "input": {}},
                {"type": "input_json_delta", "partial_json": json.dumps(args)},
            )
        )
    for index, (start, delta) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        }
    )
    events.append({"type": "message_stop"})
    return Scripted(
        parts=[f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    )


def gemini_answer(
    text: str = "",
    calls: tuple[Call, ...] = (),
    *,
    response_id: str = "resp-1",
    stream: bool = True,
) -> Scripted:
    """A `streamGenerateContent?alt=sse` stream, or (`stream=False`) a `generateContent`
    answer (Gemini sends no call ids; ours are ignored)."""
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"text": text})
    parts.extend({"functionCall": {"name": name, "args": args}} for _, name, args in calls)
    chunk = {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": "gemini-2.5-flash",
        "responseId": response_id,
    }
    if not stream:
        return Scripted.json(chunk)
    return Scripted(parts=[f"data: {json.dumps(chunk)}\r\n\r\n".encode()])


def responses_answer(
    text: str = "",
    calls: tuple[Call, ...] = (),
    *,
    response_id: str = "resp_1",
    reasoning: tuple[str, str] | None = None,
    hosted: tuple[dict[str, Any], ...] = (),
    stream: bool = True,
) -> Scripted:
    """A Responses API (`/v1/responses`) SSE stream: a message item, then function calls;
    first a reasoning item when `reasoning` gives its `(summary, encrypted_content)`, and
    last the `hosted` items (hosted-tool calls, whole). One `response` object when not
    `stream`."""
    items: list[dict[str, Any]] = []
    if reasoning is not None:
        summary, encrypted = reasoning
        items.append(
            {
                "type": "reasoning",
                "id": f"rs_{response_id}",
                "summary": [{"type": "summary_text", "text": summary}],
                "encrypted_content": encrypted,
            }
        )
    if text:
        content = [{"type": "output_text", "text": text, "annotations": []}]
        items.append(
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        )
    for call_id, name, args in calls:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{call_id}",
                "call_id": call_id,
                "name": name,
                "arguments": json.dumps(args),
                "status": "completed",
            }
        )
    items.extend(hosted)
    response = {"id": response_id, "object": "response", "model": "m", "output": []}
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    completed = {**response, "status": "completed", "output": items, "usage": usage}
    if not stream:
        return Scripted.json(completed)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**response, "status": "in_progress"}}
    ]
    for index, item in enumerate(items):
        added = item  # as OpenAI opens items: empty, the content following in deltas
        if item["type"] == "reasoning":
            added = {"type": "reasoning", "id": item["id"], "summary": []}
        elif item["type"] == "function_call":
            added = {**item, "arguments": "", "status": "in_progress"}
        events.append({"type": "response.output_item.added", "output_index": index, "item": added})
        if item["type"] == "reasoning":
            events.append(
                {
                    "type": "response.reasoning_summary_text.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "summary_index": 0,
                    "delta": item["summary"][0]["text"],
                }
            )
        elif item["type"] == "message":
            events.append(
                {
                    "type": "response.output_text.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "content_index": 0,
                    "delta": text,
                }
            )
        elif item["type"] == "function_call":
            events.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "delta": item["arguments"],
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": completed})
    return Scripted(
        parts=[f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    )


def mistral_answer(
    text: str = "", calls: tuple[Call, ...] = (), *, response_id: str = "cmpl-1"
) -> Scripted:
    """A Mistral chat-completions stream: whole calls without `index`, usage on the last
    chunk unasked."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **top: Any) -> Any:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": response_id,
            "object": "chat.completion.chunk",
            "model": "mistral-large",
            "choices": [choice],
            **top,
        }

    chunks = [chunk({"role": "assistant", "content": text})]
    if calls:
        tool_calls = [
            {"id": call_id, "function": {"name": name, "arguments": json.dumps(args)}}
            for call_id, name, args in calls
        ]
        chunks.append(chunk({"tool_calls": tool_calls}))
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    chunks.append(chunk({"content": ""}, "tool_calls" if calls else "stop", usage=usage))
    return Scripted.sse(*chunks)


MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")


class MistralServer:
    """A `ScriptedServer` responder that checks tool-call ids as Mistral does: any id in
    the request that is not 9 characters of `[a-zA-Z0-9]` gets Mistral's 400; otherwise
    the next queued answer."""

    def __init__(self, *answers: Scripted) -> None:
        self.answers = list(answers)
        self.rejected: list[str] = []

    def __call__(self, request: Received) -> Scripted:
        for message in request.json().get("messages", ()):
            ids = [c.get("id", "") for c in message.get("tool_calls") or ()]
            if message.get("role") == "tool":
                ids.append(message.get("tool_call_id", ""))
            for call_id in ids:
                if not MISTRAL_ID.fullmatch(call_id):
                    self.rejected.append(call_id)
                    error = {
                        "object": "error",
                        "message": f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, "
                        "with a length of 9.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                    return Scripted.json(error, status=400)
        return self.answers.pop(0)


class ResponsesServer:
    """A `ScriptedServer` responder that checks `call_id`s as OpenAI's Responses API does:
    an empty one or one longer than 64 characters gets its 400, and so does an output
    whose call is not in the request; otherwise the next queued answer."""

    def __init__(self, *answers: Scripted) -> None:
        self.answers = list(answers)
        self.rejected: list[str] = []

    def __call__(self, request: Received) -> Scripted:
        items = [i for i in request.json().get("input", ()) if isinstance(i, dict)]
        calls = {i.get("call_id") for i in items if i.get("type") == "function_call"}
        for n, item in enumerate(items):
            call_id = item.get("call_id")
            if call_id is None:
                continue
            if not call_id:
                message, code = "empty string. Expected a string with minimum length 1", "empty"
            elif len(call_id) > 64:
                message = (
                    "string too long. Expected a string with maximum length 64, but got a "
                    f"string with length {len(call_id)} instead."
                )
                code = "string_above_max_length"
            elif item.get("type") == "function_call_output" and call_id not in calls:
                message = f"No tool call found for function call output with call_id {call_id}."
                code = None
            else:
                continue
            self.rejected.append(call_id)
            error = {
                "message": f"Invalid 'input[{n}].call_id': {message}",
                "type": "invalid_request_error",
                "param": f"input[{n}].call_id",
                "code": code,
            }
            return Scripted.json({"error": error}, status=400)
        return self.answers.pop(0)


ANSWERS = {
    "openai": openai_answer,
    "anthropic": anthropic_answer,
    "gemini": gemini_answer,
    "responses": responses_answer,
}
"""Answer builders by wire family."""

MODELS = {
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-sonnet-4-5",
    "gemini": "gemini/gemini-2.5-flash",
    "responses": "openai/gpt-5-codex",  # a Responses-only model: ChatBhumi sends /responses
}
"""A model string per wire family (the base URL decides where it goes)."""
