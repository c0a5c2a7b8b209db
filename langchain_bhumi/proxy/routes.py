"""The proxy's HTTP routes, one group per API shape."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langchain_bhumi.protocols.base import RequestDecodeError

if TYPE_CHECKING:
    from langchain_bhumi.proxy.app import ProxyApp

GEMINI_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


def estimate_tokens(body: dict[str, Any]) -> int:
    """A rough token count (about 4 bytes of JSON per token) for the count endpoints.

    Exact counts need the backend model's tokenizer; clients use these numbers to manage
    their context, where an estimate is what they get from most servers anyway.
    """
    size = len(json.dumps(body, ensure_ascii=False).encode())
    return max(1, math.ceil(size / 4))


def build(proxy: ProxyApp) -> list[Route]:
    codecs = proxy.codecs

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

    async def openai_chat(request: Request) -> Response:
        return await proxy.handle(request, codecs["openai"])

    async def openai_models(request: Request) -> Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "langchain-bhumi"}
            for name in proxy.config.visible_models()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def anthropic_messages(request: Request) -> Response:
        return await proxy.handle(request, codecs["anthropic"])

    async def anthropic_count(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"input_tokens": estimate_tokens(body)})

    async def gemini(request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.rpartition(":")
        codec = codecs["gemini"]
        if method not in GEMINI_METHODS or not model:
            body = codec.error_body(404, "not_found_error", f"unknown method {target!r}")
            return JSONResponse(body, status_code=404)
        if method == "countTokens":
            body = await request.json()
            inner = (
                body.get("generateContentRequest") or body.get("generate_content_request") or body
            )
            return JSONResponse(codec.count_tokens_response(estimate_tokens(inner)))  # type: ignore[attr-defined]
        return await proxy.handle(
            request,
            codec,
            model=model.removeprefix("models/"),
            stream=method == "streamGenerateContent",
            sse=request.query_params.get("alt") == "sse",
        )

    async def gemini_models(request: Request) -> Response:
        codec = codecs["gemini"]
        return JSONResponse(codec.models_list(proxy.config.visible_models()))  # type: ignore[attr-defined]

    return [
        Route("/health", health, methods=["GET"]),
        Route("/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/chat/completions", openai_chat, methods=["POST"]),
        Route("/v1/models", openai_models, methods=["GET"]),
        Route("/v1/messages", anthropic_messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", anthropic_count, methods=["POST"]),
        Route("/v1beta/models", gemini_models, methods=["GET"]),
        Route("/v1beta/models/{target:path}", gemini, methods=["POST"]),
        Route("/v1/models/{target:path}", gemini, methods=["POST"]),
    ]


__all__ = ["RequestDecodeError", "build", "estimate_tokens"]
