"""Message content, in any of LangChain's block dialects, as a few neutral parts.

LangChain messages carry content as a string or a list of blocks in several dialects:
v1 standard blocks (`{"type": "image", "base64": ..., "mime_type": ...}`), v0 data blocks
(`"source_type"`), OpenAI chat blocks (`image_url`, `input_audio`, `file`), OpenAI
Responses parts (`input_text`, `output_text`, `input_image`, `input_file`), Anthropic
blocks (`image`/`document` with a `source`, `thinking`, `redacted_thinking`). Protocol
modules encode from these parts, so each dialect is understood in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from langchain_bhumi.protocols.shapes import wrong_shape

MediaKind = Literal["image", "file", "audio", "video"]


@dataclass(slots=True)
class TextPart:
    text: str


@dataclass(slots=True)
class MediaPart:
    """An image, document, audio or video: inline base64 `data`, a `url`, or a `file_id`."""

    kind: MediaKind
    mime_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None
    detail: str | None = None

    def data_url(self) -> str | None:
        """`data:<mime>;base64,<data>` for inline data, else the URL."""
        if self.data is not None:
            return f"data:{self.mime_type or 'application/octet-stream'};base64,{self.data}"
        return self.url


@dataclass(slots=True)
class ReasoningPart:
    text: str
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class OtherPart:
    """A block no neutral part describes; the protocol decides (pass through or drop)."""

    block: dict[str, Any]


Part = TextPart | MediaPart | ReasoningPart | OtherPart

_TOOL_BLOCKS = frozenset({"tool_call", "tool_call_chunk", "tool_use", "invalid_tool_call"})


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`(mime_type, base64_data)` of a `data:...;base64,...` URL, else `None`."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")] or "application/octet-stream", data


def content_parts(content: str | list[Any]) -> list[Part]:
    """Neutral parts of a message's content. Tool-call blocks are skipped: the message's
    `tool_calls` are authoritative."""
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[Part] = []
    for block in content:
        if isinstance(block, str):
            if block:
                parts.append(TextPart(block))
        elif isinstance(block, dict):
            part = _block_part(block)
            if part is not None:
                parts.append(part)
    return parts


def text_of(content: str | list[Any]) -> str:
    """The text of `content`, text blocks joined without separators."""
    if isinstance(content, str):
        return content
    return "".join(p.text for p in content_parts(content) if isinstance(p, TextPart))


def tool_result_parts(content: str | list[Any]) -> tuple[str, list[MediaPart]]:
    """A tool result as `(text, media)`: text blocks joined by newlines, blocks that are
    neither text nor media as JSON text, and images, documents and audio kept apart, for
    the wire format to send as media (never as base64 in the text)."""
    if isinstance(content, str):
        return content, []
    pieces: list[str] = []
    media: list[MediaPart] = []
    for block in content:
        if isinstance(block, str):
            pieces.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            pieces.append(str(block.get("text", "")))
        else:
            part = _block_part(block) if isinstance(block, dict) else None
            if isinstance(part, MediaPart):
                media.append(part)
            else:
                pieces.append(json.dumps(block, ensure_ascii=False))
    return "\n".join(pieces), media


def describe_media(media: list[MediaPart]) -> str:
    """`"1 image"`, `"2 images and 1 file"`: what a list of media holds, for text that
    points at them."""
    counts: dict[str, int] = {}
    for part in media:
        counts[part.kind] = counts.get(part.kind, 0) + 1
    named = [f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in counts.items()]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


_SOURCE = ("source.type", "source.media_type", "source.data", "source.url", "source.file_id")
_MEDIA = (
    *("mime_type", "source_type", "base64", "data", "url", "file_id", "id", "filename"),
    *("extras.filename", "metadata.filename", *_SOURCE),
)
_TEXT = ("text",)
_STRING_FIELDS: dict[str, tuple[str, ...]] = {
    "text": _TEXT,
    "text-plain": _TEXT,
    "input_text": _TEXT,
    "output_text": _TEXT,
    "reasoning": ("reasoning", "signature", "extras.signature"),
    "thinking": ("thinking", "signature", "extras.signature"),
    "redacted_thinking": ("data",),
    "image_url": ("image_url.url", "image_url.detail"),
    "input_audio": ("input_audio.data", "input_audio.format"),
    "file": ("file.file_id", "file.filename", "file.file_data", *_MEDIA),
    "image": _MEDIA,
    "audio": _MEDIA,
    "video": _MEDIA,
    "document": _MEDIA,
    "input_image": ("file_id", "image_url", "detail"),
    "input_file": ("file_id", "file_data", "file_url", "filename"),
}
"""The string fields `content_parts` reads from each block type (`outer.inner`: inside an
object field), as `check_blocks` checks them."""
_FIELD_STEPS = {
    kind: tuple(path.partition(".")[::2] for path in paths)
    for kind, paths in _STRING_FIELDS.items()
}


def check_blocks(blocks: list[Any], where: str) -> None:
    """Check the content blocks of a client's request before they become message content:
    each is a string or an object with a string `type`, and every field `content_parts`
    reads from a block of that type is a string (or absent, or null), inside an object
    where the field is nested (`image_url.url`; `image_url` may be the URL itself).

    Raises:
        RequestDecodeError: Naming the field (`messages[0].content[0].text: expected a
            string, got a list`).
    """
    for index, block in enumerate(blocks):
        if isinstance(block, str):
            continue
        if not isinstance(block, dict):
            raise wrong_shape(f"{where}[{index}]", "a content block (an object)", block)
        kind = block.get("type")
        if kind is None:
            continue
        if not isinstance(kind, str):
            raise wrong_shape(f"{where}[{index}].type", "a string", kind)
        for field, inner in _FIELD_STEPS.get(kind, ()):
            value = block.get(field)
            if inner:
                if isinstance(value, dict):
                    value = value.get(inner)
                elif value is None or (field == "image_url" and isinstance(value, str)):
                    continue
                else:
                    expected = "an object or a URL" if field == "image_url" else "an object"
                    raise wrong_shape(f"{where}[{index}].{field}", expected, value)
            if value is not None and not isinstance(value, str):
                name = f"{field}.{inner}" if inner else field
                raise wrong_shape(f"{where}[{index}].{name}", "a string", value)


def _block_part(block: dict[str, Any]) -> Part | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text", "")
        return TextPart(text) if text else None
    if kind in _TOOL_BLOCKS:
        return None
    if kind in ("reasoning", "thinking"):
        text = block.get("reasoning", block.get("thinking", "")) or ""
        extras = block.get("extras") or {}
        signature = block.get("signature") or extras.get("signature")
        return ReasoningPart(text, signature=signature)
    if kind == "redacted_thinking":
        return ReasoningPart("", redacted=block.get("data"))
    if kind == "image_url":
        image = block.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        detail = image.get("detail") if isinstance(image, dict) else None
        return _media_from_url("image", str(url or ""), detail=detail)
    if kind == "input_audio":
        audio = block.get("input_audio") or {}
        fmt = audio.get("format")
        return MediaPart("audio", mime_type=f"audio/{fmt}" if fmt else None, data=audio.get("data"))
    if kind == "file" and isinstance(block.get("file"), dict):  # OpenAI chat file block
        file = block["file"]
        if file.get("file_id"):
            return MediaPart("file", file_id=file["file_id"], filename=file.get("filename"))
        part = _media_from_url("file", str(file.get("file_data", "")))
        part.filename = file.get("filename")
        return part
    if kind in ("image", "file", "audio", "video", "document"):
        media: MediaKind = "file" if kind == "document" else kind
        return _standard_media(media, block)
    if kind == "text-plain":
        return TextPart(str(block.get("text", "")))
    if kind in ("input_text", "output_text"):  # OpenAI Responses
        text = block.get("text", "")
        return TextPart(text) if text else None
    if kind == "input_image":
        if block.get("file_id"):
            return MediaPart("image", file_id=block["file_id"], detail=block.get("detail"))
        return _media_from_url("image", str(block.get("image_url") or ""), block.get("detail"))
    if kind == "input_file":
        if block.get("file_id"):
            return MediaPart("file", file_id=block["file_id"], filename=block.get("filename"))
        data = block.get("file_data")
        if data:
            parsed = parse_data_url(str(data))
            mime, data = parsed if parsed else (None, str(data))  # bare base64 is allowed
            return MediaPart("file", mime_type=mime, data=data, filename=block.get("filename"))
        if block.get("file_url"):
            return MediaPart("file", url=str(block["file_url"]), filename=block.get("filename"))
        return OtherPart(block)
    return OtherPart(block)


def _standard_media(kind: MediaKind, block: dict[str, Any]) -> Part:
    mime = block.get("mime_type")
    source = block.get("source")
    if isinstance(source, dict):  # Anthropic: {"source": {"type": "base64"|"url", ...}}
        if source.get("type") == "base64":
            return MediaPart(kind, mime_type=source.get("media_type"), data=source.get("data"))
        if source.get("type") == "url":
            return _media_from_url(kind, str(source.get("url", "")))
        return OtherPart(block)
    source_type = block.get("source_type")  # v0 standard data blocks
    if source_type == "base64" or "base64" in block:
        data = block.get("base64", block.get("data"))
        return MediaPart(kind, mime_type=mime, data=data, filename=_filename(block))
    if source_type == "url" or "url" in block:
        part = _media_from_url(kind, str(block.get("url", "")))
        part.mime_type = part.mime_type or mime
        part.filename = _filename(block)
        return part
    if source_type == "id" or "file_id" in block or "id" in block:
        return MediaPart(kind, mime_type=mime, file_id=block.get("file_id", block.get("id")))
    return OtherPart(block)


def _media_from_url(kind: MediaKind, url: str, detail: str | None = None) -> MediaPart:
    parsed = parse_data_url(url)
    if parsed is not None:
        return MediaPart(kind, mime_type=parsed[0], data=parsed[1], detail=detail)
    return MediaPart(kind, url=url, detail=detail)


def _filename(block: dict[str, Any]) -> str | None:
    extras = block.get("extras") or {}
    metadata = block.get("metadata") or {}
    return block.get("filename") or extras.get("filename") or metadata.get("filename")
