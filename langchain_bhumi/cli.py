"""`langchain-bhumi` command line: `demo` (an agent streaming tool calls) and `chat`.

Exit codes: 0 success, 1 the provider or network failed, 2 bad usage or configuration,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

from langchain_bhumi._version import __version__
from langchain_bhumi.core.errors import BhumiError, ConfigurationError
from langchain_bhumi.proxy.config import LOG_LEVELS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line usage; printed as one line, exit code 2."""


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C: say so and leave now. Raising KeyboardInterrupt would let LangGraph's
    runner wait for the model call running in its worker thread first."""
    print("\ninterrupted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)  # the open connection dies with the process


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    if args.command in ("demo", "chat") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupted)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, ConfigurationError) as exc:
        _fail(args, exc)
        return EXIT_USAGE
    except BhumiError as exc:
        _fail(args, exc)
        return EXIT_FAILED
    except ImportError as exc:
        _fail(
            args, UsageError(f"{exc.name or exc} is missing: pip install 'langchain-bhumi[demo]'")
        )
        return EXIT_USAGE


def _fail(args: argparse.Namespace, exc: BaseException) -> None:
    if getattr(args, "verbose", False):
        traceback.print_exception(exc)
    print(f"error: {exc}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langchain-bhumi",
        description="One LangChain chat model for every provider, with streamed tool calls "
        "that are never silently wrong.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")

    demo = commands.add_parser(
        "demo",
        help="run an agent that streams tool calls (offline from recordings by default)",
        description="Run a LangChain agent with three tools (weather, calculator, unit "
        "conversion) on a question that needs several tool calls over several rounds, "
        "streaming text, tool calls and results as they happen. With no provider key in the "
        "environment it replays streams recorded from a real llama.cpp server; with a key "
        "(or --model) it runs live.",
    )
    _model_options(demo, required=False)
    demo.add_argument("--question", "-q", help="ask something else (live runs only)")
    demo.add_argument(
        "--replay", action="store_true", help="replay the recording even if a key is set"
    )
    demo.add_argument("--pace", type=float, default=0.03, help="seconds between replayed events")
    demo.set_defaults(run=_run_demo)

    chat = commands.add_parser(
        "chat",
        help="ask a model (one-shot, or interactive without a question)",
        description="Stream a model's answer. With a question: one shot. Without: an "
        "interactive session (empty line or Ctrl-D to quit).",
    )
    _model_options(chat, required=True)
    chat.add_argument("question", nargs="?", help="the question (omit for interactive mode)")
    chat.add_argument("--system", "-s", help="system prompt")
    chat.add_argument(
        "--json",
        nargs="?",
        const="",
        metavar="SCHEMA",
        help="print structured JSON to stdout; optionally a JSON schema (inline or @file)",
    )
    chat.set_defaults(run=_run_chat)

    serve = commands.add_parser(
        "serve",
        help="run the translating proxy (OpenAI Chat and Responses, Anthropic and Gemini "
        "API shapes)",
        description="Serve /v1/chat/completions (OpenAI), /v1/responses (OpenAI Responses), "
        "/v1/messages (Anthropic) and /v1beta/models/*:generateContent (Gemini) over any "
        "backend ChatBhumi supports, with streamed tool calls intact both ways. Configure "
        "backends and a model map in a TOML file (see langchain_bhumi.proxy.config), or give "
        "one --model for every request. "
        "Options given here override the file's [server] table. "
        "Needs: pip install 'langchain-bhumi[proxy]'.",
    )
    serve.add_argument("--config", "-c", help="TOML configuration file")
    serve.add_argument("--model", "-m", help="one backend for every request: provider/model")
    serve.add_argument("--base-url", help="the backend's URL (with --model)")
    serve.add_argument("--api-key", help="the backend's key (with --model; default: its env var)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes (uvicorn's; default 1); limits and memory are per worker",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="default info: one access line per request; debug adds backend details",
    )
    serve.add_argument(
        "--max-concurrent",
        type=int,
        help="requests served at once per worker (default 512); more wait up to "
        "[server].queue_timeout (default 30 s), then get 503",
    )
    serve.add_argument(
        "--allow-open-proxy",
        action="store_true",
        help="serve a non-loopback --host without proxy keys (only when something in front "
        "of the proxy authenticates clients)",
    )
    serve.add_argument("--verbose", "-v", action="store_true", help="log prompts and details")
    serve.set_defaults(run=_run_serve)
    return parser


def _model_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--model", "-m", required=required, help="provider/model, e.g. openai/gpt-4o-mini"
    )
    parser.add_argument("--base-url", help="server URL, with or without /v1")
    parser.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--timeout", type=float, default=60.0, help="idle timeout in seconds")
    parser.add_argument("--verbose", "-v", action="store_true", help="show error details")


def _model(args: argparse.Namespace, model: str, **extra: Any) -> Any:
    from langchain_bhumi.chat_models import ChatBhumi

    params: dict[str, Any] = {"model": model, "timeout": args.timeout, **extra}
    if args.base_url:
        params["base_url"] = args.base_url
    if args.api_key:
        params["api_key"] = args.api_key
    if args.temperature is not None:
        params["temperature"] = args.temperature
    return ChatBhumi(**params)


# --- demo -------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from langchain_bhumi import _demo

    model = args.model or (None if args.replay else _demo.live_default())
    renderer = _demo.TerminalRenderer()
    if model is None:
        cassette = _demo.find_cassette()
        if cassette is None:
            raise UsageError(
                "no recorded demo streams found; pass --model provider/name to run live"
            )
        if args.question:
            raise UsageError("--question needs a live model (--model provider/name)")
        from langchain_bhumi.replay import replay_clients

        client, aclient = replay_clients(cassette, pace=args.pace)
        llm = _model(
            args,
            _demo.RECORDED_MODEL,
            http_client=client,
            http_async_client=aclient,
            **_demo.RECORDED_PARAMS,
        )
        print(
            f"offline: replaying streams recorded from a real llama.cpp server ({cassette.name}); "
            "set a provider key or pass --model to run live",
            file=sys.stderr,
        )
    else:
        llm = _model(args, model)
        print(f"live: {model}", file=sys.stderr)
    question = args.question or _demo.QUESTION
    renderer.out.write(f"user: {question}\n")
    try:
        run = _demo.run_agent(_demo.build_agent(llm), question, renderer)
    except Exception as exc:
        if type(exc).__name__ != "GraphRecursionError":
            raise
        raise UsageError(
            f"the agent did not finish within {_demo.MAX_ROUNDS} model rounds (the model kept "
            "calling tools); try a larger model"
        ) from exc
    renderer.summary(run)
    return EXIT_OK


# --- chat -------------------------------------------------------------------------------


def _run_chat(args: argparse.Namespace) -> int:
    from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

    llm = _model(args, args.model)
    history: list[BaseMessage] = [SystemMessage(args.system)] if args.system else []
    if args.json is not None:
        if not args.question:
            raise UsageError("--json needs a question")
        return _chat_json(llm, args, [*history, HumanMessage(args.question)])
    if args.question:
        _stream_answer(llm, [*history, HumanMessage(args.question)])
        return EXIT_OK
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return EXIT_OK
        history.append(HumanMessage(line.strip()))
        history.append(_stream_answer(llm, history))


def _stream_answer(llm: Any, messages: list[Any]) -> Any:
    from langchain_core.messages import message_chunk_to_message

    full: Any = None
    for chunk in llm.stream(messages):
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if reasoning:
            print(reasoning, end="", file=sys.stderr, flush=True)
        if chunk.text:
            print(chunk.text, end="", flush=True)
        full = chunk if full is None else full + chunk
    print()
    return message_chunk_to_message(full)


def _chat_json(llm: Any, args: argparse.Namespace, messages: list[Any]) -> int:
    if args.json:
        text = args.json
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as file:
                text = file.read()
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--json schema is not valid JSON: {exc}") from exc
        structured = llm.with_structured_output(schema, method="json_schema")
    else:
        structured = llm.with_structured_output(
            {"title": "answer", "type": "object", "additionalProperties": True},
            method="json_mode",
        )
    result = structured.invoke(messages)
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK


# --- serve ------------------------------------------------------------------------------


def _run_serve(args: argparse.Namespace) -> int:
    from langchain_bhumi.proxy import config as proxy_config

    if args.config and args.model:
        raise UsageError("give --config or --model, not both")
    if args.config:
        tables = proxy_config.read_config_file(args.config)
    elif args.model:
        tables = proxy_config.single_backend_tables(
            args.model, base_url=args.base_url, api_key=args.api_key
        )
    else:
        raise UsageError("give --config FILE or --model provider/model")
    server = dict(tables.get("server") or {})
    options = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "log_level": args.log_level,
        "max_concurrent": args.max_concurrent,
        "open_proxy": args.allow_open_proxy or None,
        "log_prompts": args.verbose or None,
    }
    server.update({k: v for k, v in options.items() if v is not None})
    tables = {**tables, "server": server}
    config = proxy_config.parse_config(tables, source=args.config or "serve")
    proxy_config.check_exposure(config)
    try:
        import uvicorn

        from langchain_bhumi.proxy.app import create_app, log_config
    except ImportError as exc:
        raise UsageError(f"{exc.name} is missing: pip install 'langchain-bhumi[proxy]'") from exc
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_config": log_config(config.log_level),
        "access_log": False,
        "timeout_keep_alive": config.connection_idle_timeout,
    }
    routes = ", ".join(sorted(config.backends))
    workers = f" in {config.workers} workers" if config.workers > 1 else ""
    print(
        f"proxy on http://{config.host}:{config.port}{workers} -> backends: {routes}",
        file=sys.stderr,
    )
    if config.workers == 1:
        uvicorn.run(create_app(config), **common)
        return EXIT_OK
    if config.signature_store is None and _has_gemini_backend(config):
        print(
            "warning: with several workers, set [server].signature_store so that Gemini "
            "thought signatures reach the worker that serves the next turn",
            file=sys.stderr,
        )
    # Each worker is a new process that builds its own app from this configuration.
    os.environ[proxy_config.CONFIG_ENV] = json.dumps(tables)
    uvicorn.run(
        "langchain_bhumi.proxy.app:create_app_from_environment",
        factory=True,
        workers=config.workers,
        **common,
    )
    return EXIT_OK


def _has_gemini_backend(config: Any) -> bool:
    from langchain_bhumi.providers import resolve_provider

    return any(
        resolve_provider(b.provider, base_url=b.base_url).spec.protocol == "gemini"
        for b in config.backends.values()
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
