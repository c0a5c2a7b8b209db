"""The cassette workflow: vcrpy configuration, request matching, and the recording targets.

Cassettes live in `cassettes/<provider>/<suite>/<test>.yaml` at the repository root.
Replay is the default (record mode `none`; CI never records). Recording is chosen on the
command line or in the environment, never in code:

    .venv/bin/python -m pytest tests/recorded --record-mode=rewrite     # or
    BHUMI_RECORD_MODE=rewrite .venv/bin/python -m pytest tests/recorded

which re-records the local-LLM cassettes (starting `../shared/tools/local-llm` if it is
not running) and every cloud provider whose key is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_bhumi.core.redaction import SECRET_HEADERS
from langchain_bhumi.replay import canonical_body

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"
LOCAL_LLM_SCRIPT = ROOT.parent / "shared" / "tools" / "local-llm"
LOCAL_LLM_URL = os.environ.get("LOCAL_LLM_URL", "http://127.0.0.1:18080/v1")
LOCAL_MODEL = "qwen2.5-coder-1.5b-instruct"
RECORD_ENV = "BHUMI_RECORD_MODE"
REPLAY_KEY = "sk-replay-no-key-needed"

_KEEP_RESPONSE_HEADERS = frozenset(
    {"content-type", "x-request-id", "request-id", "retry-after", "retry-after-ms"}
)


@dataclass(frozen=True)
class Target:
    """A server the recorded tiers run against.

    `required` targets (the local LLM) must have their cassettes: a missing one fails the
    run. Cloud targets are recorded by a maintainer with keys; until then they skip.
    """

    provider: str
    model: str
    key_env: tuple[str, ...] = ()
    base_url: str | None = None
    required: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    """Test id and cassette folder, when one provider is a target twice (two wire formats)."""
    unsupported: dict[str, str] = field(default_factory=dict)
    """Scenario -> why this server cannot do it (the test is skipped with that reason)."""

    @property
    def id(self) -> str:
        return self.label or self.provider

    def api_key(self) -> str | None:
        for name in self.key_env:
            if os.environ.get(name):
                return os.environ[name]
        return None


LOCAL = Target(
    provider="llamacpp",
    model=f"llamacpp/{LOCAL_MODEL}",
    base_url=LOCAL_LLM_URL,
    required=True,
    params={"seed": 42},
)
_IGNORES_TEXT_FORMAT = (
    "llama-server's /v1/responses ignores text.format (its /chat/completions honours "
    "response_format)"
)
LOCAL_RESPONSES = Target(
    provider="llamacpp",
    model=f"llamacpp/{LOCAL_MODEL}",
    base_url=LOCAL_LLM_URL,
    required=True,
    params={"use_responses_api": True},
    label="llamacpp-responses",
    unsupported={
        "test_stop_sequences": "the Responses API has no stop sequences",
        "test_stream_without_usage_when_turned_off": "the Responses API always sends usage",
        "test_tool_choice_forces_a_call": (
            "llama-server's /v1/responses reads an object tool_choice as 'auto', and "
            "'required' does not constrain this model's output"
        ),
        "test_structured_output": _IGNORES_TEXT_FORMAT,
        "test_the_profile_picks_native_structured_output": _IGNORES_TEXT_FORMAT,
        "test_structured_output_beside_a_tool": _IGNORES_TEXT_FORMAT,
    },
)
_LOCAL_ONLY = {
    "test_calls_written_as_text_become_tool_calls": (
        "a hosted model is given its tools; calls written as text are a small local model's"
    ),
}
CLOUD = (
    Target("openai", "openai/gpt-4o-mini", ("OPENAI_API_KEY",), unsupported=_LOCAL_ONLY),
    Target(
        "anthropic", "anthropic/claude-haiku-4-5", ("ANTHROPIC_API_KEY",), unsupported=_LOCAL_ONLY
    ),
    Target(
        "gemini",
        "gemini/gemini-2.5-flash",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        unsupported=_LOCAL_ONLY,
    ),
    Target("groq", "groq/llama-3.3-70b-versatile", ("GROQ_API_KEY",), unsupported=_LOCAL_ONLY),
)
TARGETS = (LOCAL, LOCAL_RESPONSES, *CLOUD)


def record_mode_from(option: str | None) -> str:
    """Record mode: `--record-mode`, else `BHUMI_RECORD_MODE`, else `none` (replay only)."""
    return option or os.environ.get(RECORD_ENV) or "none"


def scrub_request(request: Any) -> Any:
    """Drop every credential header before recording; record only POSTs (model calls, not
    health probes)."""
    if request.method != "POST":
        return None
    for name in list(request.headers):
        if name.lower() in SECRET_HEADERS:
            del request.headers[name]
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Keep only the response headers replay needs (no cookies, org ids, trace ids)."""
    response["headers"] = {
        k: v for k, v in response.get("headers", {}).items() if k.lower() in _KEEP_RESPONSE_HEADERS
    }
    return response


def body_matcher(recorded: Any, sent: Any) -> None:
    """vcrpy matcher: canonical JSON bodies must be equal; the assertion says where they differ."""
    a, b = canonical_body(recorded.body), canonical_body(sent.body)
    if a == b:
        return
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    raise AssertionError(
        f"request body differs from the recording at character {at}: "
        f"recorded ...{a[max(0, at - 80) : at + 80]!r}... sent ...{b[max(0, at - 80) : at + 80]!r}..."
    )


def vcr_config() -> dict[str, Any]:
    """The project's vcrpy configuration (record mode deliberately absent)."""
    return {
        "filter_headers": sorted(SECRET_HEADERS),
        "filter_query_parameters": ["key", "api_key"],
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "match_on": ["method", "path", "bhumi_body"],
        "allow_playback_repeats": False,
    }


def ensure_local_llm() -> None:
    """Start the local llama.cpp server (../shared/tools/local-llm) unless it answers."""
    health = LOCAL_LLM_URL.removesuffix("/v1") + "/health"
    if _answers(health):
        return
    if not LOCAL_LLM_SCRIPT.exists():
        raise RuntimeError(
            f"the local LLM is not running at {health} and {LOCAL_LLM_SCRIPT} is absent"
        )
    port = health.rsplit(":", 1)[1].split("/", 1)[0]
    subprocess.run([str(LOCAL_LLM_SCRIPT), "start", port], check=True)
    deadline = time.monotonic() + 300
    while not _answers(health):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the local LLM did not come up at {health}")
        time.sleep(1)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(json.loads(response.read()).get("status") == "ok")
    except (OSError, ValueError):
        return False
