"""The provider registry: which wire format, base URL and API key each provider uses.

`"provider/model"` strings split at the FIRST `/`: `"vllm/meta-llama/Llama-3-8B"` is
provider `vllm`, model `meta-llama/Llama-3-8B`. A provider not listed here works with an
explicit `base_url` as a generic OpenAI-compatible server (key from `<NAME>_API_KEY` if
set). This is the only module that knows provider names; everything a provider does
differently is a field of its `ProviderSpec`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_bhumi.core.errors import ConfigurationError, MissingAPIKeyError
from langchain_bhumi.core.tool_ids import ALPHANUMERIC, ToolIdRule
from langchain_bhumi.protocols.base import NO_REPLAY, ReasoningReplay


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How to reach one provider.

    Attributes:
        name: Registry name (the part before the first `/` of the model string).
        protocol: Wire format: `"openai_chat"`, `"anthropic"` or `"gemini"` (an
            `openai_chat` provider may be switched to `"openai_responses"`; see
            `wire_format`).
        base_url: Default base URL; `None` means the caller must give one.
        api_key_env: Environment variables that may hold the key, in order.
        key_required: Whether calls fail without a key (local servers do not need one).
        max_tokens_field: Body field for the output-token limit.
        stream_options: Whether the server accepts `stream_options.include_usage`.
        reasoning_replay: Which earlier turns' reasoning text goes back to the server,
            in which field (`ChatBhumi(send_reasoning=...)` overrides when).
        tool_ids: The tool-call ids the provider accepts in its own wire format
            (`protocol`), when it is stricter than that format; other ids in the history
            are rewritten (see `core.tool_ids`). Another wire format keeps its own rule.
        root: Path added to a bare `scheme://host[:port]` base URL; `None` uses the
            protocol's default (`/v1` for chat completions).
        local: A server on this machine (used in messages and the demo).
        responses_api: The provider also serves the Responses API (`/responses`), so
            `wire_format` may switch to it on its own (for Responses-only models and
            built-in Responses tools).
    """

    name: str
    protocol: str
    base_url: str | None
    api_key_env: tuple[str, ...] = ()
    key_required: bool = True
    max_tokens_field: str = "max_tokens"
    stream_options: bool = True
    reasoning_replay: ReasoningReplay = NO_REPLAY
    tool_ids: ToolIdRule | None = None
    root: str | None = None
    local: bool = False
    responses_api: bool = False
    default_headers: dict[str, str] = field(default_factory=dict)
    header_timeout: float | None = None
    """Longest wait for a stream to start, when it must differ from the idle timeout: a
    local server on a CPU processes the whole prompt before it sends its headers."""

    @property
    def base_url_env(self) -> str:
        """Environment variable that overrides the default base URL."""
        return f"{_env_name(self.name)}_BASE_URL"

    def find_api_key(self) -> str | None:
        """The first API key set in this provider's environment variables."""
        for name in self.api_key_env:
            value = os.environ.get(name)
            if value:
                return value
        return None


def _openai_compatible(
    name: str, base_url: str, *env: str, local: bool = False, **options: object
) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        protocol="openai_chat",
        base_url=base_url,
        api_key_env=env or (f"{_env_name(name)}_API_KEY",),
        key_required=not local,
        local=local,
        header_timeout=LOCAL_HEADER_TIMEOUT if local else None,
        **options,  # type: ignore[arg-type]
    )


LOCAL_HEADER_TIMEOUT = 600.0
"""Local servers answer a long prompt only after processing all of it (minutes on a CPU)."""


# Reasoning that must go back, per each provider's documentation:
# - DeepSeek thinking mode: a turn that made tool calls must carry its reasoning_content in
#   every later request (HTTP 400 otherwise; `""` is accepted for a turn without any);
#   other turns need none and it is ignored there.
# - Moonshot Kimi thinking models: the same rule ("reasoning_content is missing in
#   assistant tool call message"), and `""` counts as missing: `" "` is the least accepted.
# - Z.ai GLM: interleaved thinking wants the reasoning of tool-call turns returned with the
#   tool results (no error without it).
# - Ollama and vLLM pass an assistant message's `reasoning` to the model's template (vLLM
#   renamed it from reasoning_content; Ollama's /v1 ignores reasoning_content).
# - llama.cpp passes reasoning_content to the template, which keeps what it needs.
_TOOL_TURNS_REQUIRED_EMPTY_OK = ReasoningReplay("tool_calls", placeholder="")
_TOOL_TURNS_REQUIRED_NON_EMPTY = ReasoningReplay("tool_calls", placeholder=" ")
_TOOL_TURNS = ReasoningReplay("tool_calls")
_TOOL_TURNS_AS_REASONING = ReasoningReplay("tool_calls", field="reasoning")

