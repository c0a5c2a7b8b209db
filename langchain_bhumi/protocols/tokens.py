"""A token estimate for request bodies in any wire format, with no tokenizer.

Exact counts need the model's own tokenizer, which only the provider has (Anthropic's
`count_tokens` and Gemini's `countTokens` endpoints give it; `ChatBhumi(...,
token_counting="provider")` asks them). Everywhere else, `ChatBhumi`'s token counts and the
proxy's count endpoints use this estimate: about 4 bytes of request JSON per token, and a
flat `MEDIA_TOKENS` for each inline image, document or audio clip, whatever the size of
its base64 (providers bill images by pixels or pages, not by bytes).
"""

from __future__ import annotations

import json
import math
import string
from typing import Any

BYTES_PER_TOKEN = 4
MEDIA_TOKENS = 1_600
"""What one inline image, document or audio clip counts: about what Claude and GPT-4o
charge for a large image."""

_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=-_")
_MEDIA_PROBE = 1_024


def estimate_tokens(body: Any) -> int:
    """About how many tokens `body` (a JSON request body, or a part of one) holds.

    Example:
        ```python
        estimate_tokens({"messages": [{"role": "user", "content": "Hello!"}]})  # 14
        ```
    """
    media = 0

    def measured(value: Any) -> Any:
        nonlocal media
        if isinstance(value, dict):
            return {key: measured(item) for key, item in value.items()}
        if isinstance(value, list):
            return [measured(item) for item in value]
        if isinstance(value, str) and _is_inline_media(value):
            media += 1
            return ""
        return value

    size = len(json.dumps(measured(body), ensure_ascii=False).encode())
    return max(1, math.ceil(size / BYTES_PER_TOKEN) + media * MEDIA_TOKENS)


def estimate_text_tokens(text: str) -> int:
    """About how many tokens `text` holds (4 bytes of UTF-8 per token)."""
    return max(1, math.ceil(len(text.encode()) / BYTES_PER_TOKEN))


def _is_inline_media(text: str) -> bool:
    """A `data:...;base64,` URL, or a long string of base64 characters only."""
    if text.startswith("data:"):
        return ";base64," in text[:200]
    return len(text) >= _MEDIA_PROBE and set(text[:_MEDIA_PROBE]) <= _BASE64


__all__ = ["BYTES_PER_TOKEN", "MEDIA_TOKENS", "estimate_text_tokens", "estimate_tokens"]
