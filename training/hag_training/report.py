"""The statistics and plots the evaluation and the room report with: bootstrap intervals, tables, bar charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["interval_bars", "interval_cell", "percentile_interval", "pyplot", "save_figure"]


def percentile_interval(replicates: np.ndarray) -> list[float]:
    """The 95% percentile bootstrap interval of ``replicates`` (rounded to 4 places)."""
    return [round(float(np.percentile(replicates, 2.5)), 4), round(float(np.percentile(replicates, 97.5)), 4)]


def interval_cell(stat: Mapping[str, Any], sign: bool = False) -> str:
    """A ``{"mean", "ci95"}`` statistic as a table cell, ``mean [low, high]`` (with a sign for a difference)."""
    lo, hi = stat["ci95"]
    fmt = "{:+.3f}" if sign else "{:.3f}"
    return f"{fmt.format(stat['mean'])} [{fmt.format(lo)}, {fmt.format(hi)}]"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (imported on first use: the plots are the last step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def interval_bars(
    ax: Any, groups: Sequence[str], series: Mapping[str, Sequence[Mapping[str, Any]]], **xticks: Any
) -> None:
    """Grouped bars on ``ax``: per group, one bar per series, its mean with its 95% interval as error bars.

    ``series`` maps a label to one ``{"mean", "ci95"}`` statistic per group; ``xticks`` go to ``ax.set_xticks``.
    """
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    for i, (label, stats) in enumerate(series.items()):
        means = np.array([s["mean"] for s in stats])
        err = np.array([[s["mean"] - s["ci95"][0], s["ci95"][1] - s["mean"]] for s in stats]).T
        ax.bar(x + (i - (len(series) - 1) / 2) * width, means, width, yerr=err, capsize=2, label=label)
    ax.set_xticks(x, groups, **xticks)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (120 dpi) and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return Path(path)
