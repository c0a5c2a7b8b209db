"""Proxy configuration: named backends, a model map, a default, and the server's limits.

```toml
[server]
host = "127.0.0.1"              # loopback by default; see "open_proxy" below
port = 8080
workers = 1                     # processes (each with its own limits and memory)
log_level = "info"              # one access line per request at info
max_body_bytes = 10_000_000
max_concurrent = 512            # requests served at once, per worker ...
queue_timeout = 30              # ... more wait this long for a slot, then get 503
keepalive_interval = 15         # idle seconds before a stream gets a keep-alive event
stream_start_wait = 1.0         # see below
connection_idle_timeout = 5     # idle seconds a client connection stays open
proxy_keys = ["${BHUMI_PROXY_KEY}"]   # clients must present one of these
# or with a name (logged instead of the key) and limits of its own:
# proxy_keys = [{ key = "${CI_KEY}", name = "ci", requests_per_minute = 60, max_concurrent = 4 }]
key_requests_per_minute = 600   # optional defaults for every key: 429 beyond them
key_max_concurrent = 16
open_proxy = false              # true: serve a non-loopback host without proxy keys
log_prompts = false
signature_store = "/var/lib/bhumi/signatures.sqlite"   # optional, see below
signature_store_size = 100_000

[backends.local]
provider = "llamacpp"
base_url = "http://127.0.0.1:18080/v1"
params = { temperature = 0 }    # defaults for every request to this backend
first_token_timeout = 120       # optional: fail a stream that sends only keep-alives
drop = ["reasoning_effort"]     # options this backend rejects
async_backend = "httpx"         # default: "aiohttp" when installed (langchain-bhumi[proxy])
max_frame_size = 16_777_216     # longest stream line/event/element from this backend

[backends.openai]
provider = "openai"
api_key = "${OPENAI_API_KEY}"   # or api_key_env = "OPENAI_API_KEY"
passthrough_key = false         # true: send the client's own key instead
use_responses_api = true        # /v1/responses for every model, not chat completions

[models]                        # client-visible name -> "backend/model"
"gpt-4o-mini" = "openai/gpt-4o-mini"
"gemini-2.5-pro" = "local/qwen2.5-coder-1.5b-instruct"

[default]                       # anything else (gemini-cli asks for ever-new names)
backend = "local"
model = "qwen2.5-coder-1.5b-instruct"
```

`${NAME}` anywhere in a string is replaced by that environment variable; a missing one is
an error naming it. A requested name is resolved through `[models]`, then as
`<backend>/<model>` for a configured backend, then to `[default]`.

Streams: the answer's status, headers and opening event (Anthropic `message_start`, the
OpenAI role chunk) go out when the backend's first events arrive or `stream_start_wait`
seconds after the request was sent, whichever comes first, so a backend that reads a
long prompt before answering (llama-server sends no headers until then) does not leave
the client waiting in silence; then a keep-alive whenever the stream was idle for
`keepalive_interval`. A backend failure within `stream_start_wait` keeps its HTTP status
(SDKs retry on 429 and 503); a later one arrives as the frontend's in-stream error event.

`use_responses_api` (OpenAI-compatible backends only): `true` sends every request to
the backend's `/responses` (the Responses API), `false` never; unset, a backend of a
provider that serves it (`openai`) gets `/responses` for the models that exist only there
(`*-codex*`, `o3-pro`, ...) and for requests with built-in tools (`web_search`, ...), as
ChatBhumi does (`langchain_bhumi.providers.wire_format`).

`signature_store`: provider data that must come back with a tool call on the next turn
(Gemini 3 thought signatures, which OpenAI and Anthropic clients drop) is kept in memory
and, when this names a file, in SQLite: it survives a restart and is shared by workers.
At most `signature_store_size` calls are kept, the oldest dropped first.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_bhumi.core.config import DEFAULT_MAX_FRAME_SIZE
from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.core.transport import AsyncBackend
from langchain_bhumi.protocols.base import GENERATION_PARAMS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

CONFIG_ENV = "LANGCHAIN_BHUMI_PROXY_CONFIG"
"""Environment variable through which `serve --workers N` hands the configuration (the
TOML tables as JSON) to each worker process (see `app.create_app_from_environment`)."""

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class UnknownModelError(ConfigurationError):
    """No backend serves the model a client asked for (the proxy answers 404)."""


@dataclass(frozen=True)
class BackendConfig:
    """One upstream: a provider ChatBhumi knows, or any OpenAI-compatible URL."""

    name: str
    provider: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    passthrough_key: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float = 60.0
    header_timeout: float | None = None
    first_token_timeout: float | None = None
    """Longest wait for the backend's first content (keep-alives do not count)."""
    max_retries: int = 2
    drop: tuple[str, ...] = ()
    """Request options this backend rejects, removed before sending (e.g. gemini-cli sends
    a thinking level on every request; non-reasoning models refuse `reasoning_effort`)."""
    async_backend: AsyncBackend = "httpx"
    """The client to this backend. A config file's default is `"aiohttp"` when
    httpx-aiohttp is installed (`langchain-bhumi[proxy]` installs it): it spends about
    half httpx's CPU per streamed chunk, and httpx's pool scans every connection on every
    request, which dominates from a few hundred concurrent streams on (see
    `benchmarks/proxy.py` and `benchmarks/soak.py`)."""
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    """The longest line, event or JSON element this backend's streams may send (bytes)."""
    use_responses_api: bool | None = None
    """Send the Responses API (`/responses`) to an OpenAI-compatible backend: `True`
    always, `False` never, `None` for the models and tools that need it (see the module
    doc)."""


