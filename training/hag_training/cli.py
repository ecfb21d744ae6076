"""The ``hag-train`` command: one subcommand per step, its options generated from the step's configuration."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hag_chain import SupportedModel

__all__ = ["main"]

_DESCRIPTION = """\
Build, tune and evaluate HAG models.

  search   label training inputs with good decoding configurations (a racing search on expected scores over k
           replies per configuration, cached generations)
  sft      LoRA-tune a model to write those configurations, export a GGUF LoRA adapter and a model card
  eval     score HAG against fixed decoding configurations on the stream of test inputs (table + plots)
  leave-one-out
           per task, a planner tuned on the other tasks' labels, scored on it
  room     per task, how much decoding moves the expected score: defaults, greedy, best and worst static
  choices  what the planner chooses for real users' prompts (AlpacaEval, Arena-Hard, MT-bench), per category
  recipe   all three in one command; `recipe default` rebuilds the adapter that ships with hag-chain

examples:
  hag-train recipe default --out runs/default                  # search, sft, eval; a rerun is cached
  hag-train recipe default --model qwen2.5-coder-0.5b --install   # the shipped Qwen adapter
  hag-train search --out runs/search                           # the default tasks and model
  hag-train search --tasks coinflip,gsm8k --n-train 4 --budget 200 --out runs/small
  hag-train sft --data runs/search --out runs/sft              # base: the default SmolLM2 GGUF
  accelerate launch -m hag_training.cli sft --data runs/search --base checkpoints/SmolLM2-135M-Instruct \\
      --out runs/sft                                           # several GPUs
  hag-train eval --adapter runs/sft/hag-adapter.lora.gguf --search runs/search --out runs/eval
  hag-train leave-one-out --search runs/search --eval runs/eval --out runs/leave-one-out
  hag-train room --tasks gsm8k,pig_latin --n-inputs 16 --out runs/room
  hag-train choices --out runs/choices --limit 40                # 40 prompts per benchmark, all categories

