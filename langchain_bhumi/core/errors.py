"""Typed errors: every failure says what happened, where, and in which phase.

```
BhumiError
├── ConfigurationError            bad model string, unknown provider, bad base URL
│   └── MissingAPIKeyError
├── ProviderHTTPError             the server answered with a non-2xx status
│   ├── BadRequestError           400, 422
│   ├── AuthenticationError       401, 403
│   ├── NotFoundError             404
│   ├── RateLimitError            429
│   └── ServerError               5xx, 529
├── BhumiTimeoutError             no answer in time (also TimeoutError); `.phase` says when
├── BhumiConnectionError          could not connect, or the connection broke before a response
└── BrokenStreamError             the response started but cannot be trusted
    ├── StreamCutError            the body ended before the protocol's terminator
    ├── InvalidStreamDataError    a frame is not UTF-8 / JSON / the expected shape, or too long
    │   └── UnexpectedContentTypeError  a stream answered with a type the format cannot read
    └── StreamErrorEvent          the server reported an error inside the stream
        └── ContentBlockedError   the provider refused the prompt itself (nothing generated)
```

Messages never contain credentials: URLs are redacted before they get here and body
excerpts are scrubbed of the key that was sent.
"""

from __future__ import annotations

from typing import Any, Literal

TimeoutPhase = Literal[
    "connect",
    "sending request",
    "waiting for headers",
    "waiting for the first token",
    "between chunks",
    "total",
]

BODY_EXCERPT_LIMIT = 1024


def excerpt(text: str, limit: int = BODY_EXCERPT_LIMIT) -> str:
    """The first `limit` characters of `text`, marked when cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


class BhumiError(Exception):
    """Base class of every error raised by langchain-bhumi."""


class ConfigurationError(BhumiError):
    """The model cannot be configured as asked (model string, provider, base URL).

    Not a `ValueError` on purpose: pydantic would wrap it in a `ValidationError` when it
    is raised while constructing `ChatBhumi`, and the type would be lost.
    """


class MissingAPIKeyError(ConfigurationError):
    """The provider needs an API key and none was given or found in the environment."""

    def __init__(self, provider: str, env_vars: tuple[str, ...]) -> None:
        self.provider = provider
        self.env_vars = env_vars
        names = " or ".join(env_vars) if env_vars else "an API key"
        super().__init__(
            f"{names} is not set; pass api_key=... to ChatBhumi or export it "
            f"(provider {provider!r})."
        )


class ProviderHTTPError(BhumiError):
    """The provider answered with a non-2xx HTTP status.

    Attributes:
        status_code: The HTTP status.
        provider: Provider name from the registry (`"openai"`, `"groq"`, ...).
        url: The request URL, with credentials removed.
        request_id: The provider's request id header, when it sent one.
        body: The first ~1 KB of the response body.
        error_type: The provider's error type/code when the body carries one.
        retry_after: Seconds the server asked us to wait (429/503), when given.
    """

    def __init__(
        self,
        *,
        status_code: int,
        provider: str,
        url: str,
        body: str,
        request_id: str | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.provider = provider
        self.url = url
        self.body = excerpt(body)
        self.request_id = request_id
        self.error_type = error_type
        self.error_message = error_message
        self.retry_after = retry_after
        summary = error_message or self.body or "(empty body)"
        kind = f" {error_type}" if error_type else ""
        rid = f", request id {request_id}" if request_id else ""
        super().__init__(
            f"{provider} returned HTTP {status_code}{kind} for POST {url}{rid}: {summary}"
        )

    @staticmethod
    def class_for_status(status_code: int) -> type[ProviderHTTPError]:
        """The most specific subclass for an HTTP status."""
        if status_code in (400, 413, 422):
            return BadRequestError
        if status_code in (401, 403):
            return AuthenticationError
        if status_code == 404:
            return NotFoundError
        if status_code == 429:
            return RateLimitError
        if status_code >= 500:
            return ServerError
        return ProviderHTTPError


class BadRequestError(ProviderHTTPError):
    """The provider rejected the request (400/413/422): fix the input, do not retry."""


class AuthenticationError(ProviderHTTPError):
    """The API key was rejected (401/403)."""


class NotFoundError(ProviderHTTPError):
    """Unknown model or endpoint (404)."""


class RateLimitError(ProviderHTTPError):
    """Too many requests (429), still failing after the configured retries."""


class ServerError(ProviderHTTPError):
    """The provider failed (5xx/529), still failing after the configured retries."""


class BhumiTimeoutError(BhumiError, TimeoutError):
    """Nothing arrived in time.

    `phase` is one of `"connect"`, `"sending request"`, `"waiting for headers"`
    (the server accepted the request and sent nothing), `"waiting for the first token"`
    (the stream started but sent no content in time, only keep-alives), `"between
    chunks"` (a stream stalled) or `"total"` (the optional overall deadline passed).
    """

    def __init__(
        self, *, provider: str, url: str, phase: TimeoutPhase, timeout: float | None
    ) -> None:
        self.provider = provider
        self.url = url
        self.phase = phase
        self.timeout = timeout
        limit = f" after {timeout:g} s" if timeout is not None else ""
        super().__init__(f"{provider} timed out {phase}{limit} (POST {url})")


class BhumiConnectionError(BhumiError, ConnectionError):
    """The connection could not be made, or broke before the response started."""

    def __init__(self, *, provider: str, url: str, reason: str) -> None:
        self.provider = provider
        self.url = url
        self.reason = reason
        super().__init__(f"could not reach {provider} at {url}: {reason}")


class BrokenStreamError(BhumiError):
    """A response started but cannot be trusted: cut short, malformed, or errored in-band.

    Protocol decoders raise these knowing only what went wrong; the transport then
    calls `locate` to add where (provider, URL) and how far the stream got.

    Attributes:
        detail: What went wrong.
        provider: Provider name.
        url: The request URL, with credentials removed.
        frames: Frames (SSE events) received before the failure.
        bytes_received: Body bytes received before the failure.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pending: list[Any] = []
        """Events decoded from the same network read before the failure; the transport
        delivers them before raising, so nothing that arrived is lost."""
        self.provider = ""
        self.url = ""
        self.frames = 0
        self.bytes_received = 0

    def locate(self, *, provider: str, url: str, frames: int, bytes_received: int) -> None:
        """Record where the failure happened (called once, by the transport)."""
        self.provider = provider
        self.url = url
        self.frames = frames
        self.bytes_received = bytes_received

    def __str__(self) -> str:
        if not self.provider:
            return self.detail
        return (
            f"{self.detail} ({self.provider}, POST {self.url}, "
            f"after {self.frames} frames / {self.bytes_received} bytes)"
        )