@dataclass(frozen=True)
class ProxyKey:
    """A key clients present to use the proxy, with optional limits of its own.

    `name` is what the access log shows (the key itself is never logged).
    """

    name: str
    secret: str = field(repr=False)
    requests_per_minute: int | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True)
class ProxyConfig:
    """The whole proxy configuration (see the module doc for each field's meaning)."""

    backends: dict[str, BackendConfig]
    models: dict[str, tuple[str, str]] = field(default_factory=dict)
    default_backend: str | None = None
    default_model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    log_level: str = "info"
    max_body_bytes: int = 10_000_000
    max_concurrent: int = 512
    queue_timeout: float = 30.0
    keepalive_interval: float = 15.0
    stream_start_wait: float = 1.0
    connection_idle_timeout: int = 5
    proxy_keys: tuple[ProxyKey, ...] = ()
    open_proxy: bool = False
    log_prompts: bool = False
    signature_store: str | None = None
    signature_store_size: int = 100_000

    def route(self, requested: str) -> tuple[BackendConfig, str]:
        """The backend and backend model for a client-visible model name."""
        name = requested.removeprefix("models/")
        if name in self.models:
            backend, model = self.models[name]
            return self.backends[backend], model
        prefix, sep, rest = name.partition("/")
        if sep and prefix in self.backends and rest:
            return self.backends[prefix], rest
        if self.default_backend is None:
            raise UnknownModelError(
                f"no backend for model {requested!r}: add it to [models] or set [default]"
            )
        return self.backends[self.default_backend], self.default_model or name

    def visible_models(self) -> list[str]:
        """Model names to list to clients (`GET /v1/models`, `GET /v1beta/models`)."""
        names = list(self.models)
        if self.default_model and self.default_model not in names:
            names.append(self.default_model)
        return names

    def secrets(self) -> tuple[str, ...]:
        """Every credential in this configuration (backend keys, proxy keys): never shown."""
        backend_keys = tuple(b.api_key for b in self.backends.values() if b.api_key)
        return backend_keys + tuple(k.secret for k in self.proxy_keys)


OPEN_PROXY_FIX = (
    "Set [server].proxy_keys (clients then send one as their API key), or, if something in "
    "front of the proxy already authenticates clients, pass --allow-open-proxy (or set "
    "[server].open_proxy = true)"
)
"""How to serve other machines, said wherever the proxy refuses to (`serve`, the gate)."""


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the proxy reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a host name: it may resolve to anything
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # an IPv4 peer of a dual-stack socket
    return address.is_loopback


def check_exposure(config: ProxyConfig) -> None:
    """Refuse an open relay: a non-loopback bind needs proxy keys or `open_proxy`.

    Raises:
        ConfigurationError: `config.host` is reachable from other machines, no proxy keys
            are configured and `open_proxy` is not set.
    """
    if is_loopback(config.host) or config.proxy_keys or config.open_proxy:
        return
    raise ConfigurationError(
        f"refusing to serve on {config.host} without proxy keys: anyone who can reach the "
        f"port could use the backends and spend their keys. {OPEN_PROXY_FIX}"
    )


