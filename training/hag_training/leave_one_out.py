"""Leave-one-task-out: a planner tuned without a task, scored on that task, as a request of a kind never seen.

For each task of an evaluation, a planner is tuned on the search's labels of every other task (the same tuning
settings) and answers the held-out task's test inputs: the evaluation's inputs, seeds and ``k``, so its scores pair
with the evaluation's own (``results.jsonl``) for the fixed configurations and for the planner tuned on every task.
Each held-out task's planner is kept in its folder (``<out>/<task>/sft``): a rerun trains only the ones missing,
and every generation goes through the cache.

The summary gives, per task and averaged over tasks (each task weighing the same), the held-out planner's mean and
its paired differences to :data:`COMPARED`, with 95% bootstrap intervals (inputs resampled within each task).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hag_training.evaluate import BEST_SINGLE, HAG, AdapterRuntime, EvalConfig
from hag_training.generation.cache import GenerationCache
from hag_training.labels import load_records
from hag_training.report import interval_cell, percentile_interval
from hag_training.scoring import Scorer
from hag_training.sft import ADAPTER_FILE, train_adapter
from hag_training.sft_config import SFTConfig
from hag_training.tasks import get_task

__all__ = ["COMPARED", "HELD_OUT", "leave_one_task_out", "markdown_table"]

HELD_OUT = "HAG, task held out"
COMPARED = ("llama.cpp default", "ChatLlamaCpp default", "greedy", BEST_SINGLE, HAG)
"""The evaluation's methods the held-out planner is compared with (``HAG``: the planner tuned on every task)."""


def leave_one_task_out(
    search_dir: str | Path,
    eval_dir: str | Path,
    out_dir: str | Path,
    sft: SFTConfig,
    *,
    cache_path: str | Path,
    model_path: str | None = None,
    tasks: Sequence[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Tune without each task of the evaluation in ``eval_dir`` and score on it; returns the summary.

    ``tasks`` holds out only those of the evaluation's tasks (``None``: every one); the summary and its average are
    over them. Writes ``results.jsonl`` (the held-out planners' per-input rows), ``summary.json`` and ``results.md``
    under ``out_dir``.

    Raises:
        FileNotFoundError: ``eval_dir`` holds no evaluation (``summary.json``, ``results.jsonl``).
        ValueError: A task of ``tasks`` is not the evaluation's; a held-out task is the only one the search labelled
            (nothing is left to tune on).

    """
    eval_dir, out = Path(eval_dir), Path(out_dir)
    if not (eval_dir / "summary.json").is_file() or not (eval_dir / "results.jsonl").is_file():
        raise FileNotFoundError(f"{eval_dir} holds no evaluation; pass the output folder of `hag-train eval`")
    saved = json.loads((eval_dir / "summary.json").read_text())["config"]
    if tasks is not None and (unknown := sorted(set(tasks) - set(saved["tasks"]))):
        raise ValueError(f"the evaluation in {eval_dir} has no task {unknown}; its tasks: {', '.join(saved['tasks'])}")
    config = EvalConfig(**{**saved, "tasks": tuple(tasks or saved["tasks"])})
    evaluated = [json.loads(line) for line in (eval_dir / "results.jsonl").read_text().splitlines() if line]
    records = load_records(search_dir)
    cache = GenerationCache(cache_path)
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(config.tasks, 1):
        others = [r for r in records if r.task != name]
        if not others:
            raise ValueError(f"the search labelled only {name!r}: leaving it out leaves nothing to tune on")
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        adapter = folder / "sft" / ADAPTER_FILE
        if not adapter.is_file():
            log(f"[{i}/{len(config.tasks)}] {name}: tuning on {len(others)} labels of the other tasks")
            labels = folder / "labels.jsonl"
            labels.write_text("".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in others))
            train_adapter(labels, folder / "sft", sft, base=model_path, progress=progress)
        runtime = AdapterRuntime.load(adapter, cache, model_path)
        task = get_task(name)
        test = task.split(config.seed).test[: config.n_test]
        plans = [runtime.choose(task.messages(ex), task.tools(ex)) for ex in test]
        groups = Scorer(task, runtime.hag_engine, k=config.k, seed=config.seed).score(
            list(zip(test, plans, strict=True))
        )
        for ex, cfg, group in zip(test, plans, groups, strict=True):
            config_row = {k: getattr(cfg, k) for k in runtime.space.knobs}
            rows.append(
                {"task": name, "method": HELD_OUT, "example_id": ex.id, "config": config_row, "score": group.score}
            )
        log(f"      {name}: {np.mean([g.score for g in groups]):.3f} held out")
    summary = summarize(rows, evaluated, config)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(summary))
    return summary


def summarize(rows: list[dict[str, Any]], evaluated: list[dict[str, Any]], config: EvalConfig) -> dict[str, Any]:
    """Per task and averaged over tasks: the held-out planner's mean and its paired differences to :data:`COMPARED`.

    ``worst_task`` is the task on which the held-out planner falls furthest below the best single fixed configuration.
    """
    rng = np.random.default_rng(config.seed)
    score = {(r["task"], r["method"], r["example_id"]): r["score"] for r in [*evaluated, *rows]}
    methods = (HELD_OUT, *COMPARED)
    per_task: dict[str, Any] = {}
    replicates: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for name in config.tasks:
        ids = [r["example_id"] for r in rows if r["task"] == name]
        idx = rng.integers(0, len(ids), size=(config.bootstrap, len(ids)))
        values = {m: np.array([score[(name, m, i)] for i in ids]) for m in methods}
        reps = {m: values[m][idx].mean(axis=1) for m in methods}
        for m in methods:
            replicates[m].append(reps[m])
        per_task[name] = {"inputs": len(ids), HELD_OUT: _stat(values[HELD_OUT].mean(), reps[HELD_OUT])}
        for m in COMPARED:
            diff = values[HELD_OUT].mean() - values[m].mean()
            per_task[name][f"minus {m}"] = _stat(diff, reps[HELD_OUT] - reps[m])
    average = {m: np.mean(replicates[m], axis=0) for m in methods}
    out: dict[str, Any] = {
        "tasks": per_task,
        "average": {HELD_OUT: _stat(np.mean([per_task[t][HELD_OUT]["mean"] for t in config.tasks]), average[HELD_OUT])},
    }
    for m in COMPARED:
        diff = np.mean([per_task[t][f"minus {m}"]["mean"] for t in config.tasks])
        out["average"][f"minus {m}"] = _stat(diff, average[HELD_OUT] - average[m])
    out["worst_task"] = min(config.tasks, key=lambda t: per_task[t][f"minus {BEST_SINGLE}"]["mean"])
    out["config"] = {"tasks": list(config.tasks), "n_test": config.n_test, "k": config.k, "seed": config.seed}
    return out


def _stat(mean: float, replicates: np.ndarray) -> dict[str, Any]:
    return {"mean": round(float(mean), 4), "ci95": percentile_interval(replicates)}


def markdown_table(summary: dict[str, Any]) -> str:
    """Per task and averaged: the held-out planner's mean and its differences, with intervals."""
    head = ["task", HELD_OUT, *(f"− {m}" for m in COMPARED)]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, row in [*summary["tasks"].items(), ("**average**", summary["average"])]:
        cells = [interval_cell(row[HELD_OUT]), *(interval_cell(row[f"minus {m}"], sign=True) for m in COMPARED)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Furthest below the best single fixed configuration: {summary['worst_task']}."]
    return "\n".join(lines) + "\n"
