"""What every wire format's response decoder is, and the pieces they all share.

A decoder turns the frames of one response (see `framing.py`) into normalized events
(`events.py`), whether the response was streamed or came whole: `FrameDecoder.feed`
decodes the frames of one network read; `close` ends a stream (checking the format's end
marker); `decode_whole` reads a non-streamed body through the same code, so both paths
build the same message. `close_into` appends what is emitted once per response (pending
tool calls, usage, provider state, response info, finish reason).

Shared here so that a new format writes only what is its own: `json_frame` and
`json_object_frame` (a frame's JSON, or the error it is), `normalize_finish` (each format
brings its table of finish reasons), `stream_error` (an error object inside a stream, in
any common shape) and `describe_error` (the same for error bodies).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol, overload

from langchain_bhumi.core.errors import (
    BrokenStreamError,
    InvalidStreamDataError,
    StreamErrorEvent,
)
from langchain_bhumi.core.events import Finish, StreamEvent
from langchain_bhumi.core.framing import Frame, Framer


class StreamDecoder(Protocol):
    """Turns one response's frames into normalized events (one per protocol module)."""

    def new_framer(self, content_type: str) -> Framer:
        """The framing of a response with this Content-Type (SSE, JSON array, ...)."""
        ...

    def feed(self, frames: list[Frame]) -> list[StreamEvent]:
        """Decode the frames of one network read. Raises `BrokenStreamError` subclasses."""
        ...

    def close(self) -> list[StreamEvent]:
        """The body ended: return the final events, or raise `StreamCutError` if the
        protocol's end marker never came."""
        ...

    @property
    def ending(self) -> str:
        """How the stream ended, for the log (`"[DONE]"`, `"message_stop"`, ...)."""
        ...


UNREADABLE = (AttributeError, IndexError, KeyError, TypeError, ValueError, RecursionError)
"""What a decoder's dict and list accesses raise on a frame of an unexpected shape (a
string where an object belongs, a list for an index): `FrameDecoder` turns them into
`InvalidStreamDataError`, so a malformed response is a `BhumiError`, never a crash."""


def unreadable(exc: BaseException, data: str) -> InvalidStreamDataError:
    """The error for a frame (or body) a decoder could not read, quoting it."""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return InvalidStreamDataError(
        f"a frame has a shape the decoder cannot read ({reason})", data=data
    )


def invalid_json(frame: Frame, exc: ValueError) -> InvalidStreamDataError:
    """The error for a frame whose data is not JSON: the parser's reason, an excerpt from
    around the offending character, and its byte offset in the body (the offset where the
    frame's data starts when the character is past a line break of multi-line data)."""
    data = frame.data
    offset = getattr(frame, "offset", None)  # None for frames no framer made
    if not isinstance(exc, json.JSONDecodeError):
        return InvalidStreamDataError("a stream frame is not valid JSON", data=data, offset=offset)
    before = data[: exc.pos]
    if offset is not None and "\n" not in before:
        offset += len(before.encode("utf-8", "surrogatepass"))
    start = max(0, exc.pos - 150) if exc.pos > 250 else 0
    return InvalidStreamDataError(
        f"a stream frame is not valid JSON ({exc.msg} at character {exc.pos})",
        data=data[start:],
        offset=offset,
    )