def expand_env(value: Any, where: str = "config") -> Any:
    """`${NAME}` replaced by environment variables, recursively; missing ones raise."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigurationError(f"{where}: environment variable {name} is not set")
            return os.environ[name]

        return _ENV.sub(lookup, value)
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where) for v in value]
    return value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The TOML tables of a configuration file, not yet checked (see `parse_config`)."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigurationError(f"cannot read proxy config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from exc


def load_config(path: str | Path) -> ProxyConfig:
    """Read and check a TOML configuration file."""
    return parse_config(read_config_file(path), source=str(path))


def config_from_environment() -> ProxyConfig:
    """The configuration `serve` put in `CONFIG_ENV` for its worker processes."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise ConfigurationError(
            f"{CONFIG_ENV} is not set: start workers with `langchain-bhumi serve --workers N`"
        )
    try:
        tables = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{CONFIG_ENV} is not valid JSON: {exc}") from exc
    return parse_config(tables, source=CONFIG_ENV)


def parse_config(raw: dict[str, Any], source: str = "config") -> ProxyConfig:
    """A `ProxyConfig` from already-parsed TOML data."""
    server = raw.get("server") or {}
    backends: dict[str, BackendConfig] = {}
    for name, table in (raw.get("backends") or {}).items():
        backends[name] = _backend(name, table, f"{source}: [backends.{name}]")
    if not backends:
        raise ConfigurationError(f"{source}: define at least one [backends.<name>]")
    models: dict[str, tuple[str, str]] = {}
    for visible, target in (raw.get("models") or {}).items():
        backend, sep, model = str(target).partition("/")
        if not sep or backend not in backends or not model:
            raise ConfigurationError(
                f"{source}: [models] {visible!r} = {target!r} must be '<backend>/<model>' with "
                f"a backend from: {', '.join(sorted(backends))}"
            )
        models[visible] = (backend, model)
    default = raw.get("default") or {}
    default_backend = default.get("backend") or (
        next(iter(backends)) if len(backends) == 1 else None
    )
    if default_backend is not None and default_backend not in backends:
        raise ConfigurationError(f"{source}: [default] backend {default_backend!r} is not defined")
    where = f"{source}: [server]"
    proxy_keys = _proxy_keys(server, where)
    forwarding = [name for name, b in backends.items() if b.passthrough_key]
    if proxy_keys and forwarding:
        raise ConfigurationError(
            f"{source}: backends {forwarding} forward the client's own key (passthrough_key), "
            "but with [server].proxy_keys that key is a proxy key: the backend would receive "
            "it and reject it. Use one or the other"
        )
    log_level = str(server.get("log_level", "info")).lower()
    if log_level not in LOG_LEVELS:
        raise ConfigurationError(f"{where}.log_level must be one of {', '.join(LOG_LEVELS)}")
    store = server.get("signature_store")
    return ProxyConfig(
        backends=backends,
        models=models,
        default_backend=default_backend,
        default_model=default.get("model"),
        host=str(server.get("host", "127.0.0.1")),
        port=_number(server, "port", where, int, 8080, minimum=0),
        workers=_number(server, "workers", where, int, 1, minimum=1),
        log_level=log_level,
        max_body_bytes=_number(server, "max_body_bytes", where, int, 10_000_000, minimum=1),
        max_concurrent=_number(server, "max_concurrent", where, int, 512, minimum=1),
        queue_timeout=_number(server, "queue_timeout", where, float, 30.0, minimum=0),
        keepalive_interval=_number(server, "keepalive_interval", where, float, 15.0, minimum=0),
        stream_start_wait=_number(server, "stream_start_wait", where, float, 1.0, minimum=0),
        connection_idle_timeout=_number(
            server, "connection_idle_timeout", where, int, 5, minimum=0
        ),
        proxy_keys=proxy_keys,
        open_proxy=bool(server.get("open_proxy", False)),
        log_prompts=bool(server.get("log_prompts", False)),
        signature_store=expand_env(str(store), f"{where}.signature_store") if store else None,
        signature_store_size=_number(
            server, "signature_store_size", where, int, 100_000, minimum=1
        ),
    )


def _number(
    table: dict[str, Any],
    name: str,
    where: str,
    kind: type[int] | type[float],
    default: float,
    *,
    minimum: float,
) -> Any:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigurationError(f"{where}.{name} must be a number >= {minimum}, not {value!r}")
    return kind(value)


