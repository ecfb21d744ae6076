"""The evaluation's statistics and report, on constructed per-input results (no generation needed)."""

from __future__ import annotations

import pytest
from hag_training.evaluate import HAG, METHODS, EvalConfig, EvalReport, markdown_table, summarize

pytestmark = pytest.mark.unit

CONFIG = {"temperature": 0.0, "top_p": 1.0, "top_k": 10, "repetition_penalty": 1.0}


def _report(score_of) -> EvalReport:
    config = EvalConfig(tasks=("a", "b"), n_test=20, bootstrap=500)
    rows = [
        {"task": t, "method": m, "example_id": str(i), "config": CONFIG, "score": score_of(t, m, i)}
        for t in config.tasks
        for m in METHODS
        for i in range(config.n_test)
    ]
    static = {t: {"line": "greedy", "dev_scores": {"greedy": 0.5}} for t in config.tasks}
    return EvalReport(rows=rows, static=static, config=config)


def test_paired_difference_is_exact_when_hag_always_wins():
    summary = summarize(_report(lambda t, m, i: 1.0 if m == HAG else 0.0))
    assert summary["suite"][HAG] == {"mean": 1.0, "ci95": [1.0, 1.0]}
    for m in METHODS[1:]:
        assert summary["hag_minus"][m] == {"mean": 1.0, "ci95": [1.0, 1.0]}


def test_intervals_cover_the_mean_and_identical_methods_differ_by_zero():
    summary = summarize(_report(lambda t, m, i: float((i * 7 + len(t)) % 3 == 0)))
    for m in METHODS:
        lo, hi = summary["suite"][m]["ci95"]
        assert lo < summary["suite"][m]["mean"] < hi
    assert summary["hag_minus"]["greedy"] == {"mean": 0.0, "ci95": [0.0, 0.0]}


def test_suite_mean_is_the_mean_of_task_means():
    summary = summarize(_report(lambda t, m, i: 1.0 if t == "a" else 0.0))
    assert summary["tasks"]["a"][HAG]["mean"] == 1.0 and summary["tasks"]["b"][HAG]["mean"] == 0.0
    assert summary["suite"][HAG]["mean"] == pytest.approx(0.5)


def test_markdown_table_lists_every_method_and_task():
    table = markdown_table(summarize(_report(lambda t, m, i: 0.5)))
    assert table.count("\n| ") >= len(METHODS) + 2
    assert "| **HAG** |" in table and "| best static |" in table and "| a |" in table
    assert "0.500 [0.500, 0.500]" in table and "+0.000 [+0.000, +0.000]" in table