MISTRAL_TOOL_IDS = ToolIdRule(alphabet=ALPHANUMERIC, length=9)
"""Mistral answers 400 "Tool call id was ... but must be a-z, A-Z, 0-9, with a length of 9"."""

OPENAI_TOOL_IDS = ToolIdRule(max_length=40)
"""OpenAI answers 400 "string too long. Expected a string with maximum length 40"."""


def _env_name(provider: str) -> str:
    return provider.upper().replace("-", "_").replace(".", "_")


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec(
            name="anthropic",
            protocol="anthropic",
            base_url="https://api.anthropic.com/v1",
            api_key_env=("ANTHROPIC_API_KEY",),
        ),
        ProviderSpec(
            name="gemini",
            protocol="gemini",
            base_url="https://generativelanguage.googleapis.com/v1beta",
            api_key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        ),
        # Vertex AI speaks the same format. The default is the express-mode endpoint (an
        # API key); for a project endpoint pass its base URL,
        # `https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/
        # {region}/publishers/google`, and an OAuth access token as the key.
        ProviderSpec(
            name="vertex",
            protocol="gemini",
            base_url="https://aiplatform.googleapis.com/v1/publishers/google",
            api_key_env=("VERTEX_API_KEY", "GOOGLE_API_KEY"),
            root="/v1/publishers/google",
        ),
        _openai_compatible(
            "openai",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            max_tokens_field="max_completion_tokens",
            responses_api=True,
            tool_ids=OPENAI_TOOL_IDS,
        ),
        _openai_compatible("groq", "https://api.groq.com/openai/v1"),
        _openai_compatible("openrouter", "https://openrouter.ai/api/v1"),
        # Mistral sends usage on its last chunk unasked and rejects unknown fields.
        _openai_compatible(
            "mistral",
            "https://api.mistral.ai/v1",
            stream_options=False,
            tool_ids=MISTRAL_TOOL_IDS,
        ),
        _openai_compatible(
            "deepseek",
            "https://api.deepseek.com/v1",
            reasoning_replay=_TOOL_TURNS_REQUIRED_EMPTY_OK,
        ),
        _openai_compatible("xai", "https://api.x.ai/v1"),
        _openai_compatible(
            "together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"
        ),
        _openai_compatible("fireworks", "https://api.fireworks.ai/inference/v1"),
        _openai_compatible("cerebras", "https://api.cerebras.ai/v1"),
        _openai_compatible("sambanova", "https://api.sambanova.ai/v1"),
        _openai_compatible(
            "perplexity", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", "PPLX_API_KEY", root=""
        ),
        _openai_compatible("huggingface", "https://router.huggingface.co/v1", "HF_TOKEN"),
        _openai_compatible(
            "moonshot",
            "https://api.moonshot.ai/v1",
            reasoning_replay=_TOOL_TURNS_REQUIRED_NON_EMPTY,
        ),
        _openai_compatible("zai", "https://api.z.ai/api/paas/v4", reasoning_replay=_TOOL_TURNS),
        _openai_compatible("nvidia", "https://integrate.api.nvidia.com/v1"),
        _openai_compatible("dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
        _openai_compatible(
            "ollama",
            "http://127.0.0.1:11434/v1",
            local=True,
            reasoning_replay=_TOOL_TURNS_AS_REASONING,
        ),
        _openai_compatible(
            "llamacpp",
            "http://127.0.0.1:8080/v1",
            local=True,
            reasoning_replay=ReasoningReplay("always"),
        ),
        _openai_compatible(
            "vllm",
            "http://127.0.0.1:8000/v1",
            local=True,
            reasoning_replay=_TOOL_TURNS_AS_REASONING,
        ),
        _openai_compatible(
            "lmstudio",
            "http://127.0.0.1:1234/v1",
            "LMSTUDIO_API_KEY",
            "LM_STUDIO_API_KEY",
            local=True,
        ),
    )
}
"""Every provider known by name."""

