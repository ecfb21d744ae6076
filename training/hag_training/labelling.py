"""The labelling rule: which configuration each input is taught, from every survivor's group score on it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from hag_training.scoring import GroupScore

__all__ = ["choose_labels"]


def choose_labels(
    table: Mapping[str, Sequence[GroupScore]], best: str, *, z: float, tie_key: Callable[[str], Any]
) -> list[tuple[str, bool]]:
    """Each input's label: ``(line, earned)`` per input, from every configuration's group score on every input.

    ``table`` maps a configuration line to its group scores, one per input in a fixed order; ``best`` is the task's
    best configuration. Empirical Bayes on the paired gain over ``best``: for each other configuration, an input's
    observed gain ``d`` (its score minus ``best``'s) has sampling variance ``v`` (the two groups' squared standard
    errors; 0 where both are greedy) around the input's true gain, and the true gains vary over the task's inputs
    around their mean ``δ`` with a variance ``ω²`` estimated from the inputs themselves (the variance of ``d`` less
    the mean ``v``, at least 0). The input's gain is then estimated as ``δ + ω²/(ω² + v) · (d − δ)``: shrunk towards
    the task-wide gain, which is at most 0 since ``best`` has the best mean, by as much as its own evidence is noisy.
    A configuration earns the input when that estimate is above 0 by more than ``z`` posterior standard deviations;
    among those that do, the highest estimate wins (ties to the smaller ``tie_key``). ``earned`` tells whether the
    input's own evidence chose. An exact gain (both greedy) is taken as it is.
    """
    n = len(table[best])
    gains: dict[str, list[tuple[float, float]]] = {}  # line -> per input (posterior mean, posterior sd)
    for line, groups in table.items():
        if line == best:
            continue
        pairs = list(zip(groups, table[best], strict=True))
        d = [g.score - b.score for g, b in pairs]
        v = [g.stderr**2 + b.stderr**2 for g, b in pairs]
        delta = statistics.fmean(d)
        omega2 = max(0.0, statistics.variance(d) - statistics.fmean(v)) if n > 1 else 0.0
        gains[line] = [
            (di, 0.0)
            if vi == 0
            else (delta + omega2 / (omega2 + vi) * (di - delta), math.sqrt(omega2 * vi / (omega2 + vi)))
            for di, vi in zip(d, v, strict=True)
        ]

    def rank(line: str, i: int) -> tuple[float, Any]:
        return -gains[line][i][0], tie_key(line)

    out = []
    for i in range(n):
        earned = [line for line, g in gains.items() if g[i][0] > 0 and g[i][0] > z * g[i][1]]
        if earned:
            out.append((min(earned, key=partial(rank, i=i)), True))
        else:
            out.append((best, False))
    return out
