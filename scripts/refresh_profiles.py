"""Refresh `langchain_bhumi/model_profiles.json` from the LangChain partner packages.

LangChain's partner packages (langchain-openai, langchain-anthropic, ...) each ship the
capability data of their provider's models (`<package>/data/_profiles.py`, generated from
models.dev by LangChain's `langchain-profiles` tool). This script downloads the newest
release of each from PyPI (wheels only, no dependencies, into a temporary folder), reads
that data without importing the packages, keeps the capability fields (limits,
modalities, tool calling, structured output, reasoning) and writes them, sorted, under
our provider names.

    .venv/bin/python scripts/refresh_profiles.py            # newest releases
    .venv/bin/python scripts/refresh_profiles.py --check    # exit 1 if the file would change

Review the diff before committing: a model whose `structured_output` flips changes the
strategy `create_agent(..., response_format=...)` picks for it.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "langchain_bhumi" / "model_profiles.json"

SOURCES = {
    "openai": "langchain-openai",
    "anthropic": "langchain-anthropic",
    "gemini": "langchain-google-genai",
    "groq": "langchain-groq",
    "mistral": "langchain-mistralai",
    "deepseek": "langchain-deepseek",
    "xai": "langchain-xai",
    "fireworks": "langchain-fireworks",
    "perplexity": "langchain-perplexity",
    "openrouter": "langchain-openrouter",
}
"""Our provider name -> the partner package that ships its models' profiles."""

FIELDS = (
    "max_input_tokens",
    "max_output_tokens",
    "text_inputs",
    "image_inputs",
    "image_url_inputs",
    "pdf_inputs",
    "audio_inputs",
    "video_inputs",
    "text_outputs",
    "image_outputs",
    "audio_outputs",
    "video_outputs",
    "reasoning_output",
    "reasoning_effort_levels",
    "reasoning_effort_default",
    "tool_calling",
    "tool_choice",
    "structured_output",
    "temperature",
    "attachment",
)
"""What a model can do. Left out: names and dates, and what describes the partner
integration rather than the model (`tool_call_streaming`, `image_tool_message`,
`mid_conversation_*`): `langchain_bhumi.profiles` states those for ChatBhumi itself."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the file would change")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wheels = download(list(SOURCES.values()), Path(folder))
        sources = {package: version for package, (version, _) in sorted(wheels.items())}
        providers = {provider: trimmed(wheels[package][1]) for provider, package in SOURCES.items()}
    text = render({"sources": sources, "providers": providers})
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date: run scripts/refresh_profiles.py")
            return 1
        return 0
    OUTPUT.write_text(text)
    counts = ", ".join(f"{p} {len(m)}" for p, m in providers.items())
    print(f"wrote {OUTPUT} ({counts})")
    return 0


def download(packages: list[str], folder: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """`{package: (version, profiles)}` from each package's newest wheel."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "-q", "--dest", str(folder), *packages], check=True)  # noqa: S603
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for wheel in folder.glob("*.whl"):
        distribution, version = wheel.name.split("-")[:2]
        package = distribution.replace("_", "-")
        with zipfile.ZipFile(wheel) as archive:
            source = next(n for n in archive.namelist() if n.endswith("/data/_profiles.py"))
            found[package] = (version, profiles_in(archive.read(source).decode()))
    missing = set(packages) - found.keys()
    if missing:
        raise SystemExit(f"no wheel downloaded for {sorted(missing)}")
    return found


def profiles_in(source: str) -> dict[str, Any]:
    """The `_PROFILES` literal of a generated `_profiles.py`, read without running it."""
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "_PROFILES"
            and node.value is not None
        ):
            profiles: dict[str, Any] = ast.literal_eval(node.value)
            return profiles
    raise ValueError("no _PROFILES in the profile module")


def trimmed(profiles: dict[str, Any]) -> dict[str, Any]:
    return {
        model: {key: profile[key] for key in FIELDS if key in profile}
        for model, profile in sorted(profiles.items())
    }


def render(data: dict[str, Any]) -> str:
    """Stable JSON: one line per model, so a refresh diffs model by model."""
    lines = ["{", f'  "sources": {json.dumps(data["sources"])},', '  "providers": {']
    providers = list(data["providers"].items())
    for p_index, (provider, models) in enumerate(providers):
        lines.append(f"    {json.dumps(provider)}: {{")
        items = list(models.items())
        for m_index, (model, profile) in enumerate(items):
            comma = "," if m_index < len(items) - 1 else ""
            lines.append(f"      {json.dumps(model)}: {json.dumps(profile)}{comma}")
        lines.append("    }" + ("," if p_index < len(providers) - 1 else ""))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
