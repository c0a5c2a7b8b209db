"""Proxy configuration: named backends, a model map, a default, and the server's limits.

```toml
[server]
host = "127.0.0.1"              # loopback by default
port = 8080
max_body_bytes = 10_000_000
max_concurrent = 64
proxy_keys = ["${BHUMI_PROXY_KEY}"]   # optional: clients must present one of these
log_prompts = false

[backends.local]
provider = "llamacpp"
base_url = "http://127.0.0.1:18080/v1"
params = { temperature = 0 }    # defaults for every request to this backend
drop = ["reasoning_effort"]     # options this backend rejects
max_frame_size = 16_777_216     # longest stream line/event/element from this backend

[backends.openai]
provider = "openai"
api_key = "${OPENAI_API_KEY}"   # or api_key_env = "OPENAI_API_KEY"
passthrough_key = false         # true: send the client's own key instead

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
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_bhumi.core.config import DEFAULT_MAX_FRAME_SIZE
from langchain_bhumi.core.errors import ConfigurationError
from langchain_bhumi.protocols.base import GENERATION_PARAMS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnknownModelError(ConfigurationError):
    """No backend serves the model a client asked for (the proxy answers 404)."""


@dataclass(frozen=True)
class BackendConfig:
    """One upstream: a provider ChatBhumi knows, or any OpenAI-compatible URL."""

    name: str
    provider: str
    base_url: str | None = None
    api_key: str | None = None
    passthrough_key: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float = 60.0
    header_timeout: float | None = None
    max_retries: int = 2
    drop: tuple[str, ...] = ()
    """Request options this backend rejects, removed before sending (e.g. gemini-cli sends
    a thinking level on every request; non-reasoning models refuse `reasoning_effort`)."""
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    """The longest line, event or JSON element this backend's streams may send (bytes)."""


@dataclass(frozen=True)
class ProxyConfig:
    """The whole proxy configuration."""

    backends: dict[str, BackendConfig]
    models: dict[str, tuple[str, str]] = field(default_factory=dict)
    default_backend: str | None = None
    default_model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10_000_000
    max_concurrent: int = 64
    proxy_keys: tuple[str, ...] = ()
    log_prompts: bool = False

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


def load_config(path: str | Path) -> ProxyConfig:
    """Read and check a TOML configuration file."""
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except OSError as exc:
        raise ConfigurationError(f"cannot read proxy config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(raw, source=str(path))


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
    keys = expand_env(server.get("proxy_keys") or [], f"{source}: [server].proxy_keys")
    return ProxyConfig(
        backends=backends,
        models=models,
        default_backend=default_backend,
        default_model=default.get("model"),
        host=str(server.get("host", "127.0.0.1")),
        port=int(server.get("port", 8080)),
        max_body_bytes=int(server.get("max_body_bytes", 10_000_000)),
        max_concurrent=int(server.get("max_concurrent", 64)),
        proxy_keys=tuple(k for k in keys if k),
        log_prompts=bool(server.get("log_prompts", False)),
    )


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
    return BackendConfig(
        name=name,
        provider=str(table["provider"]),
        base_url=expand_env(table.get("base_url"), where),
        api_key=api_key,
        passthrough_key=bool(table.get("passthrough_key", False)),
        params=params,
        timeout=float(table.get("timeout", 60.0)),
        header_timeout=float(table["header_timeout"]) if "header_timeout" in table else None,
        max_retries=int(table.get("max_retries", 2)),
        drop=drop,
        max_frame_size=int(table.get("max_frame_size", DEFAULT_MAX_FRAME_SIZE)),
    )


def single_backend(
    model: str, *, base_url: str | None = None, api_key: str | None = None
) -> ProxyConfig:
    """A configuration with one backend serving every model name (`serve --model ...`)."""
    provider, _, backend_model = model.partition("/")
    backend = BackendConfig(name=provider, provider=provider, base_url=base_url, api_key=api_key)
    return ProxyConfig(
        backends={provider: backend}, default_backend=provider, default_model=backend_model or None
    )