ALIASES = {
    "google": "gemini",
    "google_genai": "gemini",
    "vertexai": "vertex",
    "vertex_ai": "vertex",
    "google_vertexai": "vertex",
    "llama.cpp": "llamacpp",
    "llama-cpp": "llamacpp",
    "lm-studio": "lmstudio",
    "hf": "huggingface",
}


RESPONSES_FORMAT = "openai_responses"

_RESPONSES_ONLY_MODEL = re.compile(
    r"""
    .*-codex.*                                   # gpt-5-codex, gpt-5.1-codex-max, ...
    | codex-mini.*                               # codex-mini-latest
    | (?:o1|o3|gpt-5(?:\.\d+)?)-pro(?:-\d{4}-\d{2}-\d{2})?  # o3-pro, gpt-5.2-pro-2025-12-11
    | computer-use-preview.*
    | .*-deep-research.*                         # o3-deep-research, o4-mini-deep-research
    """,
    re.VERBOSE,
)

RESPONSES_TOOL_TYPES = frozenset(
    {
        "web_search",
        "web_search_2025_08_26",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "file_search",
        "code_interpreter",
        "image_generation",
        "mcp",
        "computer",
        "computer_use",
        "computer_use_preview",
        "local_shell",
        "shell",
        "apply_patch",
        "namespace",
        "tool_search",
    }
)
"""Tool `type`s that exist only in the Responses API (OpenAI's built-in tools). `custom`
(free-form) tools are not among them: chat completions has them too, in another shape."""


def responses_only_model(model: str) -> bool:
    """Whether `model` is served only by the Responses API, not by chat completions.

    Codex models (`*-codex*`, `codex-mini*`), the `-pro` models of the o1, o3 and gpt-5
    families, `computer-use-preview*` and the deep-research models.
    """
    return _RESPONSES_ONLY_MODEL.fullmatch(model.rsplit("/", 1)[-1]) is not None


def wire_format(
    spec: ProviderSpec,
    model: str,
    *,
    use_responses_api: bool | None = None,
    tools: Iterable[Any] | None = None,
) -> str:
    """The wire format a request for `model` uses: the provider's own, or the Responses API.

    Only a provider whose format is `openai_chat` can switch. `use_responses_api=True`
    switches it (the server at the base URL must serve `/responses`), `False` never
    does, and `None` (automatic) switches when the provider is known to serve the
    Responses API (`spec.responses_api`) and either `model` exists only there
    (`responses_only_model`) or `tools` include a built-in Responses tool
    (`{"type": "web_search"}`, `{"type": "code_interpreter", ...}`, ...).
    """
    if spec.protocol != "openai_chat" or use_responses_api is False:
        return spec.protocol
    if use_responses_api:
        return RESPONSES_FORMAT
    if spec.responses_api and (responses_only_model(model) or _has_responses_tool(tools)):
        return RESPONSES_FORMAT
    return spec.protocol


def _has_responses_tool(tools: Iterable[Any] | None) -> bool:
    return any(
        isinstance(tool, dict) and tool.get("type") in RESPONSES_TOOL_TYPES for tool in tools or ()
    )


