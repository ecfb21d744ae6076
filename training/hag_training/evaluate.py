"""Does the model's own choice of decoding configuration beat fixed ones? Scored on each task's test split.

Methods, all answering the same test inputs with the same seeds; each (method, input) gets ``k`` replies scored as a
group (:meth:`~hag_training.tasks.Task.score_group`), the expected score the search labels with:

* ``HAG``: the tuned model picks a configuration per input (the runtime's planner) and answers with it, as
  :class:`~hag_chain.ChatHAG` does by default: with a plain LoRA on, or, with an activated LoRA (active from the
  planner turn only), as the bare base model;
* ``llama.cpp default``: temperature 0.8, top_p 0.95, top_k 40, no repetition penalty;
* ``ChatLlamaCpp default``: LangChain's ``ChatLlamaCpp`` defaults (the same with ``repeat_penalty`` 1.1);
* ``random``: a configuration drawn uniformly from the search space per input;
* ``greedy``: temperature 0;
* ``best static``: per task, the fixed configuration that scores best on the dev split, among the search's
  ``static_candidates`` best survivors (by their mean over the labelled inputs) and greedy (or every configuration
  of the space without a search): the best any single setting does on that task.

Means come with 95% percentile bootstrap intervals (inputs resampled within each task; the suite mean is the mean
of the task means). Differences to HAG are paired: each replicate resamples the same inputs for every method.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hag_chain import DecodingConfig, SearchSpace
from hag_training.baselines import FIXED_CONFIGS, GREEDY
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.report import interval_bars, interval_cell, percentile_interval, pyplot, save_figure
from hag_training.scoring import Scorer
from hag_training.tasks import get_task

__all__ = [
    "HAG",
    "METHODS",
    "EvalConfig",
    "EvalReport",
    "evaluate_adapter",
    "markdown_table",
    "run_eval",
    "summarize",
    "write_report",
]

HAG, BEST_STATIC = "HAG", "best static"
METHODS = (HAG, "llama.cpp default", "ChatLlamaCpp default", "random", "greedy", BEST_STATIC)


@dataclass
class EvalConfig:
    """Settings of one evaluation (recorded in its output)."""

    tasks: tuple[str, ...] = field(metadata={"help": "Task names, comma-separated on the command line."})
    n_test: int = field(
        default=32, metadata={"help": "Test inputs per task (the first ones of the seeded test split)."}
    )
    n_dev: int = field(
        default=16, metadata={"help": "Dev inputs per task on which the best static configuration is chosen."}
    )
    static_candidates: int = field(
        default=3,
        metadata={"help": "How many of the search's stage-1 survivors compete for best static (plus greedy)."},
    )
    k: int = field(default=4, metadata={"help": "Replies per method and input, scored as a group."})
    seed: int = field(default=0, metadata={"help": "Seed of the split and of the first reply."})
    bootstrap: int = field(default=2000, metadata={"help": "Bootstrap replicates of each interval."})

    def __post_init__(self) -> None:
        if not self.tasks or min(self.n_test, self.n_dev, self.static_candidates, self.k) < 1:
            raise ValueError(f"tasks must be non-empty and n_test, n_dev, static_candidates, k >= 1, got {self}")


@dataclass
class EvalReport:
    """Per-input results and their summary."""

    rows: list[dict[str, Any]]
    """One per (task, method, input): ``task``, ``method``, ``example_id``, ``line`` (the configuration), ``score``."""
    static: dict[str, dict[str, Any]]
    """Per task: the best static configuration and every candidate's dev score."""
    config: EvalConfig


