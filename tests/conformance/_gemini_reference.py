"""An independent reference reading of recorded Gemini (`generateContent`) exchanges.

Nothing here imports `langchain_bhumi`: the conformance tests compare what the package
decodes with what this module reads from the same recorded bytes, read whole (no
incremental framing): SSE bodies are split into events with the WHATWG rules, JSON-array
bodies (`streamGenerateContent` without `alt=sse`) with one `json.loads`.

The reading rules, from the Gemini API reference:

- only candidate 0 (or a candidate without `index`) is read;
- `text` parts are the answer, parts with `thought: true` the reasoning;
- each `functionCall` part is one call; Vertex AI's streamed arguments (`partialArgs`
  with `willContinue`) continue the call opened by the last named part until a part
  without `willContinue`; a string argument streamed in pieces is concatenated;
- a `thoughtSignature` on a call part belongs to that call; the first one on any other
  part belongs to the message;
- `usageMetadata` is cumulative: the last one with token counts is the usage; output
  tokens are candidates + thoughts, input tokens prompt + tool-use prompt;
- the last `finishReason` is the finish; STOP becomes `tool_calls` when calls were made;
- `modelVersion` names the model, the first `responseId` identifies the response;
- a call id repeated within one response comes out as `<id>_<position>`, as a model must
  hand it on (two calls under one id cannot both get their results back).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conformance import _reference
from tests.conformance._reference import distinct

FINISH_MAP = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
}
# `$alt=json;enum-encoding=int` bodies (langchaingo) send enum numbers.
FINISH_NUMBERS = {1: "STOP", 2: "MAX_TOKENS", 3: "SAFETY", 4: "RECITATION"}


class Exchange(_reference.Exchange):
    """One recorded Gemini exchange: the common fields, plus its request, how it was
    recorded and the model it names."""

    @property
    def request(self) -> dict[str, Any] | None:
        request_file = self.meta.get("request_file")
        if not request_file or not (self.path / request_file).is_file():
            return None
        value: dict[str, Any] = json.loads((self.path / request_file).read_text("utf-8"))
        return value

    @property
    def streamed(self) -> bool:
        """Recorded from `streamGenerateContent` (SSE or a JSON array)."""
        return bool(self.meta.get("streaming"))

    @property
    def model(self) -> str:
        return str(self.meta.get("model") or "gemini-test")

    @property
    def folder(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def load_exchanges(root: Path) -> list[Exchange]:
    """Every exchange under `root` whose `meta.json` says `api_family == "gemini"`,
    followed by the synthetic ones (those alone when `root` is absent)."""
    return [Exchange(e.name, e.path, e.meta) for e in _reference.load_exchanges(root, "gemini")]


# --- bodies -----------------------------------------------------------------------------


def sse_data(body: bytes) -> list[str]:
    """The `data` of every event of an SSE body (WHATWG rules, read whole)."""
    text = body.decode("utf-8")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    events: list[str] = []
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                events.append("\n".join(data))
            data = []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
    if data:
        events.append("\n".join(data))
    return events


def chunks_of(exchange: Exchange) -> list[dict[str, Any]]:
    """The response chunks: SSE events, JSON-array elements, or the one JSON object."""
    body = exchange.body
    if exchange.is_sse:
        return [json.loads(data) for data in sse_data(body) if data.strip()]
    value = json.loads(body)
    return value if isinstance(value, list) else [value]


# --- expected result --------------------------------------------------------------------


@dataclass
class ExpectedCall:
    name: str
    args: dict[str, Any]
    native_id: str | None = None
    signature: str | None = None


@dataclass
class Expected:
    """What one recorded response says."""

    text: str = ""
    reasoning: str = ""
    calls: list[ExpectedCall] = field(default_factory=list)
    signature: str | None = None
    usage: dict[str, int] | None = None
    native_finish: str | None = None
    finish_message: str | None = None
    model: str | None = None
    response_id: str | None = None

    @property
    def finish_reason(self) -> str | None:
        if self.native_finish is None:
            return "tool_calls" if self.calls else None
        mapped = FINISH_MAP.get(self.native_finish, self.native_finish)
        return "tool_calls" if self.calls and mapped == "stop" else mapped


def _pick(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj[camel] if camel in obj else obj.get(snake)


def _usage(metadata: dict[str, Any]) -> dict[str, int] | None:
    counts = {
        key: int(metadata[key])
        for key in (
            "promptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "toolUsePromptTokenCount",
            "cachedContentTokenCount",
            "totalTokenCount",
        )
        if key in metadata
    }
    if not counts:
        return None
    usage = {
        "input_tokens": counts.get("promptTokenCount", 0)
        + counts.get("toolUsePromptTokenCount", 0),
        "output_tokens": counts.get("candidatesTokenCount", 0)
        + counts.get("thoughtsTokenCount", 0),
    }
    usage["total_tokens"] = counts.get(
        "totalTokenCount", usage["input_tokens"] + usage["output_tokens"]
    )
    if "thoughtsTokenCount" in counts:
        usage["reasoning"] = counts["thoughtsTokenCount"]
    if "cachedContentTokenCount" in counts:
        usage["cache_read"] = counts["cachedContentTokenCount"]
    return usage


def _set_argument(args: dict[str, Any], path: str, value: Any, append: bool) -> None:
    """`$.a.b` paths only (all the recordings use); anything else fails the reading."""
    assert path.startswith("$.") and "[" not in path, path
    keys = path[2:].split(".")
    target = args
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    if append and isinstance(target.get(keys[-1]), str):
        target[keys[-1]] += value
    else:
        target[keys[-1]] = value


def expected_from_chunks(chunks: list[dict[str, Any]]) -> Expected:
    """What a response (all its chunks) says."""
    expected = Expected()
    open_call: ExpectedCall | None = None
    continued_path: str | None = None
    for chunk in chunks:
        if expected.response_id is None and chunk.get("responseId"):
            expected.response_id = chunk["responseId"]
        if chunk.get("modelVersion"):
            expected.model = chunk["modelVersion"]
        metadata = chunk.get("usageMetadata")
        if metadata:
            usage = _usage(metadata)
            if usage is not None:
                expected.usage = usage
        for candidate in chunk.get("candidates") or []:
            if candidate.get("index", 0) != 0:
                continue
            for part in (candidate.get("content") or {}).get("parts") or []:
                signature = part.get("thoughtSignature")
                if "functionCall" in part:
                    call = part["functionCall"]
                    if "name" in call:
                        open_call = ExpectedCall(
                            name=call["name"],
                            args=dict(call.get("args") or {}),
                            native_id=call.get("id"),
                            signature=signature,
                        )
                        expected.calls.append(open_call)
                    assert open_call is not None, "a call fragment before any named call"
                    for partial in call.get("partialArgs") or []:
                        path = partial["jsonPath"]
                        if "stringValue" in partial:
                            value: Any = partial["stringValue"]
                        elif "numberValue" in partial:
                            value = partial["numberValue"]
                        elif "boolValue" in partial:
                            value = partial["boolValue"]
                        else:
                            value = None
                        _set_argument(open_call.args, path, value, continued_path == path)
                        continued_path = path if partial.get("willContinue") else None
                    if not call.get("willContinue"):
                        open_call = None
                    continue
                if "text" in part:
                    if part.get("thought"):
                        expected.reasoning += part["text"]
                    else:
                        expected.text += part["text"]
                if signature and expected.signature is None:
                    expected.signature = signature
            reason = candidate.get("finishReason")
            if reason is not None:
                expected.native_finish = (
                    FINISH_NUMBERS.get(reason, str(reason)) if isinstance(reason, int) else reason
                )
                expected.finish_message = candidate.get("finishMessage")
    # Two calls under one id: the later one comes out as `<id>_<position>`.
    unique_ids = distinct([c.native_id for c in expected.calls])
    for call, unique in zip(expected.calls, unique_ids, strict=True):
        call.native_id = unique
    return expected


def expected_for(exchange: Exchange) -> Expected:
    return expected_from_chunks(chunks_of(exchange))


@dataclass
class ExpectedError:
    status: str | None
    message: str
    retry_after: float | None


def expected_error(exchange: Exchange) -> ExpectedError:
    """A Google error body: `{"error": {"code", "message", "status", "details"}}`."""
    error = json.loads(exchange.body)["error"]
    retry_after = None
    for detail in error.get("details") or []:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            retry_after = float(delay[:-1])
    return ExpectedError(error.get("status"), error["message"], retry_after)


# --- requests ---------------------------------------------------------------------------

_SNAKE_FIELDS = {
    "system_instruction": "systemInstruction",
    "generation_config": "generationConfig",
    "tool_config": "toolConfig",
    "function_declarations": "functionDeclarations",
    "function_calling_config": "functionCallingConfig",
    "function_call": "functionCall",
    "function_response": "functionResponse",
    "thought_signature": "thoughtSignature",
    "parameters_json_schema": "parametersJsonSchema",
    "response_json_schema": "responseJsonSchema",
    "response_mime_type": "responseMimeType",
    "response_modalities": "responseModalities",
    "max_output_tokens": "maxOutputTokens",
    "safety_settings": "safetySettings",
}
# Gemini `Type` enum numbers (langchaingo sends schemas with `enum-encoding=int`).
TYPE_NUMBERS = {1: "STRING", 2: "NUMBER", 3: "INTEGER", 4: "BOOLEAN", 5: "ARRAY", 6: "OBJECT"}
_DATA_KEYS = frozenset({"args", "response"})
"""Values under these keys are user data, kept as they are."""


def camel_fields(value: Any) -> Any:
    """A request with the snake_case field names some recorders store made camelCase."""
    if isinstance(value, list):
        return [camel_fields(v) for v in value]
    if not isinstance(value, dict):
        return value
    renamed: dict[str, Any] = {}
    for key, item in value.items():
        if key in _DATA_KEYS:
            renamed[key] = item
        elif key == "properties" and isinstance(item, dict):
            renamed[key] = {name: camel_fields(schema) for name, schema in item.items()}
        else:
            renamed[_SNAKE_FIELDS.get(key, key)] = camel_fields(item)
    return renamed


def signature_bytes(signature: str | None) -> bytes | None:
    """A thought signature's bytes, whether it was stored as base64 or base64url."""
    if signature is None:
        return None
    text = signature.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))
