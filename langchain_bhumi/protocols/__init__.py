"""Wire formats, one package each, both directions: `<format>/client.py` (requests out,
responses in: `ChatProtocol`) and `<format>/server.py` (requests in, responses out:
`ServerCodec`, for the proxy's frontends).

`get_protocol` and `get_server_codec` map a format's registry name to its codec; modules
are imported on first use, so importing the package stays cheap. A new format registers
one line in each table below.
"""

from __future__ import annotations

import importlib

from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.protocols.base import (
    CALL_PARAMS,
    GENERATION_PARAMS,
    ChatProtocol,
    ChatRequest,
    ServerCodec,
)

_CLIENTS: dict[str, tuple[str, str]] = {
    "openai_chat": ("langchain_bhumi.protocols.openai_chat.client", "OpenAIChatProtocol"),
    "openai_responses": (
        "langchain_bhumi.protocols.openai_responses.client",
        "OpenAIResponsesProtocol",
    ),
    "anthropic": ("langchain_bhumi.protocols.anthropic.client", "AnthropicProtocol"),
    "gemini": ("langchain_bhumi.protocols.gemini.client", "GeminiProtocol"),
}
_SERVERS: dict[str, tuple[str, str]] = {
    "openai_chat": ("langchain_bhumi.protocols.openai_chat.server", "OpenAIChatServer"),
    "anthropic": ("langchain_bhumi.protocols.anthropic.server", "AnthropicServer"),
    "gemini": ("langchain_bhumi.protocols.gemini.server", "GeminiServer"),
    "openai_responses": (
        "langchain_bhumi.protocols.openai_responses.server",
        "OpenAIResponsesServer",
    ),
}
_LOADED: dict[tuple[str, str], object] = {}  # (direction, name) -> codec


def _load(direction: str, table: dict[str, tuple[str, str]], name: str) -> object:
    codec = _LOADED.get((direction, name))
    if codec is not None:
        return codec
    try:
        module_name, class_name = table[name]
    except KeyError:
        raise ConfigurationError(
            f"wire format {name!r} is not available; known: {', '.join(sorted(table))}"
        ) from None
    codec = getattr(importlib.import_module(module_name), class_name)()
    _LOADED[(direction, name)] = codec
    return codec


def get_protocol(name: str) -> ChatProtocol:
    """The client direction of the format registered under `name` (`"openai_chat"`,
    `"openai_responses"`, `"anthropic"`, `"gemini"`)."""
    codec = _load("client", _CLIENTS, name)
    assert isinstance(codec, ChatProtocol)
    return codec


def get_server_codec(name: str) -> ServerCodec:
    """The server direction of the format registered under `name`."""
    codec = _load("server", _SERVERS, name)
    assert isinstance(codec, ServerCodec)
    return codec


def client_formats() -> list[str]:
    """Every format with a client direction, in registration order."""
    return list(_CLIENTS)


def server_formats() -> list[str]:
    """Every format with a server direction, in registration order."""
    return list(_SERVERS)


__all__ = [
    "CALL_PARAMS",
    "GENERATION_PARAMS",
    "ChatProtocol",
    "ChatRequest",
    "ServerCodec",
    "client_formats",
    "get_protocol",
    "get_server_codec",
    "server_formats",
]
