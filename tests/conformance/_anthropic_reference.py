"""An independent reference reading of recorded Anthropic Messages exchanges.

Nothing here imports `langchain_bhumi`: the conformance tests compare what the package
decodes with what this module reads from the same bytes. Bodies are read whole (no
incremental parsing), blocks are collected by their content-block `index` and read in
index order at the end, following the Messages API reference:

- text = every `text` block's initial text plus its `text_delta`s; reasoning = every
  `thinking` block's initial text plus its `thinking_delta`s;
- client tool calls = `tool_use` blocks (not `server_tool_use`), arguments = the joined
  `input_json_delta`s, or the block's initial `input` when no delta came;
- usage = the latest value of each field across `message_start.message.usage` and
  `message_delta.usage`; input tokens include cache reads and writes;
- `event: error` (or a data object of type `error`) is an in-stream error.
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

API_FAMILY = "anthropic-messages"

FINISH_MAP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

__all__ = [
    "API_FAMILY",
    "ENV_VAR",
    "AnthropicExpected",
    "Exchange",
    "ExpectedCall",
    "ExpectedError",
    "anthropic_exchanges",
    "expected_error_body",
    "expected_for",
    "streams_root",
]


@dataclass
class AnthropicExpected:
    """What one recorded Anthropic response says."""

    text: str = ""
    reasoning: str = ""
    calls: list[ExpectedCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    native_finish: str | None = None
    model: str | None = None
    response_id: str | None = None
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)
    server_blocks: list[dict[str, Any]] = field(default_factory=list)
    citations: list[Any] = field(default_factory=list)
    error: ExpectedError | None = None
    stopped: bool = False

    @property
    def finish_reason(self) -> str | None:
        mapped = FINISH_MAP.get(self.native_finish or "", self.native_finish)
        if self.calls and mapped in (None, "stop"):
            return "tool_calls"
        return mapped

    def _count(self, key: str) -> int:
        value = (self.usage or {}).get(key)
        return int(value) if isinstance(value, int) else 0

    @property
    def input_tokens(self) -> int:
        return (
            self._count("input_tokens")
            + self._count("cache_read_input_tokens")
            + self._count("cache_creation_input_tokens")
        )

    @property
    def output_tokens(self) -> int:
        return self._count("output_tokens")

    @property
    def reasoning_tokens(self) -> int | None:
        details = (self.usage or {}).get("output_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
            return int(details["thinking_tokens"])
        return None


def anthropic_exchanges() -> list[Exchange]:
    """Every exchange whose `meta.json` says `api_family == "anthropic-messages"` (only
    the synthetic ones when the recordings are absent)."""
    return load_exchanges(streams_root(), API_FAMILY)


class _Blocks:
    """Content blocks by index, as the events build them."""

    def __init__(self) -> None:
        self.by_index: dict[int, dict[str, Any]] = {}

    def start(self, index: int, block: dict[str, Any]) -> None:
        entry = {"block": dict(block), "text": [], "thinking": [], "json": [], "signature": None}
        if block.get("type") == "text" and block.get("text"):
            entry["text"].append(block["text"])
        if block.get("type") == "thinking":
            if block.get("thinking"):
                entry["thinking"].append(block["thinking"])
            entry["signature"] = block.get("signature") or None
        self.by_index[index] = entry

    def delta(self, index: int, delta: dict[str, Any], expected: AnthropicExpected) -> None:
        entry = self.by_index.setdefault(
            index,
            {"block": {}, "text": [], "thinking": [], "json": [], "signature": None},
        )
        kind = delta.get("type")
        if kind == "text_delta":
            entry["text"].append(delta.get("text") or "")
        elif kind == "thinking_delta":
            entry["thinking"].append(delta.get("thinking") or "")
        elif kind == "signature_delta":
            entry["signature"] = delta.get("signature")
        elif kind == "input_json_delta":
            entry["json"].append(delta.get("partial_json") or "")
        elif kind == "citations_delta":
            expected.citations.append(delta.get("citation"))

    def read(self, expected: AnthropicExpected) -> None:
        for index in sorted(self.by_index):
            entry = self.by_index[index]
            block = entry["block"]
            kind = block.get("type")
            expected.text += "".join(entry["text"])
            if kind == "thinking":
                thinking = "".join(entry["thinking"])
                expected.reasoning += thinking
                expected.thinking_blocks.append(
                    {"type": "thinking", "thinking": thinking, "signature": entry["signature"]}
                )
            elif kind == "redacted_thinking":
                expected.thinking_blocks.append(
                    {"type": "redacted_thinking", "data": block.get("data")}
                )
            elif kind == "tool_use":
                given = block.get("input")
                args = "".join(entry["json"])
                if not entry["json"] and given:
                    args = json.dumps(given)
                expected.calls.append(
                    ExpectedCall(name=block.get("name") or "", args_text=args, id=block.get("id"))
                )
            elif kind and kind != "text":
                kept = {k: v for k, v in block.items() if v is not None}
                if entry["json"]:
                    kept["input"] = json.loads("".join(entry["json"]))
                expected.server_blocks.append(kept)


def _merge_usage(expected: AnthropicExpected, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    merged = dict(expected.usage or {})
    merged.update({k: v for k, v in usage.items() if v is not None})
    expected.usage = merged


def _error_of(payload: Any) -> ExpectedError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return ExpectedError(
            kind=error.get("type"), code=None, message=str(error.get("message") or "")
        )
    return ExpectedError(kind=None, code=None, message=json.dumps(payload))


def expected_from_sse(body: bytes) -> AnthropicExpected:
    """What a streamed Messages body says, read whole."""
    expected = AnthropicExpected()
    blocks = _Blocks()
    for event in parse_sse(body):
        data = json.loads(event.data)
        kind = data.get("type")
        if event.event == "error" or kind == "error":
            expected.error = _error_of(data)
            break
        if kind == "message_start":
            message = data["message"]
            expected.response_id = message.get("id")
            expected.model = message.get("model")
            _merge_usage(expected, message.get("usage"))
        elif kind == "content_block_start":
            blocks.start(data["index"], data["content_block"])
        elif kind == "content_block_delta":
            blocks.delta(data["index"], data["delta"], expected)
        elif kind == "message_delta":
            expected.native_finish = data["delta"].get("stop_reason") or expected.native_finish
            _merge_usage(expected, data.get("usage"))
        elif kind == "message_stop":
            expected.stopped = True
    blocks.read(expected)
    unique_ids(expected.calls)
    return expected


def expected_from_json(payload: dict[str, Any]) -> AnthropicExpected:
    """What a non-streamed Messages body says."""
    expected = AnthropicExpected(stopped=True)
    expected.response_id = payload.get("id")
    expected.model = payload.get("model")
    expected.native_finish = payload.get("stop_reason")
    _merge_usage(expected, payload.get("usage"))
    blocks = _Blocks()
    for index, block in enumerate(payload.get("content") or ()):
        blocks.start(index, block)
        if block.get("type") == "text":
            expected.citations.extend(block.get("citations") or ())
    blocks.read(expected)
    unique_ids(expected.calls)
    return expected


def expected_for(exchange: Exchange) -> AnthropicExpected:
    """The reference reading of a 200 exchange's body."""
    if exchange.is_sse:
        return expected_from_sse(exchange.body)
    return expected_from_json(json.loads(exchange.body))


def expected_error_body(body: bytes) -> ExpectedError:
    """The provider's error from a non-2xx body."""
    return _error_of(json.loads(body))
