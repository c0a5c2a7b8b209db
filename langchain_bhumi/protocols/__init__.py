"""Wire formats, one module each. `get_protocol` maps a registry name to its module.

Modules are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib

from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.protocols.base import ChatProtocol, ChatRequest

_MODULES: dict[str, tuple[str, str]] = {
    "openai_chat": ("langchain_bhumi.protocols.openai_chat", "OpenAIChatProtocol"),
    "openai_responses": ("langchain_bhumi.protocols.openai_responses", "OpenAIResponsesProtocol"),
    "anthropic": ("langchain_bhumi.protocols.anthropic", "AnthropicProtocol"),
    "gemini": ("langchain_bhumi.protocols.gemini", "GeminiProtocol"),
}
_LOADED: dict[str, ChatProtocol] = {}


def get_protocol(name: str) -> ChatProtocol:
    """The protocol registered under `name` (`"openai_chat"`, `"openai_responses"`,
    `"anthropic"`, `"gemini"`)."""
    protocol = _LOADED.get(name)
    if protocol is not None:
        return protocol
    try:
        module_name, class_name = _MODULES[name]
    except KeyError:
        raise ConfigurationError(
            f"wire format {name!r} is not available; known: {', '.join(sorted(_MODULES))}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # a format registered before its module exists
        raise ConfigurationError(f"wire format {name!r} is not implemented yet") from exc
    protocol_class: type[ChatProtocol] = getattr(module, class_name)
    protocol = _LOADED[name] = protocol_class()
    return protocol


__all__ = ["ChatProtocol", "ChatRequest", "get_protocol"]
