"""ChatBhumi's errors inside langchain-core's error hierarchy.

The core raises its own typed errors and knows nothing of LangChain. When one leaves a
`ChatBhumi` call, `classify` makes it also an instance of the matching
`langchain_core.exceptions` type and sets `is_retryable`, so LangChain's fallbacks and
retry middleware treat it like any provider's error, and code that catches ChatBhumi's
types keeps working:

```
ChatBhumi error                     also                                is_retryable
BadRequestError (400/413/422)       ContextOverflowError if the server  no
                                    says the input is too long, else
                                    ModelInvalidRequestError
AuthenticationError 401 / 403       ModelAuthenticationError /          no
                                    ModelPermissionDeniedError
NotFoundError (404)                 ModelNotFoundError                  no
RateLimitError (429)                ModelRateLimitError                 yes
ServerError (5xx, 529)              ModelAPIError                       yes, but not 501
ProviderHTTPError 408 / other       ModelTimeoutError / ModelError      408, 409: yes
BhumiTimeoutError                   ModelTimeoutError                   yes
BhumiConnectionError,               ModelConnectionError                yes
StreamCutError
InvalidStreamDataError              ModelAPIError                       no
StreamErrorEvent                    by its type or code:                rate limit, overload,
                                    ModelRateLimitError,                5xx: yes
                                    ContextOverflowError, ModelAPIError
ContentBlockedError                 ModelRefusalError (langchain-core   no
                                    >= 1.7.5), else ModelError
ConfigurationError (a request the   ModelInvalidRequestError            no
format cannot carry)
```

How: the error object is given a class that derives from both its own class and the
langchain-core type (made once per pair). The same object is re-raised, with its
attributes, traceback and cause: nothing is copied and nothing in `core/` changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from langchain_core import exceptions as lc

from langchain_bhumi.core.errors import (
    AuthenticationError,
    BadRequestError,
    BhumiConnectionError,
    BhumiError,
    BhumiTimeoutError,
    ConfigurationError,
    ContentBlockedError,
    InvalidStreamDataError,
    NotFoundError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    StreamCutError,
    StreamErrorEvent,
)
from langchain_bhumi.core.transport import RETRYABLE_STATUS

# langchain-core 1.7.5 added ModelRefusalError; 1.7.2 (the oldest we support) lacks it.
_REFUSAL: type[lc.ModelError] = getattr(lc, "ModelRefusalError", lc.ModelError)

# How servers say the input is longer than the model's context (lower case).
_OVERFLOW_PHRASES = (
    "context_length_exceeded",  # OpenAI, Groq, DeepSeek (code)
    "exceed_context_size",  # llama.cpp (type)
    "maximum context length",  # OpenAI, vLLM, Mistral, OpenRouter, DeepSeek
    "context window",
    "available context size",  # llama.cpp
    "prompt is too long",  # Anthropic
    "input is too long",  # Bedrock
    "exceeds the maximum number of tokens",  # Gemini
    "reduce the length of the messages",  # Groq
)

_RETRYABLE_STREAM_ERRORS = (
    "overloaded",
    "rate_limit",
    "rate limit",
    "resource_exhausted",
    "unavailable",
    "server_error",
    "api_error",
    "internal",
    "timeout",
)


@contextlib.contextmanager
def langchain_errors() -> Iterator[None]:
    """Errors raised inside leave as `classify` makes them.

    Example:
        ```python
        with langchain_errors():
            events = client.complete(request)
        ```
    """
    try:
        yield
    except BhumiError as error:
        classify(error)
        raise


def classify(error: BhumiError) -> BhumiError:
    """`error`, now also an instance of the matching langchain-core type, with
    `is_retryable` set. Errors that are already classified come back as they are."""
    if isinstance(error, lc.ModelError):
        return error
    kind, retryable = _langchain_kind(error)
    error.__class__ = _twin(type(error), kind)
    error.is_retryable = retryable  # type: ignore[attr-defined]
    if kind is _REFUSAL and not hasattr(error, "raw_message"):
        error.raw_message = None  # type: ignore[attr-defined]  # nothing was generated
    return error


_TWINS: dict[tuple[type[BhumiError], type[lc.ModelError]], type[BhumiError]] = {}


def _twin(bhumi_type: type[BhumiError], kind: type[lc.ModelError]) -> type[BhumiError]:
    """A class that is both `bhumi_type` and `kind`, named like `bhumi_type`."""
    twin = _TWINS.get((bhumi_type, kind))
    if twin is None:
        twin = _TWINS[(bhumi_type, kind)] = type(
            bhumi_type.__name__,
            (bhumi_type, kind),
            {"__module__": bhumi_type.__module__, "__doc__": bhumi_type.__doc__},
        )
    return twin


def _langchain_kind(error: BhumiError) -> tuple[type[lc.ModelError], bool]:
    if isinstance(error, ProviderHTTPError):
        return _http_kind(error)
    if isinstance(error, BhumiTimeoutError):
        return lc.ModelTimeoutError, True
    if isinstance(error, BhumiConnectionError | StreamCutError):
        return lc.ModelConnectionError, True
    if isinstance(error, InvalidStreamDataError):
        return lc.ModelAPIError, False
    if isinstance(error, ContentBlockedError):
        return _REFUSAL, False
    if isinstance(error, StreamErrorEvent):
        return _stream_error_kind(error)
    if isinstance(error, ConfigurationError):
        return lc.ModelInvalidRequestError, False
    return lc.ModelError, False


def _http_kind(error: ProviderHTTPError) -> tuple[type[lc.ModelError], bool]:
    status = error.status_code
    retryable = status in RETRYABLE_STATUS
    if isinstance(error, BadRequestError):
        overflow = _says_overflow(error.error_type, error.error_message, error.body)
        return (lc.ContextOverflowError if overflow else lc.ModelInvalidRequestError), False
    if isinstance(error, AuthenticationError):
        return (
            lc.ModelPermissionDeniedError if status == 403 else lc.ModelAuthenticationError
        ), False
    if isinstance(error, NotFoundError):
        return lc.ModelNotFoundError, False
    if isinstance(error, RateLimitError):
        return lc.ModelRateLimitError, True
    if isinstance(error, ServerError):
        return lc.ModelAPIError, retryable
    if status == 408:
        return lc.ModelTimeoutError, True
    return lc.ModelError, retryable


def _stream_error_kind(error: StreamErrorEvent) -> tuple[type[lc.ModelError], bool]:
    code = _status_in(error.payload)
    described = f"{error.error_type or ''} {error.error_message}".lower()
    if code == 429 or "rate_limit" in described or "rate limit" in described:
        return lc.ModelRateLimitError, True
    if _says_overflow(error.error_type, error.error_message):
        return lc.ContextOverflowError, False
    retryable = (code is not None and code in RETRYABLE_STATUS) or any(
        word in described for word in _RETRYABLE_STREAM_ERRORS
    )
    return lc.ModelAPIError, retryable


def _says_overflow(*texts: str | None) -> bool:
    described = " ".join(t for t in texts if t).lower()
    return any(phrase in described for phrase in _OVERFLOW_PHRASES)


def _status_in(payload: Any) -> int | None:
    """An HTTP-like status in an in-stream error object (`{"error": {"code": 429}}`)."""
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and 400 <= code < 600 else None


__all__ = ["classify", "langchain_errors"]
