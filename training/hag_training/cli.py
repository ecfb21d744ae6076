"""The ``hag-train`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

_DESCRIPTION = """\
Build, tune and evaluate HAG models.

  search   label training inputs with good decoding configurations (a racing search on expected scores over k
           replies per configuration, cached generations)
  sft      LoRA-tune a model to write those configurations, export a GGUF LoRA adapter and a model card
  eval     score HAG against fixed decoding configurations on the tasks' test splits (table + plots)
  room     per task, how much decoding moves the expected score: defaults, greedy, best and worst static
  recipe   all three in one command; `recipe default` rebuilds the adapter that ships with hag-chain

examples:
  hag-train recipe default --out runs/default                  # ~1 hour on 2 CPU cores, a rerun is cached
  hag-train search --out runs/search                           # the default tasks and model
  hag-train search --tasks coinflip,gsm8k --n-train 4 --budget 200 --out runs/small
  hag-train sft --data runs/search --out runs/sft              # base: the default SmolLM2 GGUF
  accelerate launch -m hag_training.cli sft --data runs/search --base HuggingFaceTB/SmolLM2-135M-Instruct \\
      --out runs/sft                                           # several GPUs
  hag-train eval --adapter runs/sft/hag-adapter.lora.gguf --search runs/search --out runs/eval
  hag-train room --tasks gsm8k,pig_latin,haiku --n-inputs 16 --out runs/room

