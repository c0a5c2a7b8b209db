"""Images, PDFs and audio, in prompts and in tool results, as each API documents them.

The shapes asserted here are the ones the providers' API references give:

- OpenAI chat completions: `image_url` parts (a URL or a `data:` URL), `file` parts with
  `file_data` (a `data:` URL) and `filename` for PDFs, `input_audio` parts; a `tool`
  message's content is text only.
- Anthropic Messages: `image` / `document` blocks with a `base64` or `url` source, and the
  same blocks inside a `tool_result`'s `content`.
- Gemini generateContent: `inlineData` / `fileData` parts, and `functionResponse.parts`
  (`inlineData`) for media a function returns (multimodal function responses, Gemini 3).

What a user notices when this is wrong: base64 data written into the prompt as text (a
model that "reads" a megabyte of characters instead of seeing the image, and a bill for
it), or a request the server rejects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_bhumi import ChatBhumi
from langchain_bhumi.protocols.anthropic.client import AnthropicProtocol
from langchain_bhumi.protocols.base import ChatRequest
from langchain_bhumi.protocols.gemini.client import GeminiProtocol
from langchain_bhumi.protocols.openai_chat.client import OpenAIChatProtocol
from tests.support.server import ScriptedServer
from tests.support.wire import ANSWERS

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK"
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA="

# The same image in each of LangChain's block dialects.
IMAGE_BLOCKS = {
    "v1": {"type": "image", "base64": PNG, "mime_type": "image/png"},
    "v0": {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
    "openai": {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    "anthropic": {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    },
}
PDF_BLOCKS = {
    "v1": {"type": "file", "base64": PDF, "mime_type": "application/pdf", "filename": "r.pdf"},
    "openai": {
        "type": "file",
        "file": {"filename": "r.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
    },
    "anthropic": {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
    },
}

CALL = {"name": "render_chart", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}


def _conversation(result: ToolMessage) -> list[BaseMessage]:
    return [HumanMessage("Show me the chart."), AIMessage("", tool_calls=[CALL]), result]


def _encode(protocol: Any, model: str, messages: list[BaseMessage]) -> dict[str, Any]:
    return protocol.encode_request(ChatRequest(model=model, messages=messages))  # type: ignore[no-any-return]


def _texts(value: Any, key: str | None = None) -> Iterator[str]:
    """Every string a model reads as text: `text`, `content`, `output`, and the values of
    a Gemini `response` object."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _texts(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item, key)
    elif isinstance(value, str) and key in ("text", "content", "output", "response"):
        yield value


def _no_data_in_text(body: dict[str, Any], *data: str) -> None:
    for text in _texts(body):
        for blob in data:
            assert blob[:24] not in text, f"base64 data landed in prompt text: {text[:80]!r}"


# --- prompts (HumanMessage) ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", sorted(IMAGE_BLOCKS))
def test_an_image_in_a_prompt(dialect: str) -> None:
    messages: list[BaseMessage] = [
        HumanMessage([{"type": "text", "text": "What is this?"}, IMAGE_BLOCKS[dialect]])
    ]
    openai = _encode(OpenAIChatProtocol(), "gpt-4o", messages)["messages"][0]["content"]
    assert openai[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}

    claude = _encode(AnthropicProtocol(), "claude-sonnet-4-5", messages)["messages"][0]["content"]
    assert claude[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }

    gemini = _encode(GeminiProtocol(), "gemini-2.5-flash", messages)["contents"][0]["parts"]
    assert gemini[1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}


@pytest.mark.parametrize("dialect", sorted(PDF_BLOCKS))
def test_a_pdf_in_a_prompt(dialect: str) -> None:
    messages: list[BaseMessage] = [
        HumanMessage([{"type": "text", "text": "Summarise."}, PDF_BLOCKS[dialect]])
    ]
    openai = _encode(OpenAIChatProtocol(), "gpt-4o", messages)["messages"][0]["content"][1]
    assert openai["type"] == "file"
    assert openai["file"]["file_data"] == f"data:application/pdf;base64,{PDF}"
    assert openai["file"]["filename"].endswith(".pdf")

    claude = _encode(AnthropicProtocol(), "claude-sonnet-4-5", messages)["messages"][0]
    assert claude["content"][1]["type"] == "document"
    assert claude["content"][1]["source"] == {
        "type": "base64",
        "media_type": "application/pdf",
        "data": PDF,
    }

    gemini = _encode(GeminiProtocol(), "gemini-2.5-flash", messages)["contents"][0]["parts"]
    assert gemini[1] == {"inlineData": {"mimeType": "application/pdf", "data": PDF}}