def run_eval(
    config: EvalConfig,
    *,
    choose: Callable[[list[dict[str, str]]], DecodingConfig],
    hag_engine: CachedEngine,
    base_engine: CachedEngine,
    space: SearchSpace,
    stage1: dict[str, Any] | None = None,
    progress: Callable[[int], object] | None = None,
) -> EvalReport:
    """Score every method on every task.

    Args:
        config: What to evaluate.
        choose: The HAG planner: messages to the configuration it answers them with.
        hag_engine: Answers HAG's inputs (with a plain LoRA on; for an activated LoRA, the base model alone).
        base_engine: Answers every other method's inputs (the base model alone).
        space: The search space ``random`` draws from.
        stage1: The search's ``stage1.json`` (candidates for best static); ``None``: every configuration of ``space``.
        progress: Called with the number of generations after each batch.

    """
    rows: list[dict[str, Any]] = []
    static: dict[str, dict[str, Any]] = {}
    for name in config.tasks:
        task = get_task(name)
        split = task.split(config.seed)
        dev, test = split.dev[: config.n_dev], split.test[: config.n_test]
        base = Scorer(task, base_engine, k=config.k, seed=config.seed, progress=progress)
        candidates = _static_candidates(name, space, stage1, config.static_candidates)
        dev_means = {}
        for cfg in candidates:
            scores = [g.score for g in base.score([(ex, cfg) for ex in dev])]
            dev_means[space.format(cfg) if cfg != GREEDY else "greedy"] = float(np.mean(scores))
        best = max(range(len(candidates)), key=lambda i: (list(dev_means.values())[i], -i))
        static[name] = {"line": list(dev_means)[best], "dev_scores": dev_means}
        fixed = {**FIXED_CONFIGS, BEST_STATIC: candidates[best]}
        rng, grid = random.Random(f"{config.seed}:{name}"), list(space)
        plans = {HAG: [choose(task.messages(ex)) for ex in test], "random": [rng.choice(grid) for _ in test]}
        hag = Scorer(task, hag_engine, k=config.k, seed=config.seed, progress=progress)
        for method in METHODS:
            configs = plans.get(method) or [fixed[method]] * len(test)
            scorer = hag if method == HAG else base
            scores = [g.score for g in scorer.score(list(zip(test, configs, strict=True)))]
            for ex, cfg, score in zip(test, configs, scores, strict=True):
                rows.append(
                    {
                        "task": name,
                        "family": task.family,
                        "method": method,
                        "example_id": ex.id,
                        "config": {k: getattr(cfg, k) for k in space.knobs},
                        "score": score,
                    }
                )
    return EvalReport(rows=rows, static=static, config=config)


def evaluate_adapter(
    config: EvalConfig,
    adapter_path: str | Path,
    cache: GenerationCache,
    *,
    model_path: str | None = None,
    stage1: dict[str, Any] | None = None,
    progress: Callable[[int], object] | None = None,
) -> EvalReport:
    """:func:`run_eval` for a GGUF LoRA adapter, run as ``ChatHAG`` runs it (the planner's choice, then the answer).

    ``model_path`` is the base GGUF; ``None`` means the embedded SmolLM2.
    """
    from hag_chain import ChatHAG
    from hag_training.generation.local import local_engine

    planner = ChatHAG(model_path=model_path, adapter_path=str(adapter_path))
    return run_eval(
        config,
        choose=lambda messages: planner.choose_config(messages).config,
        hag_engine=CachedEngine(local_engine(model_path=model_path, adapter_path=str(adapter_path)), cache),
        base_engine=CachedEngine(local_engine(model_path=model_path), cache),
        space=planner.hag_profile().search_space,
        stage1=stage1,
        progress=progress,
    )


def _static_candidates(task: str, space: SearchSpace, stage1: dict | None, k: int) -> list[DecodingConfig]:
    """The ``k`` best stage-1 survivors, and greedy; greedy twins (same penalty) count once."""
    if stage1 is None or task not in stage1:
        return [*space]
    out: list[DecodingConfig] = []
    seen: set[str] = set()
    for cfg in [*(space.parse(line) for line in stage1[task]["survivors"]), GREEDY]:
        key = f"greedy:{cfg.repetition_penalty}" if cfg.temperature == 0 else space.format(cfg)
        if key not in seen and (len(out) < k or cfg is GREEDY):
            seen.add(key)
            out.append(cfg)
    return out


def summarize(report: EvalReport) -> dict[str, Any]:
    """Means, 95% bootstrap intervals and paired differences to HAG, per task and over the suite."""
    tasks = list(report.config.tasks)
    scores = {
        (t, m): np.array([r["score"] for r in report.rows if r["task"] == t and r["method"] == m])
        for t in tasks
        for m in METHODS
    }
    rng = np.random.default_rng(report.config.seed)
    n_boot = report.config.bootstrap
    # replicate task means: [task][method] -> (n_boot,) with the same resampled inputs for every method
    reps: dict[str, dict[str, np.ndarray]] = {}
    for t in tasks:
        n = len(scores[(t, HAG)])
        idx = rng.integers(0, n, size=(n_boot, n))
        reps[t] = {m: scores[(t, m)][idx].mean(axis=1) for m in METHODS}
    suite = {m: np.mean([reps[t][m] for t in tasks], axis=0) for m in METHODS}

    out: dict[str, Any] = {"tasks": {}, "suite": {}, "hag_minus": {}}
    for t in tasks:
        out["tasks"][t] = {
            m: {"mean": round(float(scores[(t, m)].mean()), 4), "ci95": percentile_interval(reps[t][m])}
            for m in METHODS
        }
    for m in METHODS:
        mean = float(np.mean([scores[(t, m)].mean() for t in tasks]))
        out["suite"][m] = {"mean": round(mean, 4), "ci95": percentile_interval(suite[m])}
        if m != HAG:
            diff = out["suite"][HAG]["mean"] - mean  # HAG comes first in METHODS
            out["hag_minus"][m] = {"mean": round(diff, 4), "ci95": percentile_interval(suite[HAG] - suite[m])}
    out["choices"] = _choices(report)
    out["static"] = report.static
    out["config"] = asdict(report.config)
    return out