Every generation is cached (--cache): an interrupted command resumes where it stopped, a repeated one is free.
"""


def _default_cache() -> Path:
    from hag_training.cache import default_cache_path

    return default_cache_path()


def _parser() -> argparse.ArgumentParser:
    from hag_training.search import SURVIVORS_BY, SearchConfig

    defaults = SearchConfig()
    parser = argparse.ArgumentParser(
        prog="hag-train", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("search", help="label training inputs with good decoding configurations")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--tasks", default=",".join(defaults.tasks), help="comma-separated task names")
    s.add_argument(
        "--n-probe",
        type=int,
        default=defaults.n_probe,
        help="inputs per task on which stage 1 races the grid by successive halving: the first of the labelled "
        f"inputs ({defaults.n_probe})",
    )
    s.add_argument(
        "--n-train",
        type=int,
        default=defaults.n_train,
        help=f"inputs labelled per task, the probes among them ({defaults.n_train})",
    )
    s.add_argument(
        "--k",
        type=int,
        default=defaults.k,
        help=f"replies per configuration and input, scored as a group: the expected score ({defaults.k})",
    )
    s.add_argument(
        "--survivors",
        type=int,
        default=defaults.survivors,
        help=f"configurations that survive stage 1 and compete on every labelled input ({defaults.survivors})",
    )
    s.add_argument(
        "--survivors-by",
        choices=SURVIVORS_BY,
        default=defaults.survivors_by,
        help="rank: the race's best configurations go on; temperature: the best of each temperature first, so an "
        f"input the task's configuration fails has another kind of decoding to earn ({defaults.survivors_by})",
    )
    s.add_argument(
        "--eta", type=int, default=defaults.eta, help=f"successive halving keeps 1/eta per rung ({defaults.eta})"
    )
    s.add_argument(
        "--evidence-z",
        type=float,
        default=defaults.evidence_z,
        help="posterior standard deviations by which an input's estimated gain over the task's best configuration "
        f"(empirical Bayes) must exceed 0 for another configuration to become its label ({defaults.evidence_z})",
    )
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
    _sft_arguments(sub)
    _eval_arguments(sub)
    _room_arguments(sub)
    r = sub.add_parser("recipe", help="search, tune, evaluate and export in one command")
    r.add_argument("name", choices=sorted(_recipes()), help="recipe name")
    r.add_argument("--out", default=None, help="output folder (default: runs/<name>)")
    r.add_argument("--cache", type=Path, default=None, help="generation cache file (default: as for search)")
    r.add_argument("--model", help="base GGUF to search, tune and evaluate (default: the embedded SmolLM2-135M)")
    r.add_argument(
        "--install", action="store_true", help="copy the adapter and its card into hag_chain/data/ (default model only)"
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _recipes():
    from hag_training.recipe import RECIPES

    return RECIPES


def _sft_arguments(sub) -> None:
    from hag_gguf import ADAPTER_OUTTYPES

    from hag_chain.protocol import PLANNER_PROMPTS
    from hag_training.sft import SFTConfig

    d = SFTConfig()
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
    s.add_argument("--base", help="transformers directory or GGUF file (default: the embedded SmolLM2-135M GGUF)")
    s.add_argument("--rank", type=int, default=d.rank, help=f"LoRA rank ({d.rank})")
    s.add_argument("--alpha", type=int, default=d.alpha, help=f"LoRA alpha ({d.alpha})")
    s.add_argument("--epochs", type=float, default=d.epochs, help=f"training epochs ({d.epochs:g})")
    s.add_argument("--lr", type=float, default=d.learning_rate, help=f"learning rate ({d.learning_rate:g})")
    s.add_argument("--batch-size", type=int, default=d.batch_size, help=f"per-device batch size ({d.batch_size})")
    s.add_argument("--seed", type=int, default=d.seed, help=f"seed ({d.seed})")
    s.add_argument(
        "--ties",
        choices=["keep", "drop"],
        default=d.ties,
        help="inputs where every configuration scored the same (labelled with the task's best stage-1 "
        "configuration): keep them (default) or drop them",
    )
    s.add_argument(
        "--mode",
        choices=["alora", "lora"],
        default=d.mode,
        help="alora (default): an activated LoRA, on from the planner turn only, so the answer is the bare base "
        "model's; lora: a plain LoRA, on for the whole context (it also learns the base model's own answers)",
    )
    s.add_argument(
        "--prompt-version",
        default=d.prompt_version,
        choices=sorted(PLANNER_PROMPTS),
        help=f"planner prompt and reply format to tune on ({d.prompt_version}: a one-word turn answered by one "
        "code token per configuration, so the runtime planner is one llama.cpp call; hag-v2: the same turn "
        "answered by the JSON line; hag-v1: the untuned model's instruction, answered by the JSON line)",
    )
    s.add_argument(
        "--no-answers",
        action="store_true",
        help="lora mode: train the configuration line only, not the base model's own answers (the adapter must "
        "then be run with answer_with_adapter=False, or it answers with configuration lines)",
    )
    s.add_argument(
        "--outtype", default=d.outtype, help=f"GGUF adapter tensor type: {', '.join(ADAPTER_OUTTYPES)} ({d.outtype})"
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")


def _eval_arguments(sub) -> None:
    from hag_training.evaluate import EvalConfig

    d = EvalConfig(tasks=("gsm8k",))
    e = sub.add_parser(
        "eval",
        help="score HAG against fixed decoding configurations on test splits",
        description="Scores HAG (the adapter's own choice per input), llama.cpp's default sampling, ChatLlamaCpp's "
        "defaults, a random configuration, greedy decoding and the best static configuration per task (chosen on "
        "the dev split) on each task's test split. Writes results.jsonl, summary.json, results.md (means with 95% "
        "bootstrap intervals) and scores.png / configs.png.",
    )
    _scoring_arguments(e, d.seed)
    e.add_argument("--adapter", help="GGUF LoRA adapter (default: the adapter shipped with hag-chain)")
    e.add_argument("--search", help="a search's output folder: its stage-1 ranking gives the best-static candidates")
    e.add_argument("--n-test", type=int, default=d.n_test, help=f"test inputs per task ({d.n_test})")
    e.add_argument("--n-dev", type=int, default=d.n_dev, help=f"dev inputs per task for best static ({d.n_dev})")
    e.add_argument("--k", type=int, default=d.k, help=f"replies per method and input, scored as a group ({d.k})")


def _scoring_arguments(p: argparse.ArgumentParser, seed: int) -> None:
    """The options ``eval`` and ``room`` share: output, tasks, base model, seed, cache, progress."""
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tasks", default=",".join(_recipes()["default"].eval.tasks), help="comma-separated task names")
    p.add_argument("--model", help="base GGUF (default: the embedded SmolLM2-135M)")
    p.add_argument("--seed", type=int, default=seed, help=f"split and sampling seed ({seed})")
    p.add_argument("--cache", type=Path, default=None, help="generation cache file (default: as for search)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _room_arguments(sub) -> None:
    from hag_training.room import RoomConfig

    d = RoomConfig(tasks=("gsm8k",))
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
    _scoring_arguments(r, d.seed)
    r.add_argument("--n-inputs", type=int, default=d.n_inputs, help=f"inputs per task ({d.n_inputs})")
    r.add_argument("--k", type=int, default=d.k, help=f"replies per configuration and input ({d.k})")
    r.add_argument("--split", choices=["train", "dev", "test"], default=d.split, help=f"inputs from ({d.split})")
    r.add_argument("--space", help="search space as JSON (default: hag_chain.DEFAULT_SEARCH_SPACE, 32 configurations)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hag-train``; returns the exit status."""
    from hag_chain import HAGError

    args = _parser().parse_args(argv)
    commands = {"search": _search, "sft": _sft, "eval": _eval, "room": _room, "recipe": _recipe}
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