@dataclass(frozen=True, slots=True)
class ResolvedProvider:
    """A provider and the base URL its requests go to."""

    spec: ProviderSpec
    base_url: str

    @property
    def own_endpoint(self) -> bool:
        """Whether requests go to the provider's own default endpoint (not a base URL
        the caller chose: a local server, a proxy, a compatible service)."""
        return self.spec.base_url is None or self.base_url.rstrip("/") == self.spec.base_url

    @property
    def key_required(self) -> bool:
        """A key is required by the provider's own endpoint only; a server the caller
        points at (llama.cpp as `openai/...`) may need none."""
        return self.spec.key_required and self.own_endpoint

    def require_api_key(self, explicit: str | None) -> str | None:
        """`explicit`, else the provider's environment key; raises when the endpoint needs
        one and there is none."""
        key = explicit or self.spec.find_api_key()
        if key is None and self.key_required:
            raise MissingAPIKeyError(self.spec.name, self.spec.api_key_env)
        return key

    @property
    def max_tokens_field(self) -> str:
        """The output-limit field: the spec's own only on the provider's own endpoint.

        `openai/...` pointed at another server (llama.cpp, vLLM, a proxy) is an
        OpenAI-compatible server, and those read `max_tokens`, not OpenAI's newer
        `max_completion_tokens` (llama.cpp silently ignores the latter).
        """
        return self.spec.max_tokens_field if self.own_endpoint else "max_tokens"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model string resolved against the registry: where to send, and which model."""

    provider: ResolvedProvider
    model: str

    @property
    def spec(self) -> ProviderSpec:
        return self.provider.spec

    @property
    def base_url(self) -> str:
        return self.provider.base_url


def resolve_provider(name: str, *, base_url: str | None = None) -> ResolvedProvider:
    """The provider registered as `name` (or an alias), at `base_url` or its default.

    Raises:
        ConfigurationError: The provider is unknown and no `base_url` is given.
    """
    key = ALIASES.get(name.lower(), name.lower())
    spec = PROVIDERS.get(key)
    if spec is None:
        if not base_url:
            raise ConfigurationError(
                f"unknown provider {name!r}: pass base_url=... to use it as an OpenAI-compatible "
                f"server, or use one of: {', '.join(sorted(PROVIDERS))}"
            )
        spec = ProviderSpec(
            name=name,
            protocol="openai_chat",
            base_url=None,
            api_key_env=(f"{_env_name(name)}_API_KEY",),
            key_required=False,
        )
    chosen = base_url or os.environ.get(spec.base_url_env) or spec.base_url
    if not chosen:  # pragma: no cover - every registered spec has a default
        raise ConfigurationError(f"provider {spec.name!r} needs base_url=...")
    return ResolvedProvider(spec, chosen)


def resolve_model(
    model: str, *, provider: str | None = None, base_url: str | None = None
) -> ResolvedModel:
    """Resolve `"provider/model"` (or `model` with an explicit `provider`).

    Raises:
        ConfigurationError: The string has no provider, the provider is unknown and no
            `base_url` is given, or the model part is empty.
    """
    if provider:
        name, model_name = provider, model
        if model_name.startswith(provider + "/"):
            model_name = model_name[len(provider) + 1 :]
    elif "/" in model:
        name, model_name = model.split("/", 1)
    else:
        raise ConfigurationError(
            f"model {model!r} names no provider: write 'provider/model' (e.g. "
            f"'openai/gpt-4o-mini', 'ollama/qwen2.5') or pass provider=...; known providers: "
            f"{', '.join(sorted(PROVIDERS))}"
        )
    if not model_name:
        raise ConfigurationError(f"model {model!r} has an empty model name after {name + '/'!r}")
    return ResolvedModel(resolve_provider(name, base_url=base_url), model_name)


def endpoint_url(base_url: str, root: str, path: str) -> str:
    """Join a base URL and an endpoint path.

    A bare `scheme://host[:port]` gets `root` (e.g. `/v1`); a base URL that already has
    a path is kept as given, so `/v1` is never doubled; a pasted full endpoint URL is
    accepted too. Query parameters on the base URL are kept.

    Example:
        ```python
        endpoint_url("http://127.0.0.1:8080", "/v1", "/chat/completions")
        # 'http://127.0.0.1:8080/v1/chat/completions'
        endpoint_url("http://127.0.0.1:8080/v1/", "/v1", "/chat/completions")
        # 'http://127.0.0.1:8080/v1/chat/completions'
        ```
    """
    scheme, netloc, base_path, query, fragment = urlsplit(base_url.strip())
    if not scheme or not netloc:
        raise ConfigurationError(f"base_url {base_url!r} is not an absolute http(s) URL")
    path, _, path_query = path.partition("?")
    base_path = base_path.rstrip("/")
    if base_path.endswith(path):
        base_path = base_path[: -len(path)]
    if not base_path:
        base_path = root
    query = "&".join(q for q in (query, path_query) if q)
    return urlunsplit((scheme, netloc, base_path + path, query, fragment))
