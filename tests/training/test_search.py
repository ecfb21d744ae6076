"""The two-stage search end to end on the real SmolLM2 GGUF, with the persistent generation cache."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hag_training.cli import main
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.generation.llama import LlamaCppEngine
from hag_training.generation.request import GenerationRequest
from hag_training.labelling import choose_labels
from hag_training.labels import Label, write_outputs
from hag_training.scoring import BudgetExhausted, GroupScore
from hag_training.search import SearchConfig, halving_rungs, run_search

from ..conftest import TINY_SPACE


class CountingEngine:
    """The real llama.cpp engine, recording which requests it had to generate."""

    def __init__(self) -> None:
        self.inner = LlamaCppEngine()
        self.requests = []

    @property
    def engine_id(self) -> str:
        return self.inner.engine_id

    def generate(self, requests, on_reply=None):
        self.requests.extend(requests)
        return self.inner.generate(requests, on_reply)


@pytest.mark.unit
def test_every_rung_of_the_race_sees_new_probes():
    # The default grid's 26 arms on 8 probes: halved on 2, 3, 4 and 5 probes, the 3 survivors ranked on all 8
    # (geometric halving alone would halve twice on one probe: 1, 1, 2, 4, 8).
    assert halving_rungs(26, 8, 3) == [(26, 2), (13, 3), (7, 4), (4, 5), (3, 8)]
    assert halving_rungs(26, 32, 3) == [(26, 2), (13, 4), (7, 8), (4, 16), (3, 32)]
    assert halving_rungs(26, 1, 3)[-1] == (3, 1) and all(seen == 1 for _, seen in halving_rungs(26, 1, 3))


def test_search_races_the_grid_and_labels_on_expected_scores(tmp_path, tiny_config):
    from datasets import load_from_disk  # the training extra, which `make unit` leaves out

    engine = CachedEngine(CountingEngine(), GenerationCache(tmp_path / "cache.sqlite"))
    result = run_search(tiny_config, engine)
    assert len(result.records) == 2
    summary = result.stage1["coinflip"]
    # The two greedy configurations (top_k 10 and 50) are twins: one arm, the one closer to the default's top_k 40.
    arms = tiny_config.arms()
    assert [TINY_SPACE.format(c) for c in arms if c.temperature == 0] == ['{"temperature":0.0,"top_k":50}']
    assert '{"temperature":0.0,"top_k":50}' in summary["survivors"]  # every greedy arm goes on to stage 2
    # Successive halving: the first rung sees two probes at least, so here all three arms answer both.
    assert halving_rungs(3, 2, 2) == [(3, 2), (2, 2)]
    assert set(summary["scores"]) == {TINY_SPACE.format(c) for c in arms}
    assert sorted(summary["probes"].values()) == [2, 2, 2]
    assert len(summary["survivors"]) == 2 and all(summary["probes"][line] == 2 for line in summary["survivors"])
    assert summary["task_best"] in summary["survivors"]
    for rec in result.records:
        assert isinstance(rec, Label)
        assert set(rec.scores) == set(summary["survivors"]) and rec.label_line in rec.scores
        assert rec.rule in ("task best", "input evidence")
        assert rec.rule != "task best" or rec.label_line == summary["task_best"]
        assert rec.label_score == rec.scores[rec.label_line]
        assert rec.messages[-1]["role"] == "user" and rec.label_answer
        assert json.loads(rec.provenance)["engine"].startswith("llama.cpp:SmolLM2")
        assert json.loads(rec.provenance)["search"]["k"] == 2
    out = write_outputs(result, tmp_path / "out")
    assert [Label.from_dict(json.loads(line)) for line in (out / "labels.jsonl").read_text().splitlines()] == (
        result.records
    )
    dataset = load_from_disk(str(out / "dataset"))
    assert dataset.num_rows == 2 and Label.from_dict(dataset[0]) == result.records[0]
    # k replies per (configuration, input): sampled ones with k seeds; greedy ones, whatever the seed or top_k,
    # share one generation.
    requests = engine.engine.requests
    assert {r.seed for r in requests if r.config.temperature > 0} == {0, 1}
    greedy_keys = [r.key("x") for r in requests if r.config.temperature == 0]
    assert len(set(greedy_keys)) == len(greedy_keys)
    assert len(requests) <= tiny_config.estimated_generations()


def _group(scores, greedy=False):
    return GroupScore(sum(scores) / len(scores), tuple(scores), tuple(map(str, scores)), greedy=greedy)


@pytest.mark.unit
def test_labels_shrink_to_the_task_best_unless_an_input_clearly_earns_another():
    def labels(table, z=1.0):
        return choose_labels(table, "greedy", z=z, tie_key=len)

    # Greedy is the task's best: right on half the inputs, wrong on the rest. A warm configuration gets most
    # inputs greedy gets, and on one input greedy misses it is right every time: that input earns it, nothing else.
    greedy = [_group([1.0], True)] * 4 + [_group([0.0], True)] * 4
    warm = [_group([1.0, 1.0, 1.0, 0.0])] * 4 + [_group([1.0] * 4)] + [_group([0.0] * 4)] * 3
    chosen = labels({"greedy": greedy, "warm": warm})
    assert chosen == [("greedy", False)] * 4 + [("warm", True)] + [("greedy", False)] * 3
    # Where the gains vary no more than noise would (around a task-wide loss), no input earns a label.
    noise = [_group([1.0, 0.0, 0.0, 0.0]), _group([1.0, 1.0, 0.0, 0.0])] * 4
    assert labels({"greedy": [_group([0.5], True)] * 8, "warm": noise}, z=0.0) == [("greedy", False)] * 8
    # One lucky reply in four on an input greedy misses is weak evidence: shrunk, it wins only without a margin.
    lucky = warm[:5] + [_group([1.0, 0.0, 0.0, 0.0])] + warm[6:]
    assert labels({"greedy": greedy, "warm": lucky}, z=1.0)[5] == ("greedy", False)
    assert labels({"greedy": greedy, "warm": lucky}, z=0.0)[5] == ("warm", True)
    # Two greedy configurations are exact: one wins the input it is better on, whatever z.
    other = [_group([1.0], True)] * 3 + [_group([0.0], True)] * 4 + [_group([1.0], True)]
    assert labels({"greedy": greedy, "penalty": other}, z=3.0) == [("greedy", False)] * 7 + [("penalty", True)]
    # Two configurations earn one input: the higher estimate wins; equal ones go to the smaller tie key.
    both = labels({"greedy": greedy, "warm": warm, "hot": warm})
    assert both[4] == ("hot", True)  # len("hot") < len("warm")
    # A worse configuration never takes a label.
    worse = [_group([0.0] * 4)] * 8
    assert labels({"greedy": greedy, "cold": worse}, z=0.0) == [("greedy", False)] * 8


def test_repeated_search_generates_nothing(tmp_path, tiny_config):
    cache = GenerationCache(tmp_path / "cache.sqlite")
    first = run_search(tiny_config, CachedEngine(CountingEngine(), cache))
    again = CachedEngine(CountingEngine(), cache)
    second = run_search(tiny_config, again)
    assert first.generated > 0 and again.generated == 0 and again.engine.requests == []
    assert [r.label_line for r in first.records] == [r.label_line for r in second.records]


def test_budget_stops_and_resumes_without_regenerating(tmp_path, tiny_config):
    cache = GenerationCache(tmp_path / "cache.sqlite")
    with pytest.raises(BudgetExhausted):
        run_search(tiny_config, CachedEngine(CountingEngine(), cache, budget=3))
    assert 0 < len(cache) <= 3
    before = len(cache)
    resumed = CachedEngine(CountingEngine(), cache)
    run_search(tiny_config, resumed)
    assert len(cache) == before + resumed.generated


def test_killed_search_resumes_and_repeats_no_generation(tmp_path):
    cache_path = tmp_path / "cache.sqlite"
    space = json.dumps({k: list(v) for k, v in TINY_SPACE.values.items()})
    cmd = [
        sys.executable,
        "-m",
        "hag_training.cli",
        "search",
        "--tasks",
        "coinflip",
        "--n-probe",
        "2",
        "--n-train",
        "6",
        "--space",
        space,
        "--cache",
        str(cache_path),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if cache_path.exists() and len(GenerationCache(cache_path)) >= 4:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the search finished before it could be killed; make it larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    cache = GenerationCache(cache_path)
    cached_before = {row[0] for row in cache._db.execute("SELECT key FROM generations")}
    assert len(cached_before) >= 4

    # Resume through the Python API with a counting engine, to see exactly what had to be generated.
    counting = CountingEngine()
    config = SearchConfig(tasks=("coinflip",), n_probe=2, n_train=6, space=TINY_SPACE)
    resumed = CachedEngine(counting, cache)
    run_search(config, resumed)
    regenerated = {hashlib.sha256(r.key(counting.engine_id).encode()).hexdigest() for r in counting.requests}
    assert not regenerated & cached_before
    assert resumed.generated == len(regenerated) > 0
    assert main(cmd[3:]) == 0  # the same command now completes from the cache alone
    assert (tmp_path / "out" / "labels.jsonl").exists()


@pytest.mark.unit
def test_generation_request_key_ignores_truncation_only_when_greedy():
    from hag_chain import DecodingConfig

    msgs = [{"role": "user", "content": "hi"}]
    g1 = GenerationRequest.build(msgs, DecodingConfig(temperature=0.0, top_k=10), 0, 8)
    g2 = GenerationRequest.build(msgs, DecodingConfig(temperature=0.0, top_k=50), 0, 8)
    s1 = GenerationRequest.build(msgs, DecodingConfig(temperature=0.7, top_k=10), 0, 8)
    s2 = GenerationRequest.build(msgs, DecodingConfig(temperature=0.7, top_k=50), 0, 8)
    assert g1.key("e") == g2.key("e")
    assert s1.key("e") != s2.key("e")
    assert g1.key("e") == GenerationRequest.build(msgs, DecodingConfig(temperature=0.0), 1, 8).key("e")
