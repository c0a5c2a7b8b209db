"""An independent reference reading of recorded OpenAI Responses API exchanges.

Nothing here imports `langchain_bhumi`. Where the package decodes a stream from its
deltas (`output_text.delta`, `function_call_arguments.delta`, reasoning deltas), this
module reads the finished items instead (`response.output_item.done`, or the `output`
array of a whole response, or of the terminal event for an item no event finished), so
the two readings meet only if every delta was put where it belongs.

Conventions both readings share, because the format leaves them open: an item is keyed
by its `output_index` (item ids rotate on GitHub Copilot); the reasoning of one item is
its summary texts, then its raw reasoning texts, joined by a blank line, and the
reasoning of several items is joined without one (as text blocks are); the response id
is the first one a lifecycle event names, the model the last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.conformance._reference import (
    ENV_VAR,
    Exchange,
    ExpectedCall,
    ExpectedError,
    load_exchanges,
    parse_sse,
    streams_root,
    unique_ids,
)

__all__ = [
    "ENV_VAR",
    "Exchange",
    "ResponsesExpected",
    "expected_error_body",
    "expected_for",
    "responses_exchanges",
    "streams_root",
]

API_FAMILY = "openai-responses"
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_exchanges() -> list[Exchange]:
    """Every recorded exchange of the Responses API family, sorted by name."""
    return load_exchanges(streams_root(), API_FAMILY)


@dataclass
class ResponsesExpected:
    """What one recorded Responses answer says."""

    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    calls: list[ExpectedCall] = field(default_factory=list)
    call_item_ids: dict[str, str] = field(default_factory=dict)
    """`call_id -> item id` (`fc_...`) of each function call that has one."""
    kept_items: list[dict[str, Any]] = field(default_factory=list)
    """Output items other than function calls, in output order."""
    annotations: list[Any] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    status: str | None = None
    incomplete_reason: str | None = None
    model: str | None = None
    response_id: str | None = None
    error: ExpectedError | None = None

    @property
    def finish_reason(self) -> str | None:
        if self.status == "completed":
            return "tool_calls" if self.calls else "stop"
        if self.status == "incomplete":
            reason = self.incomplete_reason or "incomplete"
            return INCOMPLETE.get(reason, reason)
        return None

    @property
    def input_tokens(self) -> int:
        return int((self.usage or {}).get("input_tokens") or 0)

    @property
    def output_tokens(self) -> int:
        return int((self.usage or {}).get("output_tokens") or 0)

    @property
    def cached_tokens(self) -> int | None:
        value = ((self.usage or {}).get("input_tokens_details") or {}).get("cached_tokens")
        return value if isinstance(value, int) else None

    @property
    def reasoning_tokens(self) -> int | None:
        value = ((self.usage or {}).get("output_tokens_details") or {}).get("reasoning_tokens")
        return value if isinstance(value, int) else None


def _error(payload: dict[str, Any]) -> ExpectedError:
    """An `error` event (flat or nested) or a failed response's `error`."""
    source = payload.get("response") if isinstance(payload.get("response"), dict) else payload
    error = source.get("error")
    if isinstance(error, dict):
        return ExpectedError(
            kind=error.get("type"),
            code=str(error["code"]) if error.get("code") is not None else None,
            message=str(error.get("message") or ""),
        )
    code = source.get("code")
    return ExpectedError(
        kind=None,
        code=str(code) if code is not None else None,
        message=str(source.get("message") or ""),
    )


def _read_items(items: list[dict[str, Any]], expected: ResponsesExpected) -> None:
    """Text, reasoning, calls and kept items of finished output items, in order."""
    item_ids: list[str | None] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            expected.kept_items.append(item)
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    expected.text += part.get("text") or ""
                    expected.annotations.extend(part.get("annotations") or ())
                elif part.get("type") == "refusal":
                    expected.refusal += part.get("refusal") or ""
        elif kind == "function_call":
            call_id = item.get("call_id") or None
            expected.calls.append(
                ExpectedCall(
                    name=item.get("name") or "", args_text=item.get("arguments") or "", id=call_id
                )
            )
            item_ids.append(item.get("id"))
        else:
            if kind == "reasoning":
                texts = [
                    part.get("text") or ""
                    for key in ("summary", "content")
                    for part in item.get(key) or ()
                ]
                expected.reasoning += "\n\n".join(t for t in texts if t)
            expected.kept_items.append(item)
    expected.calls = unique_ids(expected.calls)
    # By position: two calls under one `call_id` keep their own item ids.
    for call, item_id in zip(expected.calls, item_ids, strict=True):
        if call.id and item_id:
            expected.call_item_ids[call.id] = item_id


def _read_response(response: dict[str, Any], expected: ResponsesExpected) -> None:
    """Status, usage, identity of a Response object (whole, or a terminal snapshot)."""
    if response.get("id") and expected.response_id is None:
        expected.response_id = response["id"]
    if response.get("model"):
        expected.model = response["model"]
    if response.get("usage"):
        expected.usage = response["usage"]
    expected.status = response.get("status")
    details = response.get("incomplete_details") or {}
    expected.incomplete_reason = details.get("reason")


def expected_from_sse(body: bytes) -> ResponsesExpected:
    """What a streamed Responses body says, from its finished items."""
    expected = ResponsesExpected()
    finished: dict[int, dict[str, Any]] = {}
    final_output: list[dict[str, Any]] = []
    for event in parse_sse(body):
        payload = json.loads(event.data)
        kind = payload.get("type") or event.event
        if kind == "error":
            expected.error = _error(payload)
            break
        response = payload.get("response")
        if kind == "response.failed":
            expected.error = _error(payload)
            break
        if kind == "response.output_item.done":
            finished[payload.get("output_index", len(finished))] = payload["item"]
        elif isinstance(response, dict):
            if response.get("id") and expected.response_id is None:
                expected.response_id = response["id"]
            if response.get("model"):
                expected.model = response["model"]
            if kind in TERMINAL:
                _read_response(response, expected)
                final_output = response.get("output") or []
                break
    for index, item in enumerate(final_output):
        finished.setdefault(index, item)
    _read_items([finished[i] for i in sorted(finished)], expected)
    return expected


def expected_from_json(payload: dict[str, Any]) -> ResponsesExpected:
    """What a non-streamed Response object says."""
    expected = ResponsesExpected()
    _read_response(payload, expected)
    _read_items(payload.get("output") or [], expected)
    return expected


def expected_for(exchange: Exchange) -> ResponsesExpected:
    """The reference reading of a 200 exchange's body."""
    if exchange.is_sse:
        return expected_from_sse(exchange.body)
    return expected_from_json(json.loads(exchange.body))


def expected_error_body(body: bytes) -> ExpectedError:
    """The provider's error from a non-2xx body (`{"error": {...}}`)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ExpectedError(kind=None, code=None, message=body.decode("utf-8", "replace"))
    return _error(payload)


def terminal_offset(body: bytes) -> int | None:
    """Where the frame of an SSE body's terminal event starts, if it has one (the frame's
    `data:` line may come before its `event:` line: Bedrock sends them so)."""
    marks = [
        body.rfind(mark)
        for kind in TERMINAL
        for mark in (
            f"event: {kind}".encode(),
            f'"type":"{kind}"'.encode(),
            f'"type": "{kind}"'.encode(),
        )
    ]
    found = [m for m in marks if m >= 0]
    if not found:
        return None
    position = min(found)
    ends = [
        start + len(separator)
        for separator in (b"\n\n", b"\r\n\r\n")
        if (start := body.rfind(separator, 0, position)) >= 0
    ]
    return max(ends, default=0)
