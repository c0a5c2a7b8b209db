"""The proxy's HTTP routes, one group per API shape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langchain_bhumi.protocols.base import ServerCodec
from langchain_bhumi.proxy.service import ProxyApp, estimate_tokens

GEMINI_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


def frontend_for_path(path: str) -> str:
    """The API (format name) a request path belongs to, for answers given before any
    route runs (a missing proxy key); paths of no API get OpenAI's format."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        return "gemini"
    if path in ("/v1/responses", "/responses"):
        return "openai_responses"
    return "openai_chat"


def build(proxy: ProxyApp, codecs: dict[str, ServerCodec]) -> list[Route]:
    """The routes of every frontend in `codecs` (keyed by format name)."""
    openai, anthropic, gemini = codecs["openai_chat"], codecs["anthropic"], codecs["gemini"]
    responses = codecs["openai_responses"]

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "backends": {
                    name: {"provider": b.config.provider, "format": b.format}
                    for name, b in proxy.backends.items()
                },
            }
        )

    def models(codec: ServerCodec) -> Response:
        return JSONResponse(codec.models_list(proxy.config.visible_models()))

    async def count_tokens(request: Request, codec: ServerCodec) -> Response:
        return await proxy.count_tokens(request, codec)

    async def openai_chat(request: Request) -> Response:
        return await proxy.handle(request, openai)

    async def openai_models(request: Request) -> Response:
        return models(openai)

    async def openai_responses(request: Request) -> Response:
        return await proxy.handle(request, responses)

    async def anthropic_messages(request: Request) -> Response:
        return await proxy.handle(request, anthropic)

    async def anthropic_count(request: Request) -> Response:
        return await count_tokens(request, anthropic)

    async def gemini_method(request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.rpartition(":")
        if method not in GEMINI_METHODS or not model:
            body = gemini.error_body(404, "not_found_error", f"unknown method {target!r}")
            return JSONResponse(body, status_code=404)
        if method == "countTokens":
            return await count_tokens(request, gemini)
        return await proxy.handle(
            request,
            gemini,
            model=model.removeprefix("models/"),
            stream=method == "streamGenerateContent",
            sse=request.query_params.get("alt") == "sse",
        )

    async def gemini_models(request: Request) -> Response:
        return models(gemini)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/chat/completions", openai_chat, methods=["POST"]),
        Route("/v1/models", openai_models, methods=["GET"]),
        Route("/v1/responses", openai_responses, methods=["POST"]),
        Route("/responses", openai_responses, methods=["POST"]),
        Route("/v1/messages", anthropic_messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", anthropic_count, methods=["POST"]),
        Route("/v1beta/models", gemini_models, methods=["GET"]),
        Route("/v1beta/models/{target:path}", gemini_method, methods=["POST"]),
        Route("/v1/models/{target:path}", gemini_method, methods=["POST"]),
    ]


__all__ = ["build", "estimate_tokens", "frontend_for_path"]