def test_an_image_url_in_a_prompt() -> None:
    url = "https://example.com/cat.png"
    messages: list[BaseMessage] = [HumanMessage([{"type": "image", "url": url}])]
    openai = _encode(OpenAIChatProtocol(), "gpt-4o", messages)["messages"][0]["content"]
    assert openai == [{"type": "image_url", "image_url": {"url": url}}]
    claude = _encode(AnthropicProtocol(), "claude-sonnet-4-5", messages)["messages"][0]
    assert claude["content"] == [{"type": "image", "source": {"type": "url", "url": url}}]
    gemini = _encode(GeminiProtocol(), "gemini-2.5-flash", messages)["contents"][0]["parts"]
    assert gemini == [{"fileData": {"fileUri": url, "mimeType": "image/png"}}]


def test_audio_in_a_prompt() -> None:
    block = {"type": "audio", "base64": WAV, "mime_type": "audio/wav"}
    messages: list[BaseMessage] = [HumanMessage([block])]
    openai = _encode(OpenAIChatProtocol(), "gpt-4o-audio-preview", messages)["messages"][0]
    assert openai["content"] == [
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}}
    ]
    gemini = _encode(GeminiProtocol(), "gemini-2.5-flash", messages)["contents"][0]["parts"]
    assert gemini == [{"inlineData": {"mimeType": "audio/wav", "data": WAV}}]


# --- tool results (ToolMessage) ---------------------------------------------------------------


def _image_result(dialect: str = "v1") -> ToolMessage:
    return ToolMessage(
        [{"type": "text", "text": "Chart for Paris"}, IMAGE_BLOCKS[dialect]],
        tool_call_id="call_1",
        name="render_chart",
    )


@pytest.mark.parametrize("dialect", sorted(IMAGE_BLOCKS))
def test_anthropic_sends_tool_result_images_as_image_blocks(dialect: str) -> None:
    body = _encode(AnthropicProtocol(), "claude-sonnet-4-5", _conversation(_image_result(dialect)))
    result = body["messages"][-1]["content"][0]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": [
            {"type": "text", "text": "Chart for Paris"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ],
    }
    _no_data_in_text(body, PNG)


@pytest.mark.parametrize("dialect", sorted(PDF_BLOCKS))
def test_anthropic_sends_tool_result_pdfs_as_document_blocks(dialect: str) -> None:
    result = ToolMessage([PDF_BLOCKS[dialect]], tool_call_id="call_1")
    body = _encode(AnthropicProtocol(), "claude-sonnet-4-5", _conversation(result))
    content = body["messages"][-1]["content"][0]["content"]
    assert content[0]["type"] == "document"
    assert content[0]["source"] == {"type": "base64", "media_type": "application/pdf", "data": PDF}
    _no_data_in_text(body, PDF)


@pytest.mark.parametrize("dialect", sorted(IMAGE_BLOCKS))
def test_gemini_3_sends_tool_result_images_as_function_response_parts(dialect: str) -> None:
    body = _encode(GeminiProtocol(), "gemini-3-pro-preview", _conversation(_image_result(dialect)))
    turn = body["contents"][-1]
    assert turn == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "render_chart",
                    "response": {"output": "Chart for Paris"},
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}],
                }
            }
        ],
    }
    _no_data_in_text(body, PNG)


def test_gemini_3_sends_tool_result_pdfs_as_function_response_parts() -> None:
    result = ToolMessage([PDF_BLOCKS["v1"]], tool_call_id="call_1")
    body = _encode(GeminiProtocol(), "gemini-3-flash-preview", _conversation(result))
    response = body["contents"][-1]["parts"][0]["functionResponse"]
    assert response["parts"] == [{"inlineData": {"mimeType": "application/pdf", "data": PDF}}]
    assert response["response"] == {"output": ""}
    _no_data_in_text(body, PDF)


def test_older_gemini_models_get_tool_result_media_beside_the_function_responses() -> None:
    """Gemini documents multimodal function responses for Gemini 3; for earlier models the
    media go in the same user turn, after every functionResponse part (the number of
    functionResponse parts still matches the calls)."""
    body = _encode(GeminiProtocol(), "gemini-2.5-flash", _conversation(_image_result()))
    assert body["contents"][-1]["parts"] == [
        {"functionResponse": {"name": "render_chart", "response": {"output": "Chart for Paris"}}},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]
    _no_data_in_text(body, PNG)


