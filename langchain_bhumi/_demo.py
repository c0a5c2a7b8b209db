"""The demo: a LangChain agent streaming tool calls over ChatBhumi, rendered as it happens.

`run_agent` drives `langchain.agents.create_agent` with `stream_mode="messages"` and
reports every step to a `Renderer`: text tokens, each tool call as it is assembled (name
first, then argument fragments), tool results, and per-round usage. The recorded-agent
tests run the same function, so the demo's offline replay matches its cassette exactly.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from langchain_core.messages import AIMessageChunk, BaseMessage, ToolCall, ToolMessage

from langchain_bhumi.chat_models import ChatBhumi
from langchain_bhumi.demo_tools import DEMO_TOOLS

QUESTION = "What is the weather in Tokyo right now, in Fahrenheit?"
SYSTEM_PROMPT = (
    "You are a helpful assistant with tools. Work step by step: first call get_weather, "
    "then wait for its result; only after you have the real temperature, call convert_units "
    "with that exact number. Never invent numbers. Finish with one short sentence."
)
RECORDED_MODEL = "llamacpp/qwen2.5-coder-1.5b-instruct"
RECORDED_PARAMS: dict[str, Any] = {"temperature": 0, "seed": 42}
CASSETTE = Path("llamacpp") / "demo" / "agent.yaml"
MAX_ROUNDS = 8

# Provider used for a live run when its key is set and no --model is given, in order.
LIVE_DEFAULTS = (
    ("OPENAI_API_KEY", "openai/gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic/claude-haiku-4-5"),
    ("GEMINI_API_KEY", "gemini/gemini-2.5-flash"),
    ("GOOGLE_API_KEY", "gemini/gemini-2.5-flash"),
    ("GROQ_API_KEY", "groq/llama-3.3-70b-versatile"),
)


def find_cassette(relative: Path = CASSETTE) -> Path | None:
    """The recorded demo streams: the repository's `cassettes/`, else the packaged copy."""
    for root in (
        Path(__file__).resolve().parents[1] / "cassettes",
        Path(__file__).parent / "_cassettes",
    ):
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def live_default() -> str | None:
    """The model to run live when a provider key is in the environment."""
    for env, model in LIVE_DEFAULTS:
        if os.environ.get(env):
            return model
    return None


def build_agent(llm: ChatBhumi) -> Any:
    """The demo agent: `create_agent` with the three demo tools."""
    from langchain.agents import create_agent  # optional dependency: langchain-bhumi[demo]

    return create_agent(llm, tools=list(DEMO_TOOLS), system_prompt=SYSTEM_PROMPT)


class Renderer(Protocol):
    """Receives the agent's progress as it streams."""

    def round_started(self, number: int) -> None: ...
    def text(self, piece: str) -> None: ...
    def tool_call_started(self, name: str) -> None: ...
    def tool_args(self, piece: str) -> None: ...
    def tool_result(self, name: str, content: str) -> None: ...


@dataclass
class RunSummary:
    """What happened in one agent run."""

    rounds: int = 0
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolMessage] = field(default_factory=list)
    answer: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    time_to_first_token: float | None = None
    total_time: float = 0.0
    messages: list[BaseMessage] = field(default_factory=list)


def run_agent(agent: Any, question: str, renderer: Renderer) -> RunSummary:
    """Stream one agent run (`stream_mode="messages"`), reporting to `renderer`."""
    summary = RunSummary()
    started = time.monotonic()
    current: AIMessageChunk | None = None
    open_call: int | None = None
    answer_parts: list[str] = []

    def end_round() -> None:
        nonlocal current
        if current is not None:
            summary.tool_calls.extend(current.tool_calls)
            summary.messages.append(current)
            usage = current.usage_metadata
            if usage:
                summary.input_tokens += usage["input_tokens"]
                summary.output_tokens += usage["output_tokens"]
        current = None

    stream = agent.stream(
        {"messages": [("user", question)]},
        {"recursion_limit": 2 * MAX_ROUNDS + 1},
        stream_mode="messages",
    )
    for message, _metadata in stream:
        if isinstance(message, AIMessageChunk):
            if current is None:
                summary.rounds += 1
                renderer.round_started(summary.rounds)
                answer_parts = []
                open_call = None
            current = message if current is None else current + message
            if summary.time_to_first_token is None and (message.text or message.tool_call_chunks):
                summary.time_to_first_token = time.monotonic() - started
            if message.text:
                answer_parts.append(message.text)
                renderer.text(message.text)
            for chunk in message.tool_call_chunks:
                if chunk.get("name") and chunk.get("index") != open_call:
                    open_call = chunk.get("index")
                    renderer.tool_call_started(chunk["name"] or "")
                if chunk.get("args"):
                    renderer.tool_args(chunk["args"] or "")
            if message.chunk_position == "last":
                end_round()
        elif isinstance(message, ToolMessage):
            end_round()
            summary.tool_results.append(message)
            summary.messages.append(message)
            renderer.tool_result(message.name or "tool", str(message.content))
    end_round()
    summary.answer = "".join(answer_parts).strip()
    summary.total_time = time.monotonic() - started
    return summary


class TerminalRenderer:
    """Prints the run to a terminal: text as it streams, tool calls as they assemble."""

    def __init__(self, out: TextIO | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout  # looked up now: stdout may have been redirected
        self.color = self.out.isatty() if color is None else color
        self._in_call = False
        self._at_line_start = True

    def _style(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        if text:
            self._at_line_start = text.endswith("\n")

    def _close_call(self) -> None:
        if self._in_call:
            self._write(self._style("36", ")") + "\n")
            self._in_call = False

    def _newline(self) -> None:
        if not self._at_line_start:
            self._write("\n")

    def round_started(self, number: int) -> None:
        self._close_call()
        self._newline()
        self._write(self._style("2", f"── model round {number} ──") + "\n")

    def text(self, piece: str) -> None:
        self._close_call()
        self._write(piece)

    def tool_call_started(self, name: str) -> None:
        self._close_call()
        self._newline()
        self._write(self._style("36", f"→ {name}("))
        self._in_call = True

    def tool_args(self, piece: str) -> None:
        self._write(self._style("36", piece))

    def tool_result(self, name: str, content: str) -> None:
        self._close_call()
        self._newline()
        self._write(self._style("32", f"← {name}: {content}") + "\n")

    def summary(self, run: RunSummary) -> None:
        self._close_call()
        self._newline()
        ttft = f"{run.time_to_first_token:.2f}s" if run.time_to_first_token is not None else "-"
        line = (
            f"{run.rounds} rounds · {len(run.tool_calls)} tool calls · "
            f"{run.input_tokens} tokens in / {run.output_tokens} out · "
            f"first token {ttft} · total {run.total_time:.2f}s"
        )
        self._write(self._style("2", line) + "\n")
