"""The floor for any LangChain chat model on httpx: the raw loop inside `BaseChatModel`.

`FloorChatModel` does the least a LangChain integration can do: the raw httpx +
httpx-sse + json loop, one plain `AIMessageChunk` per SSE event, no event objects, no
tool-call assembly, no error handling. Its cost minus the raw loop's is langchain-core's
own per-chunk cost (message and generation objects, the stream loop, the final merge).
It is a measuring stick, not a usable model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import httpx_sse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, PrivateAttr

from langchain_core.language_models.chat_models import (  # isort: skip
    agenerate_from_stream,
    generate_from_stream,
)


class FloorChatModel(BaseChatModel):
    """The raw loop as a LangChain chat model (see the module docstring)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    base_url: str
    limits: httpx.Limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    _client: httpx.Client | None = PrivateAttr(default=None)
    _aclient: httpx.AsyncClient | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "floor"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        """Bind tool schemas (sent as is)."""
        return self.bind(tools=list(tools), **kwargs)

    def _body(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": "bench",
            "messages": [{"role": "user", "content": str(m.content)} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if kwargs.get("tools"):
            body["tools"] = kwargs["tools"]
        return body

    @staticmethod
    def _chunks(data: str) -> Iterator[ChatGenerationChunk]:
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content = delta.get("content") or ""
            calls = delta.get("tool_calls")
            if content or calls:
                call_chunks = [
                    tool_call_chunk(
                        name=(c.get("function") or {}).get("name"),
                        args=(c.get("function") or {}).get("arguments"),
                        id=c.get("id"),
                        index=c.get("index"),
                    )
                    for c in calls or ()
                ]
                message = AIMessageChunk(content=content, tool_call_chunks=call_chunks)
                yield ChatGenerationChunk(message=message)
        usage = chunk.get("usage")
        if usage:
            metadata = UsageMetadata(
                input_tokens=usage["prompt_tokens"],
                output_tokens=usage["completion_tokens"],
                total_tokens=usage["total_tokens"],
            )
            yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=metadata))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self._client is None:
            self._client = httpx.Client(limits=self.limits, timeout=60)
        url = f"{self.base_url}/chat/completions"
        body = self._body(messages, kwargs)
        with httpx_sse.connect_sse(self._client, "POST", url, json=body) as es:
            for sse in es.iter_sse():
                yield from self._chunks(sse.data)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(limits=self.limits, timeout=60)
        url = f"{self.base_url}/chat/completions"
        body = self._body(messages, kwargs)
        async with httpx_sse.aconnect_sse(self._aclient, "POST", url, json=body) as es:
            async for sse in es.aiter_sse():
                for chunk in self._chunks(sse.data):
                    yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def close(self) -> None:
        """Close the sync pool."""
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the async pool."""
        if self._aclient is not None:
            await self._aclient.aclose()