def test_a_tool_result_image_by_url_goes_to_gemini_as_file_data() -> None:
    url = "gs://bucket/chart.png"
    result = ToolMessage([{"type": "image", "url": url}], tool_call_id="call_1")
    for model in ("gemini-2.5-flash", "gemini-3-pro-preview"):
        parts = _encode(GeminiProtocol(), model, _conversation(result))["contents"][-1]["parts"]
        assert {"fileData": {"fileUri": url, "mimeType": "image/png"}} in parts


@pytest.mark.parametrize("dialect", sorted(IMAGE_BLOCKS))
def test_openai_sends_tool_result_images_in_a_user_message_after_the_tool_messages(
    dialect: str,
) -> None:
    """Chat-completions tool messages take text only: the text stays in the tool message,
    which says where the image went, and the image follows in a user message right after
    the run of tool messages (the assistant's calls must be answered first)."""
    second = ToolMessage("22 C", tool_call_id="call_2")
    messages = [
        HumanMessage("Show me the chart and the weather."),
        AIMessage("", tool_calls=[CALL, {**CALL, "id": "call_2", "name": "weather"}]),
        _image_result(dialect),
        second,
    ]
    body = _encode(OpenAIChatProtocol(), "gpt-4o", messages)
    tool, weather, attachments = body["messages"][2:]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert tool["content"].startswith("Chart for Paris")
    assert "next message" in tool["content"]
    assert weather == {"role": "tool", "tool_call_id": "call_2", "content": "22 C"}
    assert attachments["role"] == "user"
    assert "call_1" in attachments["content"][0]["text"]
    assert attachments["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    _no_data_in_text(body, PNG)


def test_openai_sends_tool_result_pdfs_as_file_parts_after_the_tool_messages() -> None:
    result = ToolMessage([PDF_BLOCKS["v1"]], tool_call_id="call_1")
    body = _encode(OpenAIChatProtocol(), "gpt-4o", _conversation(result))
    tool, attachments = body["messages"][2:]
    assert tool["content"] == "(1 file attached in the next message)"
    assert attachments["content"][1] == {
        "type": "file",
        "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "r.pdf"},
    }
    _no_data_in_text(body, PDF)


def test_text_only_tool_results_are_unchanged_everywhere() -> None:
    result = ToolMessage(
        [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], tool_call_id="call_1"
    )
    openai = _encode(OpenAIChatProtocol(), "gpt-4o", _conversation(result))["messages"]
    assert openai[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "a\nb"}
    gemini = _encode(GeminiProtocol(), "gemini-3-pro-preview", _conversation(result))
    assert gemini["contents"][-1]["parts"] == [
        {"functionResponse": {"name": "render_chart", "response": {"output": "a\nb"}}}
    ]


# --- end to end: an agent whose tool returns an image ------------------------------------------


@pytest.mark.parametrize(
    ("family", "model"),
    [
        ("openai", "openai/gpt-4o"),
        ("anthropic", "anthropic/claude-sonnet-4-5"),
        ("gemini", "gemini/gemini-3-pro-preview"),
    ],
)
def test_an_agent_tool_that_returns_an_image_reaches_the_server_as_an_image(
    family: str, model: str, server: ScriptedServer
) -> None:
    def screenshot(url: str) -> list[dict[str, Any]]:
        """Take a screenshot of a web page."""
        return [
            {"type": "text", "text": f"Screenshot of {url}"},
            {"type": "image", "base64": PNG, "mime_type": "image/png"},
        ]

    answer = ANSWERS[family]
    server.enqueue(
        answer(calls=(("call_1", "screenshot", {"url": "example.com"}),)),
        answer("A white page."),
    )
    llm = ChatBhumi(model=model, base_url=server.url, api_key="k", streaming=True)
    state = create_agent(llm, tools=[screenshot]).invoke({"messages": [("user", "Look.")]})
    assert state["messages"][-1].text == "A white page."

    second = server.received[1].json()
    _no_data_in_text(second, PNG)
    if family == "openai":
        assert second["messages"][-1]["content"][1]["image_url"]["url"].endswith(PNG)
    elif family == "anthropic":
        result = second["messages"][-1]["content"][0]
        assert result["content"][1]["source"]["data"] == PNG
    else:
        response = second["contents"][-1]["parts"][0]["functionResponse"]
        assert response["parts"] == [{"inlineData": {"mimeType": "image/png", "data": PNG}}]
