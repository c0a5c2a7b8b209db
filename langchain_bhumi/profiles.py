"""Model profiles: what a model can do, as `ChatBhumi.profile` tells LangChain.

`langchain.agents.create_agent(model, response_format=Schema)` reads `profile
["structured_output"]` to choose the provider's native structured output over a forced
tool call, and the summarization middleware reads `max_input_tokens`. A profile is a
`langchain_core.language_models.ModelProfile` dict, made of three layers:

1. The model's capabilities, from `model_profiles.json`: limits, input and output
   modalities, tool calling, structured output and reasoning of the known models of
   openai, anthropic, gemini (and vertex), groq, mistral, deepseek, xai, fireworks,
   perplexity and openrouter. The file is the data LangChain's partner packages ship
   (generated from models.dev), refreshed with `scripts/refresh_profiles.py`.
2. For local servers (llamacpp, ollama, vllm, lmstudio), whose models are whatever was
   loaded: what the server itself guarantees (tool calling; structured output, which
   each of them enforces with a grammar or guided decoding for any model).
3. What ChatBhumi guarantees on top: well-formed streamed tool-call chunks, `tool_choice`
   in every wire format, and images and PDFs in tool messages wherever the model takes
   them as input (natively, or for chat completions in the user message that follows);
   and `structured_output` only where the wire format can ask for it.

A model none of these know gets a conservative profile (text in, text out, nothing
claimed), never an error. Override it per instance:

```python
llm = ChatBhumi(model="openai/my-finetune", profile={"max_input_tokens": 128_000,
                "structured_output": True, "tool_calling": True})
```
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, cast, get_type_hints

from langchain_core.language_models import ModelProfile

_DATA = Path(__file__).with_name("model_profiles.json")

_SHARED_TABLES = {"vertex": "gemini", "google": "gemini"}
"""Providers that serve another provider's models under the same names."""

_LOCAL_SERVER = {"text_inputs": True, "text_outputs": True, "tool_calling": True}
_SERVER_PROFILES: dict[str, dict[str, Any]] = {
    # Each constrains output to a `response_format` JSON schema for any model it serves:
    # llama.cpp with a grammar, vLLM with guided decoding, Ollama and LM Studio too.
    "llamacpp": {**_LOCAL_SERVER, "structured_output": True},
    "vllm": {**_LOCAL_SERVER, "structured_output": True},
    "ollama": {**_LOCAL_SERVER, "structured_output": True},
    "lmstudio": {**_LOCAL_SERVER, "structured_output": True},
}
"""What a local server guarantees whatever model it loaded (its context size is its own
setting: not known here)."""

CONSERVATIVE: ModelProfile = {"text_inputs": True, "text_outputs": True}
"""The profile of a model nothing here knows."""

_DATED = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


def model_profile(provider: str, model: str, *, native_json_schema: bool = True) -> ModelProfile:
    """The profile of `model` served by `provider` (registry names). `native_json_schema`
    is false when the wire format cannot ask this model for schema-shaped output (older
    Claude models): the profile then never claims `structured_output`.

    Example:
        ```python
        model_profile("anthropic", "claude-sonnet-4-5")["max_input_tokens"]  # 200000
        model_profile("llamacpp", "qwen2.5")["structured_output"]  # True
        model_profile("openai", "my-finetune")  # {"text_inputs": True, "text_outputs": True}
        ```
    """
    known = {**_SERVER_PROFILES.get(provider, {}), **_lookup(provider, model)}
    if not known:
        return dict(CONSERVATIVE)  # type: ignore[return-value]
    if not native_json_schema and known.get("structured_output"):
        known["structured_output"] = False
    if known.get("tool_calling"):
        known["tool_call_streaming"] = True  # the tool-call assembler's guarantee
        known.setdefault("tool_choice", True)  # every wire format encodes it
    for media in ("image", "pdf"):
        if f"{media}_inputs" in known:
            known[f"{media}_tool_message"] = known[f"{media}_inputs"]
    declared = _declared_fields()
    return cast("ModelProfile", {k: v for k, v in known.items() if k in declared})


def _lookup(provider: str, model: str) -> dict[str, Any]:
    table = _tables().get(_SHARED_TABLES.get(provider, provider), {})
    name = model.removeprefix("models/")
    for candidate in (name, _DATED.sub("", name)):
        if candidate in table:
            return dict(table[candidate])
    return {}


@functools.cache
def _tables() -> dict[str, dict[str, dict[str, Any]]]:
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    return cast("dict[str, dict[str, dict[str, Any]]]", data["providers"])


@functools.cache
def _declared_fields() -> frozenset[str]:
    """The fields this langchain-core's `ModelProfile` declares (it warns on others)."""
    return frozenset(get_type_hints(ModelProfile))


__all__ = ["CONSERVATIVE", "model_profile"]
