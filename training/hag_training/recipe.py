"""Recipes: search, tuning, evaluation and export in one command (``hag-train recipe default``).

The ``default`` recipe builds the adapter that ships with hag-chain: SmolLM2-135M-Instruct (Q4_1, the embedded
default model) searched and tuned on the default suite (:class:`~hag_training.search.SearchConfig`'s tasks, composed
from ``hag-train room``), then evaluated on their test splits. Every generation goes through the cache, so a rerun
after an interruption, or after changing only the tuning, repeats no generation it has already made.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hag_chain import DEFAULT_MODEL
from hag_training.base_model import resolve_base
from hag_training.evaluate import EvalConfig
from hag_training.search import SearchConfig
from hag_training.sft_config import SFTConfig

__all__ = ["RECIPES", "Recipe", "run_recipe"]

_TASKS = SearchConfig().tasks


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a shipped adapter."""

    name: str
    search: SearchConfig
    sft: SFTConfig
    eval: EvalConfig


RECIPES: dict[str, Recipe] = {
    "default": Recipe(
        name="default",
        search=SearchConfig(tasks=_TASKS, n_train=32, seed=0),
        sft=SFTConfig(),
        eval=EvalConfig(tasks=_TASKS, n_test=48, n_dev=12, static_candidates=2, k=3, seed=0),
    ),
}


def run_recipe(
    recipe: Recipe,
    out_dir: str | Path,
    *,
    cache_path: str | Path,
    model: str | Path | None = None,
    install: bool = False,
    leave_one_out: bool = False,
    tuning: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``recipe`` into ``out_dir`` (``search/``, ``sft/``, ``eval/``); returns the outputs and step times.

    ``model`` is the base that is searched, tuned and evaluated: a supported model's name (``hag_chain.MODELS``) or
    a GGUF file (``None``: the default model). With ``install``, the adapter and its model card are copied into
    hag-chain's package data (``hag_chain/data/``) under the file name the supported model ships its adapter with,
    so that ``ChatHAG(model=name)`` loads it. With ``leave_one_out``, a last step tunes a planner without each task
    and scores it on that task (``leave_one_out/``, not timed with the recipe: it tunes one planner per task).
    ``tuning`` holds tuning settings (:class:`~hag_training.sft_config.SFTConfig` fields, e.g. ``{"epochs": 5}``)
    that replace the recipe's; the model card's command repeats them.

    Raises:
        ValueError: ``install`` with a GGUF file that is no supported model's; an invalid ``tuning`` value.
        TypeError: a ``tuning`` name that is no tuning setting.
        FileNotFoundError: a ``model`` file that does not exist.

    """
    from tqdm.auto import tqdm

    from hag_training.evaluate import evaluate_adapter, write_report
    from hag_training.generation.cache import CachedEngine, GenerationCache
    from hag_training.generation.local import local_engine
    from hag_training.labels import write_outputs
    from hag_training.model_card import write_model_card
    from hag_training.search import run_search
    from hag_training.sft import train_adapter

    tuning = dict(tuning or {})
    sft = replace(recipe.sft, **tuning)  # validated by SFTConfig
    supported, model_path = resolve_base(model)
    if install and (supported is None or supported.adapter_file is None):
        what = (
            f"{model_path}, no supported model's file," if supported is None else f"{supported.name}, which ships none,"
        )
        msg = (
            "--install ships an adapter for a supported model that names its adapter file (`hag-chain models`), which "
            f"ChatHAG(model=name) loads it with; an adapter for {what} stays in the recipe's output (pass it as "
            "ChatHAG(model_path=..., adapter_path=...))."
        )
        raise ValueError(msg)
    out = Path(out_dir)
    cache = GenerationCache(cache_path)
    times: dict[str, float] = {}

    start = time.perf_counter()
    log(f"[1/3] search: {', '.join(recipe.search.tasks)} (cache: {cache.path}, {len(cache)} generations cached)")
    engine = CachedEngine(local_engine(model_path=model_path), cache)
    with tqdm(total=recipe.search.estimated_generations(), unit="gen", desc="search", disable=not progress) as bar:
        result = run_search(recipe.search, engine, progress=bar.update)
    write_outputs(result, out / "search")
    times["search_s"] = round(time.perf_counter() - start, 1)
    log(f"      {len(result.records)} labelled inputs, {result.generated} generated, {result.cache_hits} cached")

    start = time.perf_counter()
    log("[2/3] sft: LoRA tuning on the labels")
    tuned = train_adapter(out / "search", out / "sft", sft, base=model_path, progress=progress)
    times["sft_s"] = round(time.perf_counter() - start, 1)
    log(f"      loss per epoch {tuned.summary['loss_per_epoch']} -> {tuned.adapter_path}")

    start = time.perf_counter()
    log(f"[3/3] eval: {recipe.eval.n_test} test inputs per task as one stream, {recipe.eval.k} replies each")
    stage1 = json.loads((out / "search" / "stage1.json").read_text())
    with tqdm(unit="gen", desc="eval", disable=not progress) as bar:
        report = evaluate_adapter(
            recipe.eval, tuned.adapter_path, cache, model_path=model_path, stage1=stage1, progress=bar.update
        )
    paths = write_report(report, out / "eval")
    times["eval_s"] = round(time.perf_counter() - start, 1)
    command = _command(recipe, supported, model_path, tuning)
    evaluation = (
        f"`{command}`: {recipe.eval.n_test} test inputs per task, seed {recipe.eval.seed}; means with 95% bootstrap "
        "intervals; HAG − method is a paired difference.\n\n" + paths["table"].read_text()
    )
    usage = f'ChatHAG(model="{supported.name}")' if install and supported else None
    card = write_model_card(out / "sft", tuned.summary, evaluation, usage=usage)
    log(f"      {paths['table']}\n" + paths["table"].read_text())

    if leave_one_out:
        from hag_training.leave_one_out import leave_one_task_out, markdown_table

        start = time.perf_counter()
        log("[4/4] leave-one-task-out: a planner tuned without each task, scored on it")
        loo = leave_one_task_out(
            out / "search",
            out / "eval",
            out / "leave_one_out",
            sft,
            cache_path=cache.path,
            model_path=model_path,
            progress=progress,
            log=log,
        )
        times["leave_one_out_s"] = round(time.perf_counter() - start, 1)
        log(markdown_table(loo))

    installed = None
    if install and supported is not None and supported.adapter_file is not None:  # checked above; for mypy
        data_dir = Path(__file__).resolve().parents[2] / "hag_chain" / "data"
        if not data_dir.parent.is_dir():
            raise FileNotFoundError(f"--install needs a source checkout of hag-chain; {data_dir.parent} is missing")
        data_dir.mkdir(exist_ok=True)
        installed = data_dir / supported.adapter_file
        shutil.copyfile(tuned.adapter_path, installed)
        shutil.copyfile(card, installed.with_name(installed.name.removesuffix(".lora.gguf") + ".md"))
        log(f"installed {installed}")
    return {"adapter": tuned.adapter_path, "card": card, "eval": paths, "installed": installed, "times": times}


def _command(recipe: Recipe, supported: Any, model_path: str | None, tuning: Mapping[str, Any]) -> str:
    """The ``hag-train recipe`` command line that reproduces this run (for the model card)."""
    parts = ["hag-train recipe", recipe.name]
    if supported is None or supported.name != DEFAULT_MODEL:
        parts += ["--model", supported.name if supported is not None else Path(model_path or "").name]
    for name, value in tuning.items():
        parts += [f"--{name.replace('_', '-')}", format(value, "g") if isinstance(value, float) else str(value)]
    return " ".join(parts)
