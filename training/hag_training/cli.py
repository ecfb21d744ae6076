"""The ``hag-train`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

_DESCRIPTION = """\
Build HAG training data. `search` runs the two-stage search (prune on a few probe inputs per task, then a
greedy per-input search over the survivors) and writes labels.jsonl, stage1.json and a datasets dataset.
Every generation is cached: an interrupted search resumes where it stopped, and a repeated one is free.

examples:
  hag-train search --out runs/search                       # default tasks, default model, ~1 hour on 2 cores
  hag-train search --tasks coinflip,gsm8k --n-train 4 --budget 200 --out runs/small
  hag-train search --engine openai --base-url http://127.0.0.1:8080/v1 --concurrency 8 --out runs/server
"""


def _default_cache() -> Path:
    root = os.environ.get("HAG_CACHE_DIR") or Path.home() / ".cache" / "hag-chain"
    return Path(root) / "generations.sqlite"


def _parser() -> argparse.ArgumentParser:
    from hag_training.search import SearchConfig

    defaults = SearchConfig()
    parser = argparse.ArgumentParser(
        prog="hag-train", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("search", help="label training inputs with good decoding configurations")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--tasks", default=",".join(defaults.tasks), help="comma-separated task names")
    s.add_argument("--n-probe", type=int, default=defaults.n_probe, help="stage-1 probe inputs per task (5)")
    s.add_argument("--n-train", type=int, default=defaults.n_train, help="inputs labelled per task (16)")
    s.add_argument("--repeats", type=int, default=defaults.repeats, help="generations per configuration (1)")
    s.add_argument("--seed", type=int, default=defaults.seed, help="split, order and sampling seed (0)")
    s.add_argument(
        "--space",
        help='search space as JSON, e.g. \'{"temperature": [0.0, 0.7], "top_k": [10, 50]}\' '
        "(default: hag_chain.DEFAULT_SEARCH_SPACE, 32 configurations)",
    )
    s.add_argument("--budget", type=int, help="stop after this many new generations (cached ones are free)")
    s.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="generation cache file (default: $HAG_CACHE_DIR or ~/.cache/hag-chain/generations.sqlite)",
    )
    s.add_argument("--engine", choices=["llama.cpp", "openai"], default="llama.cpp", help="generation engine")
    s.add_argument("--model", help="GGUF file (llama.cpp) or model name (openai); default: SmolLM2-135M")
    s.add_argument("--adapter", help="GGUF LoRA adapter (llama.cpp engine)")
    s.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    s.add_argument("--concurrency", type=int, default=4, help="requests in flight (openai engine, 4)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hag-train``; returns the exit status."""
    args = _parser().parse_args(argv)
    return _search(args)


def _search(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_training.cache import CachedEngine, GenerationCache
    from hag_training.engines import LlamaCppEngine, OpenAICompatibleEngine
    from hag_training.search import BudgetExhausted, SearchConfig, run_search, write_outputs

    extra = {}
    if args.space:
        from hag_chain import SearchSpace

        extra["space"] = SearchSpace(values=json.loads(args.space))
    config = SearchConfig(
        **extra,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        n_probe=args.n_probe,
        n_train=args.n_train,
        repeats=args.repeats,
        seed=args.seed,
    )
    if args.engine == "openai":
        if not args.base_url:
            print("hag-train: error: --engine openai needs --base-url", file=sys.stderr)
            return 2
        engine = OpenAICompatibleEngine(args.base_url, model=args.model or "default", concurrency=args.concurrency)
    else:
        engine = LlamaCppEngine(model_path=args.model, adapter_path=args.adapter)
    cache = GenerationCache(args.cache or _default_cache())
    cached = CachedEngine(engine, cache, budget=args.budget)
    bar = tqdm(total=config.estimated_generations(), unit="gen", disable=args.no_progress, desc="search")
    try:
        result = run_search(config, cached, progress=bar.update)
    except BudgetExhausted as e:
        print(
            f"\nhag-train: {e}; {cached.generated} generated, {len(cache)} cached. Rerun with a larger "
            "--budget to resume from the cache.",
            file=sys.stderr,
        )
        return 3
    except KeyboardInterrupt:
        print(
            f"\nhag-train: interrupted; {len(cache)} generations are cached in {cache.path}. Rerun the same "
            "command to resume.",
            file=sys.stderr,
        )
        return 130
    finally:
        bar.close()
    out = write_outputs(result, args.out)
    print(
        f"{len(result.records)} labelled inputs -> {out} ({result.generated} generated, {result.cache_hits} from cache)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
