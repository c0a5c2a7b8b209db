"""Images sent to real servers.

The local llama.cpp server runs a text-only model: no package on PyPI ships the GGUF
weights and the mmproj projector of a vision model, which llama-server needs to accept
images (the server build itself supports them). Checked 2026-12-03: globalmm 0.2.2 ships
no weights (it builds an mmproj from SigLIP and the LLM's weights, both fetched from Hugging
Face with torch and transformers), and dooms-cpp 0.6.1 has only macOS arm64 wheels, runs its
own engine rather than llama-server, and downloads its models at run time. So against it
this checks what can be checked: the image part is encoded as the server's API wants and
reaches its media loader, which answers that this model has no vision. Cloud targets, once
recorded with a key, check that the model sees the image. The encoders' shapes for all three
formats, including images and PDFs in tool results, are covered in
`tests/unit/test_multimodal.py`.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Callable

import pytest
from langchain_core.messages import HumanMessage

from langchain_bhumi import ChatBhumi, ServerError
from tests.support.cassettes import Target

pytestmark = pytest.mark.vcr

Factory = Callable[..., ChatBhumi]


def red_square_png(size: int = 32) -> bytes:
    """A `size` x `size` pure red PNG, made with the standard library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_an_image_reaches_the_server(make_llm: Factory, target: Target) -> None:
    image = base64.b64encode(red_square_png()).decode()
    question = HumanMessage(
        [
            {"type": "text", "text": "What colour fills this image? Answer with one word."},
            {"type": "image", "base64": image, "mime_type": "image/png"},
        ]
    )
    llm = make_llm(max_retries=0, max_tokens=10)
    if target.provider != "llamacpp" and not (llm.profile or {}).get("image_inputs"):
        pytest.skip(f"{target.model} takes no images")
    if target.provider == "llamacpp":
        with pytest.raises(ServerError, match="image input is not supported"):
            llm.invoke([question])
        return
    assert "red" in llm.invoke([question]).text.lower()
