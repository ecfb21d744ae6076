"""The evaluation's statistics and report, on constructed per-input results (no generation needed)."""

from __future__ import annotations

import pytest
from hag_training.evaluate import BEST_SINGLE, HAG, METHODS, ORACLE, EvalConfig, EvalReport, markdown_table, summarize

pytestmark = pytest.mark.unit

CONFIG = {"temperature": 0.0, "top_p": 1.0, "top_k": 10, "repetition_penalty": 1.0}


def _report(score_of, n_test: int = 20) -> EvalReport:
    config = EvalConfig(tasks=("a", "b"), n_test=n_test, bootstrap=500)
    rows = [
        {
            "task": t,
            "method": m,
            "example_id": str(i),
            "phrasing": "p",
            "unseen": i % 2 == 1,
            "config": CONFIG,
            "score": score_of(t, m, i),
        }
        for t in config.tasks
        for m in METHODS
        for i in range(config.n_test)
    ]
    static = {
        "single": {"line": "greedy", "dev_scores": {"greedy": 0.5}},
        "per_task": {t: {"line": "greedy", "dev_scores": {"greedy": 0.5}} for t in config.tasks},
    }
    return EvalReport(rows=rows, static=static, config=config)


def test_paired_difference_is_exact_when_hag_always_wins():
    summary = summarize(_report(lambda t, m, i: 1.0 if m == HAG else 0.0))
    assert summary["stream"][HAG] == {"mean": 1.0, "ci95": [1.0, 1.0]}
    for m in METHODS[1:]:
        assert summary["hag_minus"][m] == {"mean": 1.0, "ci95": [1.0, 1.0]}


def test_intervals_cover_the_mean_and_identical_methods_differ_by_zero():
    summary = summarize(_report(lambda t, m, i: float((i * 7 + len(t)) % 3 == 0)))
    for m in METHODS:
        lo, hi = summary["stream"][m]["ci95"]
        assert lo < summary["stream"][m]["mean"] < hi
    assert summary["hag_minus"]["greedy"] == {"mean": 0.0, "ci95": [0.0, 0.0]}


def test_stream_mean_is_the_mean_over_inputs():
    summary = summarize(_report(lambda t, m, i: 1.0 if t == "a" else 0.0))
    assert summary["tasks"]["a"][HAG]["mean"] == 1.0 and summary["tasks"]["b"][HAG]["mean"] == 0.0
    assert summary["stream"][HAG]["mean"] == pytest.approx(0.5) and summary["inputs"] == 40


def test_room_share_and_unseen_phrasings():
    # HAG gains 1 over the best single fixed on seen inputs (even i) and nothing on unseen ones (odd i); the oracle
    # is 1 everywhere: HAG takes half the room.
    def score(t, m, i):
        return {HAG: 1.0 - i % 2, BEST_SINGLE: 0.0, ORACLE: 1.0}.get(m, 0.0)

    summary = summarize(_report(score))
    assert summary["room_share"]["mean"] == pytest.approx(0.5)
    lo, hi = summary["room_share"]["ci95"]
    assert lo < 0.5 < hi
    ph = summary["phrasings"]
    assert ph["seen"]["inputs"] == ph["unseen"]["inputs"] == 20
    assert ph["seen"]["hag_minus_best_single"] == {"mean": 1.0, "ci95": [1.0, 1.0]}
    assert ph["unseen"]["hag_minus_best_single"] == {"mean": 0.0, "ci95": [0.0, 0.0]}
    assert ph["unseen_minus_seen"] == {"mean": -1.0, "ci95": [-1.0, -1.0]}


def test_markdown_table_lists_every_method_and_task():
    table = markdown_table(summarize(_report(lambda t, m, i: 0.5)))
    assert "| **HAG** | 0.500 [0.500, 0.500] | — |" in table
    assert "| oracle (hindsight) |" in table and "| best single fixed |" in table and "| a | `greedy` |" in table
    assert "+0.000 [+0.000, +0.000]" in table and "| unseen − seen |" in table
    assert "Best single fixed (dev): `greedy`." in table
