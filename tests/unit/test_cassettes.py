"""No credential ever lands in a cassette: every recorded request and response under
`cassettes/` is read back and checked, whoever recorded it and however."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from langchain_bhumi.core.redaction import SECRET_HEADERS
from tests.support.cassettes import CASSETTES, REPLAY_KEY

FILES = sorted(CASSETTES.rglob("*.yaml"))
# Key shapes of the providers ChatBhumi knows (OpenAI/Anthropic/Groq/..., Google).
KEY_SHAPES = re.compile(
    r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|gsk_\w{20,})"
)


def _interactions(path: Path) -> list[dict[str, Any]]:
    loaded = yaml.load(
        path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    return list(loaded.get("interactions") or [])


def test_there_are_cassettes_to_check() -> None:
    assert len(FILES) > 50


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CASSETTES)))
def test_a_cassette_holds_no_credentials(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not KEY_SHAPES.search(text.replace(REPLAY_KEY, "")), (
        "a key-shaped string (a credential?)"
    )
    for interaction in _interactions(path):
        request, response = interaction["request"], interaction["response"]
        for headers in (request.get("headers") or {}, response.get("headers") or {}):
            assert not {name.lower() for name in headers} & SECRET_HEADERS
        assert not re.search(r"[?&](key|api_key)=", request.get("uri", ""))