def _proxy_keys(server: dict[str, Any], where: str) -> tuple[ProxyKey, ...]:
    """`proxy_keys` entries (a key, or a table with `key`, `name` and limits), with the
    `key_*` defaults applied. A key that expands to nothing is an error: leaving it out
    could leave the proxy open while its operator believes keys are on."""
    defaults = {
        "requests_per_minute": server.get("key_requests_per_minute"),
        "max_concurrent": server.get("key_max_concurrent"),
    }
    keys: list[ProxyKey] = []
    for number, entry in enumerate(server.get("proxy_keys") or [], start=1):
        at = f"{where}.proxy_keys[{number - 1}]"
        table = dict(entry) if isinstance(entry, dict) else {"key": entry}
        unknown = set(table) - {"key", "name", "requests_per_minute", "max_concurrent"}
        if unknown or not isinstance(table.get("key"), str):
            raise ConfigurationError(
                f"{at} must be a key, or a table with 'key' and optionally 'name', "
                "'requests_per_minute', 'max_concurrent'"
            )
        secret = expand_env(table["key"], at)
        if not secret:
            raise ConfigurationError(
                f"{at} = {table['key']!r} is empty (an environment variable in it is set but "
                "empty?): set it, or remove the entry"
            )
        limits = {
            name: _number({name: value}, name, at, int, 0, minimum=1)
            for name in defaults
            if (value := table.get(name, defaults[name])) is not None
        }
        keys.append(
            ProxyKey(name=str(table.get("name") or f"key{number}"), secret=secret, **limits)
        )
    return tuple(keys)


def default_async_backend() -> AsyncBackend:
    """`"aiohttp"` when httpx-aiohttp is installed, else `"httpx"`."""
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        return "httpx"
    return "aiohttp"


def _backend(name: str, table: dict[str, Any], where: str) -> BackendConfig:
    if "provider" not in table:
        raise ConfigurationError(f"{where}: 'provider' is required (e.g. 'openai', 'llamacpp')")
    api_key = expand_env(table.get("api_key"), where)
    key_env = table.get("api_key_env")
    if api_key is None and key_env:
        api_key = os.environ.get(str(key_env))
        if api_key is None:
            raise ConfigurationError(f"{where}: environment variable {key_env} is not set")
    params = dict(table.get("params") or {})
    drop = tuple(str(name) for name in table.get("drop") or ())
    unknown = (set(params) | set(drop)) - GENERATION_PARAMS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown params {sorted(unknown)}; "
            f"allowed: {', '.join(sorted(GENERATION_PARAMS))}"
        )
    async_backend = table.get("async_backend", default_async_backend())
    if async_backend not in ("httpx", "aiohttp"):
        raise ConfigurationError(f"{where}: async_backend must be 'httpx' or 'aiohttp'")
    use_responses_api = table.get("use_responses_api")
    if use_responses_api is not None and not isinstance(use_responses_api, bool):
        raise ConfigurationError(f"{where}: use_responses_api must be true or false")
    return BackendConfig(
        name=name,
        provider=str(table["provider"]),
        base_url=expand_env(table.get("base_url"), where),
        api_key=api_key,
        passthrough_key=bool(table.get("passthrough_key", False)),
        params=params,
        timeout=float(table.get("timeout", 60.0)),
        header_timeout=float(table["header_timeout"]) if "header_timeout" in table else None,
        first_token_timeout=(
            float(table["first_token_timeout"]) if "first_token_timeout" in table else None
        ),
        max_retries=int(table.get("max_retries", 2)),
        drop=drop,
        async_backend=async_backend,
        max_frame_size=_number(
            table, "max_frame_size", where, int, DEFAULT_MAX_FRAME_SIZE, minimum=1
        ),
        use_responses_api=use_responses_api,
    )


def single_backend_tables(
    model: str, *, base_url: str | None = None, api_key: str | None = None
) -> dict[str, Any]:
    """The TOML tables of a configuration with one backend serving every model name."""
    provider, _, backend_model = model.partition("/")
    backend: dict[str, Any] = {"provider": provider}
    if base_url:
        backend["base_url"] = base_url
    if api_key:
        backend["api_key"] = api_key
    default: dict[str, Any] = {"backend": provider}
    if backend_model:
        default["model"] = backend_model
    return {"backends": {provider: backend}, "default": default}


def single_backend(
    model: str, *, base_url: str | None = None, api_key: str | None = None
) -> ProxyConfig:
    """A configuration with one backend serving every model name (`serve --model ...`)."""
    return parse_config(single_backend_tables(model, base_url=base_url, api_key=api_key))