def _choices(report: EvalReport) -> dict[str, Any]:
    """What HAG chose per task: the most frequent configurations and each knob's mean."""
    out = {}
    for t in report.config.tasks:
        configs = [r["config"] for r in report.rows if r["task"] == t and r["method"] == HAG]
        lines = Counter(json.dumps(c, separators=(",", ":")) for c in configs)
        out[t] = {
            "top": lines.most_common(3),
            "distinct": len(lines),
            "mean": {k: round(float(np.mean([c[k] for c in configs])), 3) for k in configs[0]},
        }
    return out


def markdown_table(summary: dict[str, Any]) -> str:
    """The results as markdown: methods by task with intervals, the paired differences, and HAG's choices."""
    tasks = list(summary["tasks"])
    lines = [
        "| method | " + " | ".join(tasks) + " | suite mean | HAG − method (suite) |",
        "|---|" + "---|" * (len(tasks) + 2),
    ]
    for m in METHODS:
        delta = interval_cell(summary["hag_minus"][m], sign=True) if m in summary["hag_minus"] else "—"
        row = [f"**{m}**" if m == HAG else m, *(interval_cell(summary["tasks"][t][m]) for t in tasks)]
        lines.append("| " + " | ".join([*row, interval_cell(summary["suite"][m]), delta]) + " |")
    lines += [
        "",
        "| task | best static (dev) | HAG's most frequent choices | mean temperature | distinct |",
        "|---|---|---|---|---|",
    ]
    for t in tasks:
        ch = summary["choices"][t]
        top = "; ".join(f"`{line}` ({count})" for line, count in ch["top"])
        lines.append(
            f"| {t} | `{summary['static'][t]['line']}` | {top} | {ch['mean']['temperature']} | {ch['distinct']} |"
        )
    return "\n".join(lines) + "\n"


def plot(report: EvalReport, summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``scores.png`` (mean score per task and method, with intervals) and ``configs.png`` (HAG's choices)."""
    plt = pyplot()
    out_dir = Path(out_dir)
    tasks = [*summary["tasks"], "suite mean"]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    series = {m: [summary["tasks"][t][m] for t in tasks[:-1]] + [summary["suite"][m]] for m in METHODS}
    interval_bars(ax, tasks, series)
    ax.set_ylabel("mean score (95% bootstrap CI)")
    ax.set_title("Test-split scores by decoding method")
    ax.legend(ncol=3, fontsize=8)
    scores_png = save_figure(fig, out_dir / "scores.png")

    knobs = list(report.rows[0]["config"])
    fig, axes = plt.subplots(1, len(knobs), figsize=(3.2 * len(knobs), 4.2), squeeze=False)
    for ax, knob in zip(axes[0], knobs):
        values = sorted({r["config"][knob] for r in report.rows if r["method"] in (HAG, "random")})
        bottom = np.zeros(len(tasks) - 1)
        for v in values:
            share = np.array(
                [
                    np.mean([r["config"][knob] == v for r in report.rows if r["task"] == t and r["method"] == HAG])
                    for t in tasks[:-1]
                ]
            )
            ax.bar(tasks[:-1], share, bottom=bottom, label=str(v))
            bottom += share
        ax.set_title(knob, pad=18)
        ax.tick_params(axis="x", rotation=60)
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    axes[0][0].set_ylabel("share of HAG's choices")
    fig.suptitle("Configurations HAG chose per task")
    return [scores_png, save_figure(fig, out_dir / "configs.png")]


def write_report(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.jsonl``, ``summary.json``, ``results.md`` and the two plots under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for row in report.rows:
            f.write(json.dumps(row) + "\n")
    summary = summarize(report)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(summary))
    scores_png, configs_png = plot(report, summary, out)
    return {"table": out / "results.md", "summary": out / "summary.json", "scores": scores_png, "configs": configs_png}
