"""The translating proxy as an ASGI app: the OpenAI (Chat Completions and Responses),
Anthropic and Gemini API shapes over any backend (see `service.py` for what happens to a
request, `routes.py` for the URLs, `gate.py` for the key check and the access line)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from langchain_bhumi.protocols import get_server_codec, server_formats
from langchain_bhumi.protocols.base import ServerCodec
from langchain_bhumi.proxy import routes
from langchain_bhumi.proxy.config import ProxyConfig, config_from_environment
from langchain_bhumi.proxy.gate import Gate
from langchain_bhumi.proxy.service import ProxyApp


def default_codecs() -> dict[str, ServerCodec]:
    """Every registered frontend, by format name (`openai_chat`, `openai_responses`,
    `anthropic`, `gemini`)."""
    return {name: get_server_codec(name) for name in server_formats()}


def create_app(config: ProxyConfig, codecs: dict[str, ServerCodec] | None = None) -> Starlette:
    """The proxy as an ASGI app.

    Routes: `POST /v1/chat/completions`, `POST /v1/responses`, `GET /v1/models` (OpenAI);
    `POST /v1/messages`,
    `POST /v1/messages/count_tokens` (Anthropic); `POST /v1beta/models/{model}:generateContent`,
    `:streamGenerateContent` (`alt=sse` or a JSON array), `:countTokens`,
    `GET /v1beta/models` (Gemini); `GET /health`. With proxy keys configured, every route
    but `GET /health` needs one; without them, a request that comes in on a non-loopback
    address is refused (403) unless `config.open_proxy` is set, as `serve` refuses to bind
    one.

    Example:
        ```python
        import uvicorn

        from langchain_bhumi.proxy import create_app, load_config

        uvicorn.run(create_app(load_config("proxy.toml")), host="127.0.0.1", port=8080)
        ```
    """
    codecs = codecs or default_codecs()
    proxy = ProxyApp(config, codecs)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await proxy.aclose()

    gate = Middleware(
        Gate,
        keys=proxy.keys,
        codecs=codecs,
        frontend_for_path=routes.frontend_for_path,
        secrets=proxy.secrets,
        open_proxy=config.open_proxy,
    )
    app = Starlette(routes=routes.build(proxy, codecs), middleware=[gate], lifespan=lifespan)
    app.state.proxy = proxy
    return app


def create_app_from_environment() -> Starlette:
    """The app of one `serve --workers N` worker process: each builds its own, from the
    configuration `serve` left in the environment (`config.CONFIG_ENV`).

    ```bash
    uvicorn --factory langchain_bhumi.proxy.app:create_app_from_environment --workers 4
    ```

    Started this way, `serve`'s refusal to bind a non-loopback host without proxy keys
    does not run; the app itself then answers 403 to requests from the network (see
    `gate.Gate`).
    """
    return create_app(config_from_environment())


def log_config(level: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` a served proxy runs with (in every worker).

    At `info`: uvicorn's start and stop lines and the proxy's one access line per request
    (`langchain_bhumi.proxy`), on standard error with the worker's pid. Not uvicorn's own
    access log (it would log query strings, where Gemini clients may put their key) nor
    httpx's line per backend request (ours already says it, without the URL).
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "langchain_bhumi": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


__all__ = ["create_app", "create_app_from_environment", "default_codecs", "log_config"]