class FrameDecoder(ABC):
    """Base of the protocol decoders: `feed` runs `decode_frames` and, if a frame fails,
    hands the events decoded before it to the error (`pending`), so the transport can
    deliver them: nothing that arrived is lost because a later frame was bad. A frame of
    a shape the decoder's code cannot read (see `UNREADABLE`) fails the same way, as an
    `InvalidStreamDataError` quoting it."""

    __slots__ = ()

    @abstractmethod
    def new_framer(self, content_type: str) -> Framer:
        """The framing of a response with this Content-Type (SSE, JSON array, ...)."""

    @abstractmethod
    def close(self) -> list[StreamEvent]:
        """The body ended: the final events, or `StreamCutError` if the format's end marker
        never came."""

    @property
    @abstractmethod
    def ending(self) -> str:
        """How the stream ended, for the log (`"[DONE]"`, `"message_stop"`, ...)."""

    def feed(self, frames: list[Frame]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        frame = frames[0] if frames else None
        try:
            if len(frames) == 1:
                self.decode_frames(frames, out)
            else:  # one at a time, so that a failure names its frame
                for frame in frames:
                    self.decode_frames([frame], out)
        except BrokenStreamError as exc:
            exc.pending = out
            raise
        except UNREADABLE as exc:
            error = unreadable(exc, frame.data if frame is not None else "")
            error.pending = out
            raise error from exc
        return out

    @abstractmethod
    def decode_frames(self, frames: list[Frame], out: list[StreamEvent]) -> None:
        """Decode the frames of one network read into `out`."""

    @abstractmethod
    def decode_body(self, body: Any, out: list[StreamEvent]) -> None:
        """Decode a whole non-streamed response body into `out`, as its stream would be."""

    @abstractmethod
    def close_into(self, out: list[StreamEvent]) -> list[StreamEvent]:
        """Append the once-per-response events (pending calls, usage, state, info,
        finish) to `out` and return it."""

    def decode_whole(self, body: Any) -> list[StreamEvent]:
        """The events of one non-streamed response body."""
        out: list[StreamEvent] = []
        try:
            self.decode_body(body, out)
            return self.close_into(out)
        except UNREADABLE as exc:
            raise unreadable(exc, _quote(body)) from exc


def _quote(body: Any) -> str:
    try:
        return json.dumps(body, ensure_ascii=False)[:1000]
    except (TypeError, ValueError):
        return repr(body)[:1000]


def json_frame(frame: Frame) -> Any:
    """The JSON value a stream frame carries. A frame that is not JSON is the server's own
    error text when it came as `event: error` (`StreamErrorEvent`), else an
    `InvalidStreamDataError` quoting it."""
    data = frame.data
    try:
        return json.loads(data)
    except ValueError as exc:
        if frame.event == "error":
            raise stream_error(data) from None
        raise invalid_json(frame, exc) from None


@overload
def json_object_frame(frame: Frame) -> dict[str, Any]: ...


@overload
def json_object_frame(frame: Frame, *, done_marker: bool) -> dict[str, Any] | None: ...


def json_object_frame(frame: Frame, *, done_marker: bool = False) -> dict[str, Any] | None:
    """The JSON object a stream frame carries (see `json_frame`); any other JSON value is
    an `InvalidStreamDataError`. With `done_marker`, OpenAI's `[DONE]` terminator (which
    some servers add to streams of other formats) is `None`."""
    try:
        value = json_frame(frame)
    except BrokenStreamError:
        if done_marker and frame.data.strip() == "[DONE]":
            return None
        raise
    if not isinstance(value, dict):
        raise InvalidStreamDataError("a stream frame is not a JSON object", data=frame.data)
    return value


def normalize_finish(
    native: str | None, has_calls: bool, table: Mapping[str, str]
) -> Finish | None:
    """The normalized finish reason from a format's own word (`table` maps it to `stop`,
    `length`, `tool_calls` or `content_filter`; other words pass through). A normal stop
    after tool calls, or no reason at all with calls pending, is `tool_calls`."""
    if native is None:
        return Finish("tool_calls") if has_calls else None
    if not isinstance(native, str):
        raise TypeError(f"a finish reason must be a string, got {type(native).__name__}")
    reason = table.get(native, native)
    if has_calls and reason == "stop":
        reason = "tool_calls"
    return Finish(reason, native)


def not_text(field: str, value: Any) -> TypeError:
    """The error for a field that must hold text and holds something else."""
    return TypeError(f"{field} must be a string, got {type(value).__name__}")


def token_count(value: Any) -> int | None:
    """A count from a usage object: an integer, a whole float, or a string of digits (how
    JSON writes 64-bit integers); `None` stays `None`. Anything else is a frame of an
    unexpected shape (`TypeError`)."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TypeError(f"a token count must be an integer, got {value!r:.40}")


def stream_error(payload: Any, *, failed: dict[str, Any] | None = None) -> StreamErrorEvent:
    """An error the server sent inside a 2xx stream, from its payload (an error object in
    any shape `describe_error` knows, or plain text).

    `failed`: the object that failed, for formats whose errors carry a `status` (OpenAI
    Responses: the `error` event itself, or the failed `response` inside `payload`). What
    happened is read from its `error` object, else its own `code` and `message`, else its
    `status` ("the response failed"); the message is cut at 500 characters.
    """
    if isinstance(payload, str):
        return StreamErrorEvent(error_type=None, error_message=payload[:500], payload=payload)
    holder = payload if failed is None else failed
    error = holder.get("error") if isinstance(holder, dict) else None
    if failed is None or isinstance(error, dict):
        error_type, message, _ = describe_error(holder)
    else:  # no error object: the failed object's own code and message
        code, text = failed.get("code"), failed.get("message")
        error_type = code if isinstance(code, str) else None
        message = text if isinstance(text, str) else None
    if isinstance(error, dict):
        code = error.get("code")  # OpenAI-style: `type` and a textual `code`
        if code and isinstance(code, str) and error_type != code:
            error_type = f"{error_type}/{code}" if error_type else code
    if failed is not None:
        status = failed.get("status")
        if not message:
            message = f"the response {status}" if isinstance(status, str) else json.dumps(payload)
        message = message[:500]
    return StreamErrorEvent(
        error_type=error_type,
        error_message=message or json.dumps(payload)[:500],
        payload=payload,
    )


def describe_error(payload: Any) -> tuple[str | None, str | None, float | None]:
    """`(type, message, retry_after)` from a provider's error body, in any common shape.

    Handles OpenAI/Groq/OpenRouter `{"error": {"message", "type", "code"}}`, Anthropic
    `{"type": "error", "error": {"type", "message"}}`, Google `{"error": {"code",
    "message", "status", "details": [RetryInfo...]}}` (also wrapped in a list), vLLM and
    Mistral `{"object": "error", "message", "type"}`, FastAPI `{"detail": ...}`, and
    `{"error": "text"}`.
    """
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return None, None, None
    error = payload.get("error", payload)
    if isinstance(error, str):
        return None, error, None
    if not isinstance(error, dict):
        return None, None, None
    message = error.get("message") or error.get("detail") or error.get("msg")
    if message is not None and not isinstance(message, str):
        message = json.dumps(message)
    error_type = error.get("type") or error.get("status") or error.get("code")
    if error_type == "error":  # Anthropic's envelope type
        error_type = None
    retry_after = None
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and "retryDelay" in detail:
            retry_after = _parse_duration(detail["retryDelay"])
    return (str(error_type) if error_type is not None else None), message, retry_after


def _parse_duration(value: Any) -> float | None:
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


__all__ = [
    "UNREADABLE",
    "FrameDecoder",
    "StreamDecoder",
    "describe_error",
    "json_frame",
    "json_object_frame",
    "normalize_finish",
    "not_text",
    "stream_error",
    "token_count",
    "unreadable",
]