class StreamCutError(BrokenStreamError):
    """The body ended (or the connection dropped) before the protocol's end marker."""


class InvalidStreamDataError(BrokenStreamError):
    """A frame could not be decoded: invalid UTF-8, invalid JSON, an unexpected shape, or
    longer than the maximum frame size.

    Attributes:
        data: The first 300 characters of the offending frame (or of the bytes around the
            offending byte).
        offset: Where in the body the offending bytes start (bytes from its first byte),
            when the framer knows it.
    """

    def __init__(self, detail: str, *, data: str, offset: int | None = None) -> None:
        self.data = excerpt(data, 300)
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{detail}{where}: {self.data!r}")


class UnexpectedContentTypeError(InvalidStreamDataError):
    """A streaming call was answered with a Content-Type that is neither server-sent events
    nor one of the wire format's documented alternatives (an HTML error page, plain text).

    Attributes:
        content_type: The Content-Type the server sent.
    """

    def __init__(self, content_type: str, *, expected: str, data: str) -> None:
        self.content_type = content_type
        super().__init__(
            f"the server answered a streaming call with Content-Type {content_type!r}, "
            f"expected {expected}; the body starts",
            data=data,
        )


class StreamErrorEvent(BrokenStreamError):
    """The server sent an error object inside a 2xx stream.

    Attributes:
        error_type: The provider's error type or code (`"overloaded_error"`,
            `"tool_use_failed"`, ...), when given.
        error_message: The provider's message.
        payload: The decoded error object.
    """

    def __init__(self, *, error_type: str | None, error_message: str, payload: Any) -> None:
        self.error_type = error_type
        self.error_message = error_message
        self.payload = payload
        kind = f" {error_type}" if error_type else ""
        super().__init__(f"the server reported an error inside the stream{kind}: {error_message}")


class ContentBlockedError(StreamErrorEvent):
    """The provider refused the prompt itself (Gemini `promptFeedback.blockReason`):
    nothing was generated.

    Attributes:
        block_reason: The provider's reason (`SAFETY`, `BLOCKLIST`, `PROHIBITED_CONTENT`, ...).
    """

    def __init__(
        self, *, block_reason: str, message: str | None, payload: Any, hint: str = ""
    ) -> None:
        self.block_reason = block_reason
        detail = f"the provider blocked the prompt ({block_reason})"
        if message:
            detail += f": {message}"
        detail += "; nothing was generated" + (f". {hint}" if hint else "")
        super().__init__(
            error_type=f"prompt_blocked/{block_reason}", error_message=detail, payload=payload
        )
