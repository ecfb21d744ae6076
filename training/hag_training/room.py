"""The room HAG has on each task: how much the decoding configuration moves a model's expected score.

Per task, on the first ``n_inputs`` inputs of a split (dev by default, so that composing the suite does not look at
the test inputs), every configuration of the search space and the three fixed baselines answer every input ``k``
times, scored as groups (:class:`~hag_training.scoring.Scorer`). Reported with 95% percentile bootstrap intervals
(inputs resampled): llama.cpp's default, ChatLlamaCpp's defaults, greedy decoding, and the best and the worst static
configuration of the grid. The best and worst are picked and measured on the same inputs, so their gap is an upper
bound on what choosing a fixed configuration can gain; ``spread`` is that gap's paired interval. A task is worth
tuning on when its best static configuration is above the task's floor (``Task.chance``: chance level, or 0) and
the spread's interval is above 0.

    hag-train room --out runs/room --tasks gsm8k,pig_latin --n-inputs 16 --k 4
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from hag_chain import DecodingConfig, SearchSpace
from hag_training.baselines import FIXED_CONFIGS
from hag_training.generation.cache import CachedEngine
from hag_training.report import interval_bars, interval_cell, percentile_interval, pyplot, save_figure
from hag_training.scoring import Scorer
from hag_training.tasks import get_task

__all__ = ["ROOM_METHODS", "RoomConfig", "RoomReport", "run_room", "write_room"]

ROOM_METHODS = (*FIXED_CONFIGS, "best static", "worst static")
SplitName = Literal["train", "dev", "test"]


@dataclass
class RoomConfig:
    """Settings of one room measurement (recorded in its output)."""

    tasks: tuple[str, ...] = field(metadata={"help": "Task names, comma-separated on the command line."})
    n_inputs: int = field(default=16, metadata={"help": "Inputs per task (the first ones of the seeded split)."})
    k: int = field(default=4, metadata={"help": "Replies per configuration and input, scored as a group."})
    split: SplitName = field(default="dev", metadata={"help": "The split the inputs come from."})
    seed: int = field(default=0, metadata={"help": "Seed of the split and of the first reply."})
    bootstrap: int = field(default=2000, metadata={"help": "Bootstrap replicates of each interval."})

    def __post_init__(self) -> None:
        if not self.tasks or self.n_inputs < 1 or self.k < 1:
            raise ValueError(f"tasks must be non-empty and n_inputs, k >= 1; got {self}")
        if self.split not in get_args(SplitName):
            raise ValueError(f"split must be {', '.join(get_args(SplitName))}; got {self.split!r}")


@dataclass
class RoomReport:
    """Per task: every configuration's group score on every input, and the summary rows."""

    config: RoomConfig
    scores: dict[str, dict[str, list[float]]]
    """Task -> configuration line (or a fixed method's name) -> group score per input."""
    summary: dict[str, dict[str, Any]]
    """Task -> ``family``, ``floor``, ``inputs``, one entry per :data:`ROOM_METHODS` (``line``, ``mean``, ``ci95``)
    and ``spread`` (best − worst static, ``mean`` and paired ``ci95``)."""


def run_room(
    config: RoomConfig,
    engine: CachedEngine,
    space: SearchSpace,
    *,
    progress: Callable[[int], object] | None = None,
) -> RoomReport:
    """Measure every task's room (see the module docstring)."""
    rng = np.random.default_rng(config.seed)
    scores: dict[str, dict[str, list[float]]] = {}
    summary: dict[str, dict[str, Any]] = {}
    for name in config.tasks:
        task = get_task(name)
        inputs = getattr(task.split(config.seed), config.split)[: config.n_inputs]
        if not inputs:
            raise ValueError(f"task {name!r} has no {config.split} inputs")
        scorer = Scorer(task, engine, k=config.k, seed=config.seed, progress=progress)
        configs: dict[str, DecodingConfig] = {**FIXED_CONFIGS, **{space.format(c): c for c in space}}
        table = {}
        for label, cfg in configs.items():
            table[label] = [g.score for g in scorer.score([(ex, cfg) for ex in inputs])]
        scores[name] = table
        grid = {line: np.mean(table[line]) for line in configs if line not in FIXED_CONFIGS}
        best, worst = max(grid, key=grid.__getitem__), min(grid, key=grid.__getitem__)
        idx = rng.integers(0, len(inputs), size=(config.bootstrap, len(inputs)))
        picked = {**{m: m for m in FIXED_CONFIGS}, "best static": best, "worst static": worst}
        row: dict[str, Any] = {"family": task.family, "floor": getattr(task, "chance", 0.0), "inputs": len(inputs)}
        for method, line in picked.items():
            values = np.asarray(table[line])
            row[method] = {
                "line": line,
                "mean": round(float(values.mean()), 4),
                "ci95": percentile_interval(values[idx].mean(axis=1)),
            }
        gap = np.asarray(table[best]) - np.asarray(table[worst])
        row["spread"] = {"mean": round(float(gap.mean()), 4), "ci95": percentile_interval(gap[idx].mean(axis=1))}
        summary[name] = row
    return RoomReport(config=config, scores=scores, summary=summary)


def markdown_table(report: RoomReport) -> str:
    """One row per task: floor, every method's mean with its interval, the best/worst lines and the spread."""
    head = ["task", "family", "floor", *ROOM_METHODS, "best − worst", "best static", "worst static"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for task, row in report.summary.items():
        cells = [task, row["family"], f"{row['floor']:.2f}", *(interval_cell(row[m]) for m in ROOM_METHODS)]
        cells += [interval_cell(row["spread"]), f"`{row['best static']['line']}`", f"`{row['worst static']['line']}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(report: RoomReport, path: str | Path) -> Path:
    """``room.png``: per task, each method's mean with its interval, and the floor."""
    tasks = list(report.summary)
    fig, ax = pyplot().subplots(figsize=(max(6.0, 1.6 * len(tasks) + 2), 4.5))
    series = {method: [report.summary[t][method] for t in tasks] for method in ROOM_METHODS}
    interval_bars(ax, tasks, series, rotation=20)
    for j, t in enumerate(tasks):
        floor = report.summary[t]["floor"]
        ax.hlines(floor, j - 0.45, j + 0.45, colors="black", linestyles="dotted", label="floor" if j == 0 else None)
    ax.set_ylabel(f"expected score over k={report.config.k} replies (95% CI)")
    ax.set_title(f"The room decoding leaves ({report.config.n_inputs} {report.config.split} inputs per task)")
    ax.legend(ncol=3, fontsize=8)
    return save_figure(fig, path)


def write_room(report: RoomReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``room.json`` (config, summary, every score), ``room.md`` and ``room.png`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {"config": asdict(report.config), "summary": report.summary, "scores": report.scores}
    (out / "room.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "room.md").write_text(markdown_table(report))
    return {"json": out / "room.json", "table": out / "room.md", "plot": plot(report, out / "room.png")}
