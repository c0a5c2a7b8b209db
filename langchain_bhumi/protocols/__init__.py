"""Wire formats, one module each. `get_protocol` maps a registry name to its module."""

from __future__ import annotations

from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.protocols.base import ChatProtocol, ChatRequest
from langchain_bhumi.protocols.openai_chat import OpenAIChatProtocol

_PROTOCOLS: dict[str, ChatProtocol] = {
    OpenAIChatProtocol.name: OpenAIChatProtocol(),
}


def get_protocol(name: str) -> ChatProtocol:
    """The protocol registered under `name` (`"openai_chat"`, ...)."""
    try:
        return _PROTOCOLS[name]
    except KeyError:
        raise ConfigurationError(
            f"wire format {name!r} is not available; known: {', '.join(sorted(_PROTOCOLS))}"
        ) from None


__all__ = ["ChatProtocol", "ChatRequest", "get_protocol"]