Every generation is cached (--cache): an interrupted command resumes where it stopped, a repeated one is free.
Run `hag-train COMMAND --help` for a command's options.
"""

_MODEL_HELP = "the base model: a supported model's name (`hag-chain models`) or a GGUF file (default: smollm2-135m)"


def _base_path(model: str | None) -> str | None:
    """The GGUF file ``--model`` names (``None``: the default model's, which the engines find themselves)."""
    from hag_training.base_model import resolve_base

    return resolve_base(model)[1]


def _base_and_adapter(args: argparse.Namespace) -> tuple[SupportedModel | None, str | None, str | None]:
    """``--model``'s supported model and GGUF file, and ``--adapter``, else the adapter shipped for that model."""
    from hag_training.base_model import resolve_base

    supported, model_path = resolve_base(args.model)
    return supported, model_path, args.adapter or (supported.adapter_path() if supported else None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hag-train", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _search_parser,
        _sft_parser,
        _eval_parser,
        _leave_one_out_parser,
        _room_parser,
        _choices_parser,
        _recipe_parser,
    ):
        add(sub)
    return parser


def _search_parser(sub) -> None:
    from hag_training.config_arguments import add_config_arguments
    from hag_training.search import SearchConfig

    s = sub.add_parser(
        "search",
        help="label training inputs with good decoding configurations",
        description="Races the search space's configurations on each task's first inputs (successive halving), "
        "then labels every input with the configuration that earned it (empirical Bayes over k replies per "
        "configuration). Writes OUT/labels.jsonl, OUT/stage1.json and OUT/dataset (a `datasets` copy).",
    )
    s.add_argument("--out", required=True, help="output folder")
    add_config_arguments(s, SearchConfig)
    s.add_argument("--budget", type=int, help="stop after this many new generations (cached ones are free)")
    s.add_argument("--engine", choices=["llama.cpp", "openai"], default="llama.cpp", help="generation engine")
    s.add_argument("--model", help=_MODEL_HELP + "; with --engine openai, the server's model name")
    s.add_argument("--adapter", help="GGUF LoRA adapter (llama.cpp engine)")
    s.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    s.add_argument("--concurrency", type=int, default=4, help="requests in flight (openai engine, 4)")
    _cache_and_progress(s)


def _sft_parser(sub) -> None:
    from hag_training.config_arguments import add_config_arguments
    from hag_training.sft_config import SFTConfig

    s = sub.add_parser(
        "sft",
        help="LoRA-tune a model to write the search's configurations; export a GGUF adapter",
        description="LoRA instruction tuning (transformers Trainer + peft) on a search's labels. Loss is on the "
        "planner's reply only (the configuration's one-token code, or its line). Writes OUT/peft (the peft "
        "adapter), OUT/hag-adapter.lora.gguf (with hag.* metadata) and OUT/README.md (the model card). Rerunning an "
        "interrupted run resumes from its last epoch.",
    )
    s.add_argument("--data", required=True, help="output folder of `hag-train search` (or its labels.jsonl)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument(
        "--base",
        help="a transformers directory, a GGUF file or a supported model's name (`hag-chain models`); default: "
        "smollm2-135m",
    )
    add_config_arguments(s, SFTConfig)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")


def _eval_parser(sub) -> None:
    from hag_training.config_arguments import add_config_arguments
    from hag_training.evaluate import EvalConfig
    from hag_training.recipe import RECIPES

    e = sub.add_parser(
        "eval",
        help="score HAG against fixed decoding configurations on the stream of test inputs",
        description="Takes every task's test inputs as one stream with no task label, as a user's requests come, and "
        "scores on it HAG (the adapter's own choice per input), llama.cpp's default sampling, ChatLlamaCpp's defaults, "
        "greedy decoding, a random configuration, the best single fixed configuration (chosen on the dev inputs of "
        "the whole stream), the best fixed configuration per task (a reference: it needs the task label) and the "
        "per-input oracle (hindsight). Reports the share of the oracle's room HAG takes and HAG on the test-only "
        "phrasings beside the seen ones. Writes results.jsonl, summary.json, results.md (means with 95% bootstrap "
        "intervals) and scores.png / configs.png.",
    )
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--adapter", help="GGUF LoRA adapter (default: the one shipped for the model)")
    e.add_argument("--search", help="a search's output folder: its stage-1 ranking gives the best-static candidates")
    e.add_argument("--model", help=_MODEL_HELP)
    add_config_arguments(e, EvalConfig, defaults={"tasks": RECIPES["default"].eval.tasks})
    _cache_and_progress(e)


def _leave_one_out_parser(sub) -> None:
    from hag_training.config_arguments import add_config_arguments
    from hag_training.sft_config import SFTConfig

    s = sub.add_parser(
        "leave-one-out",
        help="per task, a planner tuned on the other tasks' labels, scored on it",
        description="For each task of an evaluation (--eval, the output folder of `hag-train eval`), tunes a "
        "planner on the search's labels of every other task (--search) and scores it on the held-out task's test "
        "inputs, paired with the evaluation's scores of the fixed configurations and of the planner tuned on every "
        "task. Writes results.jsonl, summary.json and results.md; a rerun tunes only the planners missing.",
    )
    s.add_argument("--search", required=True, help="the search's output folder (its labels.jsonl)")
    s.add_argument("--eval", required=True, help="the evaluation's output folder (summary.json, results.jsonl)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--model", help=_MODEL_HELP)
    s.add_argument(
        "--tasks", help="hold out only these of the evaluation's tasks, comma-separated (default: every one)"
    )
    add_config_arguments(s, SFTConfig)
    _cache_and_progress(s)


def _room_parser(sub) -> None:
    from hag_training.config_arguments import add_config_arguments, parse_search_space
    from hag_training.recipe import RECIPES
    from hag_training.room import RoomConfig

    r = sub.add_parser(
        "room",
        help="per task: the expected score of the defaults, greedy, and the best and worst static configuration",
        description="Every configuration of the search space and the fixed baselines (llama.cpp's default, "
        "ChatLlamaCpp's defaults, greedy) answer the first N inputs of a split (a seeded sample of the task) K times "
        "each, scored as groups. "
        "Writes room.json (every score), room.md (means with 95% bootstrap intervals, the best and worst static "
        "configuration and their paired gap) and room.png. The room HAG has: a task where the gap's interval "
        "includes 0, or whose best is at its floor, gives the planner nothing to learn.",
    )
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--model", help=_MODEL_HELP)
    add_config_arguments(r, RoomConfig, defaults={"tasks": RECIPES["default"].eval.tasks})
    r.add_argument(
        "--space",
        type=parse_search_space,
        help="search space as JSON (default: hag_chain.DEFAULT_SEARCH_SPACE, 32 configurations)",
    )
    _cache_and_progress(r)


def _choices_parser(sub) -> None:
    from hag_training.real_prompts import SOURCES

    c = sub.add_parser(
        "choices",
        help="what the planner chooses for real users' prompts (AlpacaEval, Arena-Hard, MT-bench), per category",
        description="Runs the planner alone (phase 1 of ChatHAG: no answer is generated) over real user prompts "
        "read from pinned registry packages: "
        + "; ".join(f"{name}: {s.description}" for name, s in SOURCES.items())
        + ". Writes choices.json (every choice by source, category and prompt id, no prompt text: the data's "
        "upstream licences differ, AlpacaEval's is believed non-commercial), choices.md (per category: the share "
        "of each value of each knob, greedy, the most frequent line, the share of suspect choices) and configs.png "
        "(stacked bars per category, a row per benchmark). A prompt too long for the context is skipped and "
        "counted, not truncated.",
    )
    c.add_argument("--out", required=True, help="output folder")
    c.add_argument(
        "--sources", default=",".join(SOURCES), help=f"comma-separated benchmarks (default: all, {','.join(SOURCES)})"
    )
    c.add_argument(
        "--adapter",
        help="GGUF LoRA adapter (default: the one shipped for the model; for a model with none, the bare model plans)",
    )
    c.add_argument("--model", help=_MODEL_HELP)
    c.add_argument(
        "--limit",
        type=int,
        help="at most this many prompts per benchmark, spread over its categories (default: all of them)",
    )
    c.add_argument(
        "--n-ctx",
        type=int,
        default=4096,
        help="context window in tokens (default: 4096); longer planner prompts are skipped",
    )
    c.add_argument("--no-progress", action="store_true", help="no progress bar")


def _recipe_parser(sub) -> None:
    from hag_chain import PLANNER_PROMPTS, TUNED_PROMPT_VERSION
    from hag_training.recipe import RECIPES

    r = sub.add_parser("recipe", help="search, tune, evaluate and export in one command")
    r.add_argument("name", choices=sorted(RECIPES), help="recipe name")
    r.add_argument("--out", default=None, help="output folder (default: runs/<name>)")
    r.add_argument(
        "--model",
        help="to search, tune and evaluate: " + _MODEL_HELP,
    )
    r.add_argument(
        "--install",
        action="store_true",
        help="copy the adapter and its card into hag_chain/data/, where ChatHAG(model=name) finds it (supported "
        "models only)",
    )
    r.add_argument(
        "--leave-one-out",
        action="store_true",
        help="then tune a planner without each task and score it on that task (one tuning per task)",
    )
    r.add_argument(
        "--prompt-version",
        choices=sorted(PLANNER_PROMPTS),
        help=f"planner prompt to tune (default: the recipe's, {TUNED_PROMPT_VERSION}); see `hag-train sft --help`",
    )
    r.add_argument(
        "--epochs",
        type=float,
        help="tuning epochs (default: the recipe's, 3); a larger base may need more to learn its labels per request",
    )
    _cache_and_progress(r)


def _cache_and_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="generation cache file (default: generations.sqlite in $HAG_CACHE_DIR, else in the user cache folder, "
        "~/.cache/hag-chain on Linux)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hag-train``; returns the exit status."""
    from hag_chain import HAGError

    args = _parser().parse_args(argv)
    commands = {
        "search": _search,
        "sft": _sft,
        "eval": _eval,
        "leave-one-out": _leave_one_out,
        "room": _room,
        "choices": _choices,
        "recipe": _recipe,
    }
    try:
        return commands[args.command](args)
    except (FileNotFoundError, ValueError, HAGError) as e:  # HAGError: e.g. an unknown task name
        print(f"hag-train {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\nhag-train {args.command}: interrupted. Generations and finished epochs are saved: rerun the same "
            "command to resume.",
            file=sys.stderr,
        )
        return 130


def _cache(args: argparse.Namespace):
    from hag_training.generation.cache import GenerationCache, default_cache_path

    return GenerationCache(args.cache or default_cache_path())


def _search(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_training.config_arguments import config_from_args
    from hag_training.generation.cache import CachedEngine
    from hag_training.generation.engine import Engine
    from hag_training.generation.local import local_engine
    from hag_training.generation.openai_compatible import OpenAICompatibleEngine
    from hag_training.labels import write_outputs
    from hag_training.scoring import BudgetExhausted
    from hag_training.search import SearchConfig, run_search

    config = config_from_args(SearchConfig, args)
    engine: Engine
    if args.engine == "openai":
        if not args.base_url:
            print("hag-train: error: --engine openai needs --base-url", file=sys.stderr)
            return 2
        engine = OpenAICompatibleEngine(args.base_url, model=args.model or "default", concurrency=args.concurrency)
    else:
        engine = local_engine(model_path=_base_path(args.model), adapter_path=args.adapter)
    cache = _cache(args)
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


def _sft(args: argparse.Namespace) -> int:
    from hag_chain import MODELS
    from hag_training.config_arguments import config_from_args
    from hag_training.model_card import write_model_card
    from hag_training.sft import train_adapter
    from hag_training.sft_config import SFTConfig

    config = config_from_args(SFTConfig, args)
    base = _base_path(args.base) if args.base in MODELS else args.base  # else a transformers directory or a GGUF file
    result = train_adapter(args.data, args.out, config, base=base, progress=not args.no_progress)
    card = write_model_card(args.out, result.summary)
    print(f"loss per epoch {result.summary['loss_per_epoch']}\n{result.adapter_path}\n{card}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_training.config_arguments import config_from_args
    from hag_training.evaluate import EvalConfig, evaluate_adapter, write_report

    supported, model_path, adapter = _base_and_adapter(args)
    if adapter is None:
        model = supported.name if supported else model_path
        raise FileNotFoundError(
            f"no --adapter given and hag-chain ships none for {model}; pass --adapter PATH, e.g. `hag-train sft`'s"
        )
    config = config_from_args(EvalConfig, args)
    stage1 = json.loads((Path(args.search) / "stage1.json").read_text()) if args.search else None
    with tqdm(unit="gen", desc="eval", disable=args.no_progress) as bar:
        report = evaluate_adapter(
            config, adapter, _cache(args), model_path=model_path, stage1=stage1, progress=bar.update
        )
    paths = write_report(report, args.out)
    print(paths["table"].read_text() + "\n" + "\n".join(str(p) for p in paths.values()))
    return 0


def _leave_one_out(args: argparse.Namespace) -> int:
    from hag_training.config_arguments import config_from_args
    from hag_training.leave_one_out import leave_one_task_out, markdown_table
    from hag_training.sft_config import SFTConfig

    summary = leave_one_task_out(
        args.search,
        args.eval,
        args.out,
        config_from_args(SFTConfig, args),
        cache_path=_cache(args).path,
        model_path=_base_path(args.model),
        tasks=args.tasks.split(",") if args.tasks else None,
        progress=not args.no_progress,
    )
    print(markdown_table(summary))
    return 0


def _room(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_chain import DEFAULT_SEARCH_SPACE
    from hag_training.config_arguments import config_from_args
    from hag_training.generation.cache import CachedEngine
    from hag_training.generation.local import local_engine
    from hag_training.room import RoomConfig, run_room, write_room

    config = config_from_args(RoomConfig, args)
    space = args.space or DEFAULT_SEARCH_SPACE
    engine = CachedEngine(local_engine(model_path=_base_path(args.model)), _cache(args))
    total = len(config.tasks) * config.n_inputs * config.k * (space.size + 3)
    with tqdm(total=total, unit="req", desc="room", disable=args.no_progress) as bar:
        report = run_room(config, engine, space, progress=bar.update)
    paths = write_room(report, args.out)
    print(paths["table"].read_text() + "\n" + "\n".join(str(p) for p in paths.values()))
    return 0


def _choices(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_chain import ChatHAG
    from hag_training.real_prompts import load_prompts, plan_prompts, spread, write_choices

    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1; got {args.limit}")
    _, model_path, adapter = _base_and_adapter(args)  # before the prompts: a wrong --model fails fast
    prompts = [p for source in sources for p in spread(load_prompts(source), args.limit)]
    chat = ChatHAG(model_path=model_path, adapter_path=adapter, n_ctx=args.n_ctx)
    profile = chat.hag_profile()
    with tqdm(total=len(prompts), unit="prompt", desc="choices", disable=args.no_progress) as bar:
        choices = plan_prompts(prompts, chat, progress=bar.update)
    about = {
        "model": chat.resolved_model_path,
        "adapter": str(adapter) if adapter else None,
        "n_ctx": args.n_ctx,
        "prompt_version": profile.prompt_version,
        "search_space": {k: list(v) for k, v in profile.search_space.values.items()},
        "sources": sources,
        "limit": args.limit,
    }
    paths = write_choices(choices, args.out, about=about)
    skipped = sum(c.skipped is not None for c in choices)
    print(paths["table"].read_text() + "\n" + "\n".join(str(p) for p in paths.values()))
    if skipped:
        print(f"{skipped} of {len(choices)} prompts skipped: their planner prompt does not fit --n-ctx {args.n_ctx}")
    return 0


def _recipe(args: argparse.Namespace) -> int:
    from hag_training.generation.cache import default_cache_path
    from hag_training.recipe import RECIPES, run_recipe

    out = run_recipe(
        RECIPES[args.name],
        args.out or Path("runs") / args.name,
        cache_path=args.cache or default_cache_path(),
        model=args.model,
        install=args.install,
        leave_one_out=args.leave_one_out,
        tuning={name: value for name in ("prompt_version", "epochs") if (value := getattr(args, name)) is not None},
        progress=not args.no_progress,
    )
    print(json.dumps(out["times"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
