"""Normalized stream events: what every wire format decodes into.

Protocol decoders turn provider frames into these; the LangChain adapter turns them into
message chunks, and the proxy encodes them back into another wire format. They
are plain slotted objects, built once per meaningful delta, never validated again.

Tool calls arrive here already assembled (see `toolcalls.py`): a `ToolCallDelta` has a
stable integer `index` per call, carries `id` and `name` only on the call's first delta,
and `args` as a string fragment. `ToolCallDone` follows once the call's arguments are
complete, with the parsed arguments or the parse error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TextDelta:
    """A piece of the answer text. `block` numbers text blocks for formats that have several."""

    text: str
    block: int = 0


@dataclass(slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning, kept out of the answer text.

    `signature` carries an opaque provider signature that must be sent back on the next
    turn (Anthropic thinking signatures, Gemini thought signatures); `redacted` carries
    encrypted reasoning that has no readable text.
    """

    text: str
    block: int = 0
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class RefusalDelta:
    """A piece of a refusal message (OpenAI structured-output refusals)."""

    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of one tool call, keyed by a stable `index` (0, 1, ... in call order)."""

    index: int
    id: str | None
    name: str | None
    args: str


@dataclass(slots=True)
class ToolCallDone:
    """A tool call whose arguments are complete.

    `args` is the parsed JSON object, or `None` when `args_text` is not a JSON object, in
    which case `error` says why. `""` arguments mean a call with no arguments (`{}`).
    `extras` holds provider data that must travel with the call (e.g. a Gemini thought
    signature) and be sent back with it.
    """

    index: int
    id: str
    name: str
    args_text: str
    args: dict[str, Any] | None
    error: str | None = None
    extras: dict[str, Any] | None = None


@dataclass(slots=True)
class Usage:
    """Token usage for the whole response, emitted once.

    `input_tokens` includes cached tokens; `cache_read`/`cache_creation` say how many of
    them; `reasoning` says how many of `output_tokens` were reasoning.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cache_read: int | None = None
    cache_creation: int | None = None
    reasoning: int | None = None
    input_audio: int | None = None
    output_audio: int | None = None


@dataclass(slots=True)
class ResponseInfo:
    """Identity of the response: provider's message id, model that answered, and extras
    (system fingerprint, service tier, ...), merged across frames."""

    id: str | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderState:
    """Opaque per-message data the provider expects back on the next turn (OpenRouter
    `reasoning_details`, Gemini-compat `extra_content`, ...). Emitted complete, once."""

    key: str
    value: Any


@dataclass(slots=True)
class Finish:
    """The model stopped.

    `reason` is normalized to `stop`, `length`, `tool_calls` or `content_filter` when the
    provider's reason maps to one of those (other reasons pass through); `native` is the
    provider's own word.
    """

    reason: str
    native: str | None = None


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolCallDelta
    | ToolCallDone
    | Usage
    | ResponseInfo
    | ProviderState
    | Finish
)