def _search(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_training.cache import CachedEngine, GenerationCache
    from hag_training.engines import OpenAICompatibleEngine, local_engine
    from hag_training.scoring import BudgetExhausted
    from hag_training.search import SearchConfig, run_search, write_outputs

    extra = {}
    if args.space:
        from hag_chain import SearchSpace

        extra["space"] = SearchSpace(values=json.loads(args.space))
    config = SearchConfig(
        **extra,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        n_probe=args.n_probe,
        n_train=args.n_train,
        k=args.k,
        survivors=args.survivors,
        survivors_by=args.survivors_by,
        eta=args.eta,
        evidence_z=args.evidence_z,
        seed=args.seed,
    )
    if args.engine == "openai":
        if not args.base_url:
            print("hag-train: error: --engine openai needs --base-url", file=sys.stderr)
            return 2
        engine = OpenAICompatibleEngine(args.base_url, model=args.model or "default", concurrency=args.concurrency)
    else:
        engine = local_engine(model_path=args.model, adapter_path=args.adapter)
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


def _sft(args: argparse.Namespace) -> int:
    from hag_training.model_card import write_model_card
    from hag_training.sft import SFTConfig, train_adapter

    config = SFTConfig(
        rank=args.rank,
        alpha=args.alpha,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        ties=args.ties,
        mode=args.mode,
        prompt_version=args.prompt_version,
        answers=not args.no_answers,
        outtype=args.outtype,
    )
    result = train_adapter(args.data, args.out, config, base=args.base, progress=not args.no_progress)
    card = write_model_card(args.out, result.summary)
    print(f"loss per epoch {result.summary['loss_per_epoch']}\n{result.adapter_path}\n{card}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_chain import default_adapter_path
    from hag_training.cache import GenerationCache
    from hag_training.evaluate import EvalConfig, evaluate_adapter, write_report

    adapter = args.adapter or default_adapter_path()
    if adapter is None:
        raise FileNotFoundError("no --adapter given and this hag-chain ships none; run `hag-train sft` first")
    config = EvalConfig(
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        n_test=args.n_test,
        n_dev=args.n_dev,
        k=args.k,
        seed=args.seed,
    )
    stage1 = json.loads((Path(args.search) / "stage1.json").read_text()) if args.search else None
    cache = GenerationCache(args.cache or _default_cache())
    with tqdm(unit="gen", desc="eval", disable=args.no_progress) as bar:
        report = evaluate_adapter(config, adapter, cache, model_path=args.model, stage1=stage1, progress=bar.update)
    paths = write_report(report, args.out)
    print(paths["table"].read_text() + "\n" + "\n".join(str(p) for p in paths.values()))
    return 0


def _room(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from hag_chain import DEFAULT_SEARCH_SPACE, SearchSpace
    from hag_training.cache import CachedEngine, GenerationCache
    from hag_training.engines import local_engine
    from hag_training.room import RoomConfig, run_room, write_room

    config = RoomConfig(
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        n_inputs=args.n_inputs,
        k=args.k,
        split=args.split,
        seed=args.seed,
    )
    space = SearchSpace(values=json.loads(args.space)) if args.space else DEFAULT_SEARCH_SPACE
    engine = CachedEngine(local_engine(model_path=args.model), GenerationCache(args.cache or _default_cache()))
    total = len(config.tasks) * config.n_inputs * config.k * (space.size + 3)
    with tqdm(total=total, unit="req", desc="room", disable=args.no_progress) as bar:
        report = run_room(config, engine, space, progress=bar.update)
    paths = write_room(report, args.out)
    print(paths["table"].read_text() + "\n" + "\n".join(str(p) for p in paths.values()))
    return 0


def _recipe(args: argparse.Namespace) -> int:
    from hag_training.recipe import run_recipe

    recipe = _recipes()[args.name]
    out = run_recipe(
        recipe,
        args.out or Path("runs") / args.name,
        cache_path=args.cache or _default_cache(),
        model_path=args.model,
        install=args.install,
        progress=not args.no_progress,
    )
    print(json.dumps(out["times"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
