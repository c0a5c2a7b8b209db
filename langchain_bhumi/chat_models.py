"""`ChatBhumi`: one LangChain chat model for every provider, on a fast streaming core."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from langchain_core.utils.utils import LC_ID_PREFIX
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator
from typing_extensions import Self

from langchain_bhumi.client import ProviderClient
from langchain_bhumi.core.config import DEFAULT_MAX_FRAME_SIZE, RetryPolicy, Timeouts
from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.core.text_tool_calls import TextToolCallFilter
from langchain_bhumi.core.transport import HTTPRequest
from langchain_bhumi.langchain_errors import langchain_errors
from langchain_bhumi.message_builder import MessageBuilder, exact_invalid_calls, generation_chunk
from langchain_bhumi.profiles import model_profile
from langchain_bhumi.protocols import (
    CALL_PARAMS,
    GENERATION_PARAMS,
    ChatProtocol,
    ChatRequest,
    get_protocol,
)
from langchain_bhumi.protocols.tokens import estimate_text_tokens, estimate_tokens
from langchain_bhumi.providers import ResolvedModel, resolve_model, wire_format

StructuredOutputMethod = Literal["function_calling", "json_schema", "json_mode"]

# Call-time keyword arguments that map onto ChatRequest fields (`stop` has its own
# argument); anything else goes to the request body.
_REQUEST_FIELDS = CALL_PARAMS - {"stop"}
# Each generation parameter is a ChatBhumi field of the same name: the default a call
# overrides by keyword, and part of what identifies the model.
_GENERATION_FIELDS = tuple(sorted(GENERATION_PARAMS))

# Fields that name the model: a copy that changes one gets the new model's profile.
_NAMING_FIELDS = frozenset({"model", "model_name", "provider"})

_UNSET: Any = object()
"""`run_manager` not passed to `_should_stream`: `stream`/`astream` are asking."""

# Private attributes rebuilt from the fields by `_setup` (on copy and unpickle).
_REBUILT = frozenset({"_client", "_clients", "_resolved"})


class ChatBhumi(BaseChatModel):
    """One chat model for every provider: OpenAI and every OpenAI-compatible server,
    Anthropic (Messages API) and Gemini (generateContent), each in its native wire format.

    Streams tool calls that are never silently wrong (calls keyed correctly whatever the
    server does with `index` and `id`, invalid arguments reported, never `{}`), never
    hangs (connect, idle and total timeouts), and is built for speed (no per-event
    pydantic objects, one chunk per network read, one connection pool per instance).

    Setup:
        ```bash
        pip install langchain-bhumi
        export OPENAI_API_KEY="sk-..."   # or ANTHROPIC_API_KEY, GEMINI_API_KEY, GROQ_API_KEY, ...
        ```

    Key init args - model:
        model: `"provider/model"`; everything after the first `/` is the model name
            (`"vllm/meta-llama/Llama-3-8B"`). Providers: anthropic, gemini (alias
            google), vertex, openai, groq, openrouter, mistral, deepseek, xai, together,
            fireworks, cerebras, sambanova, perplexity, huggingface, moonshot, zai,
            nvidia, dashscope, and the local servers ollama, llamacpp, vllm, lmstudio; or
            any name with an explicit `base_url` (an OpenAI-compatible server).
        temperature: Sampling temperature.
        max_tokens: Maximum number of tokens to generate.
        stop: Stop sequences.
        reasoning_effort: `"low"`/`"medium"`/`"high"` for reasoning models (OpenAI
            `reasoning_effort`, Anthropic adaptive effort, Gemini `thinkingLevel`).
        thinking_budget: Reasoning token budget (Anthropic `budget_tokens`, Gemini
            `thinkingBudget`).
        model_kwargs: Extra request body fields in the provider's own format (e.g.
            Gemini `{"safetySettings": [...]}`, OpenAI `{"user": "..."}`).
        use_responses_api: OpenAI's Responses API instead of chat completions: `True`,
            `False`, or `None` to decide per call (see "Responses API" below).

    Key init args - client:
        api_key: API key; read from the provider's variable (`OPENAI_API_KEY`,
            `GROQ_API_KEY`, ...) when not given.
        base_url: Server URL, with or without `/v1` (`http://127.0.0.1:8080`).
        timeout: Idle timeout in seconds: the longest wait for response headers and
            between two reads of a stream.
        header_timeout: Longest wait for a stream to start (default `timeout`; 10
            minutes for local servers, which process the whole prompt first).
        response_timeout: Longest wait for a non-streamed answer (600 s).
        connect_timeout: Connection timeout in seconds.
        total_timeout: Optional overall deadline per call, in seconds.
        first_token_timeout: Optional longest wait for a stream's first content (text,
            reasoning or a tool call), from the start of the call; SSE comments and pings
            do not count, so a server that only keeps the stream alive fails with
            `BhumiTimeoutError(phase="waiting for the first token")`.
        async_backend: `"aiohttp"` (extra `langchain-bhumi[aiohttp]`) for many concurrent
            async streams: less CPU per network read.
        max_retries: Retries for 408/409/429/5xx and connection failures, before any
            output reached you.
        max_frame_size: Longest stream line, event or JSON element, and largest
            non-streamed answer, in bytes (16 MiB); past it the call fails at once.

    Instantiate:
        ```python
        from langchain_bhumi import ChatBhumi

        llm = ChatBhumi(model="openai/gpt-4o-mini", temperature=0)
        claude = ChatBhumi(model="anthropic/claude-sonnet-4-5", thinking_budget=2048)
        gemini = ChatBhumi(model="gemini/gemini-2.5-flash")
        local = ChatBhumi(model="llamacpp/qwen2.5-coder", base_url="http://127.0.0.1:8080")
        ```

    Invoke:
        ```python
        messages = [
            ("system", "Translate the user sentence to French."),
            ("human", "I love programming."),
        ]
        llm.invoke(messages)
        # AIMessage(content="J'adore la programmation.", response_metadata={
        #     "finish_reason": "stop", "model_name": "gpt-4o-mini-2024-07-18",
        #     "model_provider": "bhumi"}, usage_metadata={...})
        ```

    Stream:
        ```python
        for chunk in llm.stream(messages):
            print(chunk.text, end="", flush=True)
        ```
        Usage, finish reason and model name arrive once, on the last chunk
        (`chunk.chunk_position == "last"`), so summing chunks counts usage once.

    Async:
        ```python
        await llm.ainvoke(messages)
        async for chunk in llm.astream(messages):
            ...
        ```

    Tool calling:
        ```python
        from pydantic import BaseModel, Field


        class GetWeather(BaseModel):
            '''Get the current weather in a given location'''

            location: str = Field(..., description="The city, e.g. Paris")


        llm_with_tools = llm.bind_tools([GetWeather], tool_choice="any")
        msg = llm_with_tools.invoke("What is the weather in Paris and in Lyon?")
        msg.tool_calls
        # [{"name": "GetWeather", "args": {"location": "Paris"}, "id": "call_...", ...},
        #  {"name": "GetWeather", "args": {"location": "Lyon"}, "id": "call_...", ...}]
        ```
        Arguments that are not a JSON object land in `msg.invalid_tool_calls` with the
        raw text and the parse error.

    Agents:
        ```python
        from langchain.agents import create_agent

        agent = create_agent(llm, tools=[get_weather])
        for token, metadata in agent.stream(
            {"messages": [("user", "Weather in Paris?")]}, stream_mode="messages"
        ):
            print(token.content_blocks)
        ```

    Structured output:
        ```python
        class Joke(BaseModel):
            setup: str
            punchline: str


        llm.with_structured_output(Joke).invoke("Tell me a joke about cats")
        # Joke(setup="...", punchline="...")
        ```
        Methods: `"function_calling"` (default, a forced tool call; works on the most
        servers), `"json_schema"` (`response_format` with a schema) and `"json_mode"`.

    Tool calls written as text:
        Small local models often write the call as text when the server's template misses
        it (a fenced JSON block, `<tool_call>{...}</tool_call>`, `[TOOL_CALLS][...]`,
        `<|python_tag|>{...}`). With `parse_text_tool_calls=True` such an answer, to a
        request that offered tools and got no real calls, becomes real tool calls to the
        offered tools (never to others); the text around them stays the answer, the
        original text is kept in `msg.response_metadata["text_tool_calls"]`. Streaming
        holds back text that may start a call until it is clear.
        ```python
        local = ChatBhumi(model="llamacpp/qwen2.5-coder", parse_text_tool_calls=True)
        local.bind_tools([get_weather]).invoke("Weather in Paris?").tool_calls
        # [{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_...", ...}]
        ```

    Model profile:
        ```python
        llm.profile["max_input_tokens"], llm.profile["structured_output"]
        # (128000, True) for openai/gpt-4o-mini
        ```
        What the model can do (limits, modalities, tools, structured output, reasoning)
        for the known models of the major providers, what a local server guarantees
        (llamacpp, ollama, vllm, lmstudio), and a conservative text-in/text-out profile
        for any other model (`langchain_bhumi.profiles`). `create_agent(llm,
        response_format=Schema)` uses native structured output where it says so, a
        forced tool call elsewhere. Give your own with `ChatBhumi(..., profile={...})`.

    Token counts:
        ```python
        llm.get_num_tokens_from_messages(messages)  # offline estimate, no tokenizer
        trim_messages(history, token_counter=llm, max_tokens=4000)
        ChatBhumi(model="anthropic/claude-sonnet-4-5", token_counting="provider")
        ```
        An estimate from the request body by default (about 4 bytes per token, images
        and documents at a flat 1,600); `token_counting="provider"` asks Anthropic's
        `count_tokens` or Gemini's `countTokens` for the exact number.

    Reasoning:
        Reasoning text (`reasoning_content`/`reasoning` on the wire, Anthropic thinking
        blocks, Gemini thought parts) is kept out of the answer:
        `msg.additional_kwargs["reasoning_content"]`, and a `reasoning` block in
        `msg.content_blocks` (or in `content` with `output_version="v1"`). What the
        provider needs back on the next turn (Anthropic `thinking_blocks` with their
        signatures, Gemini thought signatures in `tool_call_extras`, OpenRouter
        `reasoning_details`) is kept in `additional_kwargs` and sent back to that
        provider only, so passing the message on in the conversation just works.
        Reasoning text goes back where the provider documents it must (DeepSeek and Kimi
        thinking models on turns that made tool calls, GLM, Ollama, vLLM, llama.cpp);
        `send_reasoning=True`/`False` forces it on or off. Tool-call ids in the history
        are rewritten, calls and results alike, for providers that refuse other
        providers' ids (Mistral's 9 characters, Anthropic's pattern, OpenAI's 40), so a
        conversation can change providers mid-way.

    Responses API:
        ```python
        codex = ChatBhumi(model="openai/gpt-5.1-codex")  # Responses-only: switched on its own
        llm = ChatBhumi(model="openai/gpt-5-mini", use_responses_api=True, reasoning_effort="low")
        llm.bind_tools([{"type": "web_search"}]).invoke("Today's weather in Paris?")
        ```
        `use_responses_api=None` (default) sends a call to `/responses` when the model
        exists only there (`*-codex*`, `codex-mini*`, `o1-pro`/`o3-pro`/`gpt-5*-pro`,
        `computer-use-preview*`, `*-deep-research*`) or when it binds a built-in Responses
        tool (`web_search`, `file_search`, `code_interpreter`, `image_generation`, `mcp`,
        ...), for providers that serve the API (`openai`); `True` always uses it (any
        server at `base_url` that serves `/responses`: Azure, llama.cpp, LM Studio,
        vLLM, ...), `False` never. Requests are stateless (`store: false`, the whole
        conversation each turn) and ask for encrypted reasoning, which the answer keeps in
        `additional_kwargs["response_items"]` (with its message items and built-in tool
        calls such as `web_search_call`) and sends back on the next turn, so reasoning
        carries across tool calls. Citations are in `additional_kwargs["annotations"]`.
        The Responses API has no `stop` sequences: they are not sent.

    Usage metadata:
        ```python
        msg.usage_metadata
        # {"input_tokens": 28, "output_tokens": 5, "total_tokens": 33,
        #  "input_token_details": {"cache_read": 0},
        #  "output_token_details": {"reasoning": 0}}
        ```

    Errors:
        Failures raise `langchain_bhumi.BhumiError` subclasses that say what happened and
        where: `ProviderHTTPError` (status, provider, request id, body excerpt),
        `BhumiTimeoutError` (`.phase`: connect, waiting for headers, waiting for the first
        token, between chunks, total), `BrokenStreamError` (cut, invalid data, in-stream error),
        `MissingAPIKeyError` (names the variable to set). Each is also the matching
        `langchain_core.exceptions` type (`ModelAuthenticationError`,
        `ModelRateLimitError`, `ModelAPIError`, `ContextOverflowError`,
        `ModelTimeoutError`, `ModelConnectionError`, ...) with `is_retryable` set, so
        LangChain's fallbacks and retry middleware handle it like any provider's:

        ```python
        from langchain_core.exceptions import ModelAPIError

        llm.with_fallbacks([backup], exceptions_to_handle=(ModelAPIError,))
        ```
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str = Field(alias="model_name")
    """`"provider/model"`, e.g. `"openai/gpt-4o-mini"` or `"ollama/qwen2.5"`."""
    provider: str | None = None
    """Provider name; when given, `model` is used whole (no `provider/` prefix needed)."""
    api_key: SecretStr | None = None
    """API key; defaults to the provider's environment variable."""
    base_url: str | None = None
    """Server base URL; defaults to the provider's (or `<PROVIDER>_BASE_URL`)."""
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, alias="max_completion_tokens")
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    """`"low"`, `"medium"` or `"high"` for reasoning models (OpenAI-style; each wire format
    maps it as it can)."""
    thinking_budget: int | None = None
    """Token budget for reasoning where the format has one (Anthropic, Gemini)."""
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    timeout: float | None = Field(default=60.0, alias="request_timeout")
    """Idle timeout (s): the longest wait for headers and between two reads of a stream."""
    connect_timeout: float | None = 10.0
    total_timeout: float | None = None
    """Overall deadline per call (s), checked after every read; `None` for no deadline."""
    header_timeout: float | None = None
    """Longest wait for a stream to start. Default: `timeout`, or 10 minutes for local
    servers (ollama, llamacpp, vllm, lmstudio), which send nothing until they have
    processed the whole prompt."""
    first_token_timeout: float | None = None
    """Longest wait (s) for a stream's first text, reasoning or tool call, from the start
    of the call; keep-alives (SSE comments, pings) do not count. `None`: no limit."""
    response_timeout: float | None = 600.0
    """Non-streamed calls: the longest wait for the answer, which a server only sends once it
    has generated all of it (streamed calls use `timeout`)."""
    max_retries: int = 2
    streaming: bool = False
    """Stream under the hood even for `invoke` (the result is the same message)."""
    stream_usage: bool = True
    """Ask for usage in streams (`stream_options.include_usage`); turn off for servers
    that reject the field."""
    send_reasoning: bool | None = None
    """Send earlier turns' reasoning text back (`True`) or never (`False`); `None` follows
    what the provider documents (e.g. DeepSeek: on turns that made tool calls)."""
    parse_text_tool_calls: bool = False
    """Turn tool calls a model wrote as text into real calls, when tools were offered and
    none were called (see "Tool calls written as text")."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra fields for the request body."""
    default_headers: dict[str, str] | None = None
    http_client: httpx.Client | None = Field(default=None, exclude=True)
    """An `httpx.Client` to use instead of the private pool (you close it)."""
    http_async_client: httpx.AsyncClient | None = Field(default=None, exclude=True)
    """An `httpx.AsyncClient` to use instead of the private pools (you close it)."""
    token_counting: Literal["estimate", "provider"] = "estimate"  # noqa: S105 - not a secret
    """How `get_num_tokens_from_messages` and `get_num_tokens` count: `"estimate"`
    (offline: about 4 bytes of request JSON per token, 1,600 per inline image, document or
    audio clip; the proxy's count endpoints give the same) or `"provider"` (exact, one
    request to the provider's count endpoint: Anthropic `count_tokens`, Gemini
    `countTokens`; formats without one estimate)."""
    async_backend: Literal["httpx", "aiohttp"] = "httpx"
    """Connection handling of the private async pools: `"aiohttp"` (needs
    `langchain-bhumi[aiohttp]`) costs less CPU per read with many concurrent streams;
    `"httpx"` maps network errors more precisely. Both give one chunk per network read."""
    max_frame_size: int = Field(default=DEFAULT_MAX_FRAME_SIZE, gt=0)
    """The longest line, event or JSON element a response stream may send, and the largest
    non-streamed answer, in bytes (16 MiB). Past it the call fails at once with
    `InvalidStreamDataError` naming the limit, instead of buffering without bound."""

    use_responses_api: bool | None = None
    """Speak OpenAI's Responses API (`/responses`) instead of chat completions, for a
    provider whose format is chat completions (`openai`, or any server at `base_url`
    that serves `/responses`). `None` (default) decides per call: on for models that
    exist only there (`*-codex*`, `codex-mini*`, `o1-pro`/`o3-pro`/`gpt-5*-pro`,
    `computer-use-preview*`, `*-deep-research*`) and when the call binds a built-in
    Responses tool (`{"type": "web_search"}`, ...), for providers known to serve the API
    (`openai`); `False` never; `True` always. Other formats (Anthropic, Gemini) ignore
    it. The rule: `langchain_bhumi.providers.wire_format`."""

    _resolved: ResolvedModel = PrivateAttr()
    _client: ProviderClient = PrivateAttr()
    _clients: dict[str, ProviderClient] = PrivateAttr()

    @model_validator(mode="after")
    def _configure(self) -> ChatBhumi:
        self._setup()
        return self

    def _setup(self) -> None:
        """Resolve provider, key, wire format and transport from the fields."""
        self._resolved = resolve_model(self.model, provider=self.provider, base_url=self.base_url)
        self._client = ProviderClient.connect(
            self._resolved.provider,
            api_key=self.api_key.get_secret_value() if self.api_key else None,
            timeouts=Timeouts(
                connect=self.connect_timeout,
                idle=self.timeout,
                total=self.total_timeout,
                response=self.response_timeout,
                headers=self.header_timeout,
                first_token=self.first_token_timeout,
            ),
            retry=RetryPolicy(max_retries=self.max_retries),
            headers=self.default_headers,
            http_client=self.http_client,
            http_async_client=self.http_async_client,
            async_backend=self.async_backend,
            max_frame_size=self.max_frame_size,
        )
        if self.api_key is None and self._client.api_key is not None:
            self.api_key = SecretStr(self._client.api_key)
        self._clients = {self._client.protocol.name: self._client}
        self._client = self._client_for(self._resolved.model)

    def _client_for(self, model: str, tools: list[dict[str, Any]] | None = None) -> ProviderClient:
        """The client speaking the wire format a call to `model` with `tools` uses; one
        per format, all on the same connection pool."""
        name = wire_format(
            self._resolved.spec, model, use_responses_api=self.use_responses_api, tools=tools
        )
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self._client.speaking(name)
        return client

    def _resolve_model_profile(self) -> ModelProfile | None:
        """The model's capabilities from `langchain_bhumi.profiles` (a conservative
        profile for models it does not know)."""
        resolved = resolve_model(self.model, provider=self.provider, base_url=self.base_url)
        protocol = get_protocol(resolved.spec.protocol)
        return model_profile(
            resolved.spec.name,
            resolved.model,
            native_json_schema=protocol.supports_response_format(resolved.model, "json_schema"),
        )

    @property
    def _protocol(self) -> ChatProtocol:
        return self._client.protocol

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy whose provider, key and connection settings follow the copied fields."""
        clone = super().model_copy(update=dict(update) if update else None, deep=deep)
        clone._setup()
        if update and "profile" not in update and update.keys() & _NAMING_FIELDS:
            clone.profile = clone._resolve_model_profile()
        return clone

    # --- copies and pickles: the settings travel, connection pools never do ------------

    def __getstate__(self) -> dict[Any, Any]:
        if self.http_client is not None or self.http_async_client is not None:
            raise ConfigurationError(
                "cannot pickle a ChatBhumi built with http_client / http_async_client: a "
                "live connection pool cannot leave this process; pickle the model without "
                "them and pass new clients after loading it"
            )
        return self._settings()

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._setup()

    def __copy__(self) -> Self:
        clone = super().__copy__()
        clone._setup()
        return clone

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        memo = {} if memo is None else memo
        for yours in (self.http_client, self.http_async_client):
            if yours is not None:
                memo[id(yours)] = yours  # clients you passed in are shared, never copied
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__setstate__(copy.deepcopy(self._settings(), memo))
        return clone

    def _settings(self) -> dict[Any, Any]:
        """Pydantic's state without the private client and resolution (`_setup` rebuilds
        them from the fields)."""
        state = super().__getstate__()
        private = state.get("__pydantic_private__") or {}
        state["__pydantic_private__"] = {
            name: value for name, value in private.items() if name not in _REBUILT
        }
        return state

    # --- LangChain metadata ------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "bhumi-chat"

    @property
    def model_name(self) -> str:
        """The model name sent to the provider (without the `provider/` prefix)."""
        return self._resolved.model

    @property
    def provider_name(self) -> str:
        """The provider's registry name."""
        return self._resolved.spec.name

    @property
    def endpoint(self) -> str:
        """The URL requests go to."""
        return self._client.endpoint(self._resolved.model, stream=False)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self._resolved.model,
            "provider": self._resolved.spec.name,
            "base_url": self._resolved.base_url,
            **{name: getattr(self, name) for name in _GENERATION_FIELDS},
            "use_responses_api": self.use_responses_api,
            **self.model_kwargs,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=self._resolved.spec.name,
            ls_model_name=self._call_model(kwargs.get("model")),
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_bhumi", "chat_models"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        env = self._resolved.spec.api_key_env
        return {"api_key": env[0]} if env else {}

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (the model reopens one if used again)."""
        self._client.transport.close()

    async def aclose(self) -> None:
        """Close the connection pools of this thread's event loop and the sync pool."""
        await self._client.transport.aclose()

    def __enter__(self) -> ChatBhumi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ChatBhumi:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- calls -------------------------------------------------------------------------

    def _should_stream(
        self,
        *,
        async_api: bool,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None = _UNSET,
        **kwargs: Any,
    ) -> bool:
        """LangChain's rule for `stream`/`astream`; `False` when `invoke` asks (it passes
        its run manager), since `_generate` then streams by itself.

        When LangChain streams an `invoke` (`streaming=True`, a streaming callback handler
        as in LangGraph's `stream_mode="messages"` or `astream_events`), its answer is the
        sum of the chunks, and a sum rebuilds `invalid_tool_calls` from the argument
        pieces: the repair blocker in `args`, `error=None`. `_generate` streams the same
        chunks to the same callbacks and answers with that sum made exact
        (`exact_invalid_calls`).
        """
        if run_manager is _UNSET:
            return super()._should_stream(async_api=async_api, **kwargs)
        return False

    def _streams_invoke(
        self,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
        *,
        async_api: bool,
    ) -> bool:
        """Whether LangChain would have streamed this `invoke`."""
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._streams_invoke(run_manager, kwargs, async_api=False):
            run_id = _run_id(run_manager)
            chunks = []
            for chunk in self._stream(messages, stop, **kwargs):
                if run_manager is not None:
                    # What LangChain does to a chunk it streams (a v1 chunk's content is
                    # already its content blocks), and the content as the token.
                    chunk.message.id = chunk.message.id or run_id
                    content = chunk.message.content
                    run_manager.on_llm_new_token(content, chunk=chunk)
                chunks.append(chunk)
            return _streamed_result(chunks)
        with langchain_errors():
            client, request, builder, recovery = self._prepare(
                messages, stop, stream=False, kwargs=kwargs
            )
            events = client.complete(request)
            return self._result(builder.message(recovery.whole(events) if recovery else events))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._streams_invoke(run_manager, kwargs, async_api=True):
            run_id = _run_id(run_manager)
            chunks = []
            async for chunk in self._astream(messages, stop, **kwargs):
                if run_manager is not None:
                    # What LangChain does to a chunk it streams (a v1 chunk's content is
                    # already its content blocks), and the content as the token.
                    chunk.message.id = chunk.message.id or run_id
                    content = chunk.message.content
                    await run_manager.on_llm_new_token(content, chunk=chunk)
                chunks.append(chunk)
            return _streamed_result(chunks)
        with langchain_errors():
            client, request, builder, recovery = self._prepare(
                messages, stop, stream=False, kwargs=kwargs
            )
            events = await client.acomplete(request)
            return self._result(builder.message(recovery.whole(events) if recovery else events))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with langchain_errors():
            client, request, builder, recovery = self._prepare(
                messages, stop, stream=True, kwargs=kwargs
            )
            batches = client.stream(request)
            for events in recovery.stream(batches) if recovery else batches:
                chunk = builder.chunk(events)
                if chunk is not None:
                    yield generation_chunk(chunk)
        yield ChatGenerationChunk(message=builder.final_chunk())

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        with langchain_errors():
            client, request, builder, recovery = self._prepare(
                messages, stop, stream=True, kwargs=kwargs
            )
            batches = client.astream(request)
            async for events in recovery.astream(batches) if recovery else batches:
                chunk = builder.chunk(events)
                if chunk is not None:
                    yield generation_chunk(chunk)
        yield ChatGenerationChunk(message=builder.final_chunk())

    # --- token counts ------------------------------------------------------------------

    @property
    def _counts_with_provider(self) -> bool:
        return self.token_counting == "provider"  # noqa: S105 - a mode, not a secret

    def get_num_tokens_from_messages(
        self,
        messages: list[BaseMessage],
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool] | None = None,
    ) -> int:
        """The input tokens of `messages` (and `tools`), as `token_counting` says: an
        offline estimate, or the provider's count endpoint. Needs no tokenizer package.

        Example:
            ```python
            from langchain_core.messages import trim_messages

            llm.get_num_tokens_from_messages([("user", "Hello!")])
            trim_messages(history, token_counter=llm, max_tokens=4000)
            ```
        """
        chat = ChatRequest(
            model=self._resolved.model,
            messages=convert_to_messages(messages),
            tools=_format_tools(tools) if tools else None,
        )
        if self._counts_with_provider:
            with langchain_errors():
                counted = self._client.count_tokens(chat)
            if counted is not None:
                return counted
        with langchain_errors():
            return estimate_tokens(self._client.http_request(chat).body)

    def get_num_tokens(self, text: str) -> int:
        """The tokens of `text`: an estimate (4 bytes a token), or with
        `token_counting="provider"` the provider's count of a user message holding it."""
        if self._counts_with_provider:
            return self.get_num_tokens_from_messages([HumanMessage(text)])
        return estimate_text_tokens(text)

    # --- request building --------------------------------------------------------------

    def _call_model(self, override: Any) -> str:
        if not override:
            return self._resolved.model
        prefix = self._resolved.spec.name + "/"
        name = str(override)
        return name[len(prefix) :] if name.startswith(prefix) else name

    def _prepare(
        self,
        messages: Sequence[BaseMessage],
        stop: list[str] | None,
        *,
        stream: bool,
        kwargs: dict[str, Any],
    ) -> tuple[ProviderClient, HTTPRequest, MessageBuilder, TextToolCallFilter | None]:
        extra = dict(kwargs)
        extra.pop("stream", None)
        model = self._call_model(extra.pop("model", None))
        fields = {name: getattr(self, name) for name in _GENERATION_FIELDS}
        fields.update((name, extra.pop(name)) for name in _REQUEST_FIELDS & extra.keys())
        fields["tools"] = fields.get("tools") or None
        fields["stop"] = extra.pop("stop", None) or stop or self.stop or None
        chat_request = ChatRequest(
            model=model,
            messages=messages,
            stream=stream,
            **fields,
            include_usage=self.stream_usage,
            send_reasoning=self.send_reasoning,
            extra_body={**self.model_kwargs, **extra},
        )
        client = self._client_for(model, chat_request.tools)
        request = client.http_request(chat_request)
        builder = MessageBuilder(
            v1=self.output_version == "v1",
            model_name=model,
            wire_format=client.protocol.name,
            provider=self._resolved.spec.name,
        )
        return client, request, builder, self._text_tool_calls(chat_request)

    def _text_tool_calls(self, request: ChatRequest) -> TextToolCallFilter | None:
        """A recovery of calls written as text, when asked for and tools were offered."""
        if not self.parse_text_tool_calls or not request.tools or request.tool_choice == "none":
            return None
        names = [
            t["function"].get("name") if isinstance(t.get("function"), dict) else t.get("name")
            for t in request.tools
        ]
        return TextToolCallFilter(n for n in names if isinstance(n, str))

    def _result(self, message: AIMessage) -> ChatResult:
        # No llm_output: LangChain would merge it into response_metadata, and the
        # streamed and non-streamed messages would differ.
        return ChatResult(generations=[ChatGeneration(message=message)])

    # --- tools and structured output -----------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        response_format: dict[str, Any] | type | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (functions, pydantic models, LangChain tools or JSON schemas).

        Args:
            tools: The tools the model may call.
            tool_choice: `"auto"`, `"any"`/`"required"` (must call one), `"none"`, a tool
                name (must call that one), `True` (must call the only tool), or a
                provider-format dict.
            parallel_tool_calls: Allow (`True`) or forbid (`False`) several calls in one
                turn; `None` leaves the server default.
            strict: Ask for schema-exact arguments (OpenAI `strict` function calling).
            response_format: Also constrain the final answer (a schema or an OpenAI
                `response_format` dict).
            kwargs: Passed to `bind` (request body fields, `model`, `stop`, ...).

        Example:
            ```python
            def get_weather(city: str) -> str:
                '''Current weather for a city.'''
                return "sunny"


            llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Paris?")
            ```
        """
        formatted = _format_tools(tools, strict)
        names = [
            t["function"]["name"] if "function" in t else t.get("name", "")
            for t in formatted
            if "function" in t or t.get("name")
        ]
        if tool_choice is not None and tool_choice is not False:
            kwargs["tool_choice"] = _tool_choice(tool_choice, names)
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        if response_format is not None:
            kwargs["response_format"] = _response_format(response_format, strict)
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        method: StructuredOutputMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """A runnable that returns output matching `schema`.

        Args:
            schema: A pydantic model, TypedDict, or JSON schema / OpenAI function dict.
            method: `"function_calling"` (default: the model is forced to call a tool
                shaped like the schema; the most widely supported), `"json_schema"`
                (`response_format` with the schema) or `"json_mode"` (JSON object output;
                describe the shape in the prompt). Where the model has no native
                `json_schema` / JSON mode (older Claude models, Anthropic's JSON mode),
                a forced tool call is used instead.
            include_raw: Return `{"raw": AIMessage, "parsed": ..., "parsing_error": ...}`
                instead of raising on parse errors.
            strict: Ask the server to enforce the schema exactly.
            kwargs: Passed to `bind`.

        Example:
            ```python
            class Answer(BaseModel):
                answer: str
                confidence: float


            structured = llm.with_structured_output(Answer, method="json_schema")
            structured.invoke("What is the capital of France?")
            # Answer(answer="Paris", confidence=0.98)
            ```
        """
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        if method in ("json_schema", "json_mode"):
            kind = "json_schema" if method == "json_schema" else "json_object"
            model = self._call_model(kwargs.get("model"))
            if not self._protocol.supports_response_format(model, kind):
                method = "function_calling"  # a forced tool call works where this does not
        tool = convert_to_openai_tool(schema, strict=strict)
        trace = {"kwargs": {"method": method, "strict": strict}, "schema": tool}
        parser: Runnable[Any, Any]
        if method == "function_calling":
            name = tool["function"]["name"]
            llm = self.bind_tools(
                [schema],
                tool_choice=name,
                parallel_tool_calls=False,
                strict=strict,
                ls_structured_output_format=trace,
                **kwargs,
            )
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
                if is_pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method in ("json_schema", "json_mode"):
            response_format = (
                _response_format(schema, strict)
                if method == "json_schema"
                else {"type": "json_object"}
            )
            llm = self.bind(
                response_format=response_format, ls_structured_output_format=trace, **kwargs
            )
            parser = (
                PydanticOutputParser(pydantic_object=schema)  # type: ignore[arg-type]
                if is_pydantic
                else JsonOutputParser()
            )
        else:
            raise ValueError(
                f"method must be 'function_calling', 'json_schema' or 'json_mode', not {method!r}"
            )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks(
            [fallback], exception_key="parsing_error"
        )


def _run_id(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> str | None:
    """The id LangChain gives a streamed answer's chunks and message: `lc_run--<run id>`."""
    return f"{LC_ID_PREFIX}-{run_manager.run_id}" if run_manager is not None else None


def _streamed_result(chunks: list[ChatGenerationChunk]) -> ChatResult:
    """The chunks summed, as LangChain sums a streamed `invoke`, with each invalid call as
    received (the sum's `invalid_tool_calls` hold the repair blocker and no reason)."""
    result = generate_from_stream(iter(chunks))
    generation = result.generations[0]
    assert isinstance(generation.message, AIMessage)
    generation.message = exact_invalid_calls(generation.message)
    return result


def _format_tools(
    tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
    strict: bool | None = None,
) -> list[dict[str, Any]]:
    """OpenAI-style tool dicts; a provider's own tool dicts pass through as they are."""
    return [
        tool  # type: ignore[misc]
        if _is_builtin_tool(tool)
        else convert_to_openai_tool(tool, strict=strict)
        for tool in tools
    ]


def _is_builtin_tool(tool: Any) -> bool:
    """A provider's own tool dict (e.g. `{"type": "web_search_20250305", ...}`), sent as is."""
    return (
        isinstance(tool, dict)
        and isinstance(tool.get("type"), str)
        and tool["type"] not in ("function", "object")  # "object": a JSON schema
        and not tool.keys() & {"function", "input_schema", "parameters", "properties"}
    )


def _tool_choice(choice: dict[str, Any] | str | bool, names: list[str]) -> dict[str, Any] | str:
    if choice is True:
        if len(names) != 1:
            raise ValueError(f"tool_choice=True needs exactly one tool, got {len(names)}: {names}")
        return names[0]
    if isinstance(choice, dict):
        return choice
    if choice == "any":
        return "required"
    if choice in ("auto", "none", "required") or choice in names:
        return choice
    raise ValueError(
        f"tool_choice {choice!r} is not 'auto', 'any', 'required', 'none' or a bound tool "
        f"name ({', '.join(names) or 'no tools bound'})"
    )


def _response_format(schema: dict[str, Any] | type, strict: bool | None) -> dict[str, Any]:
    """An OpenAI `response_format` dict for a schema (dicts with a `type` pass through)."""
    if isinstance(schema, dict) and schema.get("type") in ("json_schema", "json_object", "text"):
        return schema
    function = convert_to_openai_tool(schema, strict=strict)["function"]
    json_schema: dict[str, Any] = {"name": function["name"], "schema": function["parameters"]}
    if function.get("description"):
        json_schema["description"] = function["description"]
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}
