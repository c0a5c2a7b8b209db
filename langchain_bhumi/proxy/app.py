"""The translating proxy as an ASGI app: OpenAI, Anthropic and Gemini API shapes over any
backend (see `service.py` for what happens to a request, `routes.py` for the URLs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from langchain_bhumi.protocols import get_server_codec, server_formats
from langchain_bhumi.protocols.base import ServerCodec
from langchain_bhumi.proxy import routes
from langchain_bhumi.proxy.config import ProxyConfig
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
    `GET /v1beta/models` (Gemini); `GET /health`.
    """
    codecs = codecs or default_codecs()
    proxy = ProxyApp(config, codecs)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await proxy.aclose()

    app = Starlette(routes=routes.build(proxy, codecs), lifespan=lifespan)
    app.state.proxy = proxy
    return app


__all__ = ["create_app", "default_codecs"]
