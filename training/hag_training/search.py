"""The two-stage search (prune, then greedy) that labels task inputs with good decoding configurations.

Stage 1, per task: every configuration of the search space, and the default configuration, answers the same
``n_probe`` training inputs; configurations whose mean score is below the default's are pruned (if none reaches
it, the single best survives).

Stage 2, per labelled training input: start from the stage-1 best configuration; for each knob in the space's
order (temperature, top_p, top_k, repetition_penalty), try every surviving configuration that differs from the
current one in that knob only, and move to the best. Each configuration is generated ``repeats`` times (seeds
``seed .. seed+repeats-1``) and scored by its mean. The distance to the default is the sum over knobs of the
distance normalised by the knob's range on the grid. Stage 2 stops as
soon as the current configuration scores 1 (the maximum), since nothing can beat it. The label is the best
configuration found; every score is kept, along with the default configuration's score.

Ties. In stage 1, equal probe means go to the lower temperature (a sampled configuration's score is partly the luck
of one draw; a greedy one's is exact for those probes), then to the configuration closer to the default. In stage 2 a
configuration must score strictly better than the current one to replace it (a tie on one input is no evidence
against the configuration that did best on the probes); other ties go to the lower temperature, then closer to the
default.

At temperature 0 llama.cpp decodes greedily and ignores top_p, top_k, min_p and typical_p (the knobs
``hag_chain.KNOBS`` marks ``greedy_irrelevant``), so such requests share one cache entry: the search never pays
twice for the same greedy generation.
"""

from __future__ import annotations

import json
import platform
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hag_chain import DEFAULT_PROMPT_VERSION, DEFAULT_SEARCH_SPACE, DecodingConfig, SearchSpace
from hag_training.cache import CachedEngine
from hag_training.engines import GenerationRequest
from hag_training.tasks import Example, Task, get_task

__all__ = [
    "FAMILY_MAX_TOKENS",
    "LLAMA_CPP_DEFAULT",
    "BudgetExhausted",
    "SearchConfig",
    "SearchResult",
    "answer_tokens",
    "run_search",
    "write_outputs",
]

#: Answer length per task family: enough for a worked answer, no more (generation time is the search's cost).
FAMILY_MAX_TOKENS = {"mathematics": 160, "reasoning": 48, "creativity": 64, "translation": 64, "code": 192}
#: llama.cpp's own sampling defaults: the baseline every configuration must beat in stage 1.
LLAMA_CPP_DEFAULT = DecodingConfig(temperature=0.8, top_p=0.95, top_k=40, repetition_penalty=1.0)


def answer_tokens(task: Task) -> int:
    """The answer length a task is generated with: its own ``max_tokens``, else its family's."""
    return getattr(task, "max_tokens", FAMILY_MAX_TOKENS[task.family])


class BudgetExhausted(Exception):
    """The ``budget`` of new generations is spent; everything generated so far is cached."""


@dataclass
class SearchConfig:
    """Settings of one search run (all recorded in the output's provenance)."""

    tasks: tuple[str, ...] = ("gsm8k", "arc_easy", "commonsense_qa", "pig_latin", "common_gen")
    """Task names from ``hag_training.tasks.TASKS``. The default covers mathematics, multiple choice and creative
    writing; CoinFlip is left out because SmolLM2-135M gives the same answer to every question (no signal)."""
    n_probe: int = 5
    """Training inputs per task that every configuration answers in stage 1 (the paper's n = 5)."""
    n_train: int = 16
    """Training inputs per task labelled in stage 2 (disjoint from the probes)."""
    repeats: int = 1
    """Generations per (configuration, input), with consecutive seeds."""
    seed: int = 0
    """Seed of the split, the input order and the first generation."""
    space: SearchSpace = field(default_factory=lambda: DEFAULT_SEARCH_SPACE)
    default: DecodingConfig = field(default_factory=lambda: LLAMA_CPP_DEFAULT)

    def __post_init__(self) -> None:
        if self.n_probe < 1 or self.n_train < 0 or self.repeats < 1:
            raise ValueError(f"n_probe and repeats must be >= 1 and n_train >= 0, got {self}")

    def estimated_generations(self) -> int:
        """Upper bound on generations (before cache hits and greedy deduplication)."""
        per_input = 2 + sum(len(v) - 1 for v in self.space.values.values())
        per_task = (self.space.size + 1) * self.n_probe + self.n_train * per_input
        return per_task * self.repeats * len(self.tasks)


@dataclass
class SearchResult:
    """Labelled records plus what stage 1 found per task."""

    records: list[dict[str, Any]]
    stage1: dict[str, dict[str, Any]]
    generated: int
    cache_hits: int


def run_search(
    config: SearchConfig,
    engine: CachedEngine,
    *,
    progress: Callable[[int], None] | None = None,
) -> SearchResult:
    """Run both stages on every task. ``progress(n)`` is called after each batch of ``n`` requests.

    Raises:
        BudgetExhausted: ``engine``'s budget ran out; rerunning with a larger budget resumes from the cache.

    """
    records: list[dict[str, Any]] = []
    stage1: dict[str, dict[str, Any]] = {}
    provenance = _provenance(config, engine)
    for name in config.tasks:
        task = get_task(name)
        train = task.split(config.seed).train
        random.Random(f"{config.seed}:{name}").shuffle(train)
        probes, inputs = train[: config.n_probe], train[config.n_probe : config.n_probe + config.n_train]
        scorer = _Scorer(task, config, engine, progress)
        survivors, summary = _stage1(scorer, probes, config)
        stage1[name] = summary
        for example in inputs:
            records.append(_stage2(scorer, example, survivors, config) | {"provenance": provenance})
    return SearchResult(records, stage1, engine.generated, engine.hits)


class _Scorer:
    """Mean score of a configuration on examples of one task, through the cached engine."""

    def __init__(self, task: Task, config: SearchConfig, engine: CachedEngine, progress) -> None:
        self.task, self.config, self.engine, self.progress = task, config, engine, progress
        self.max_tokens = answer_tokens(task)
        self._answers: dict[tuple[str, str], str] = {}

    def answer(self, cfg: DecodingConfig, example: Example) -> str:
        """The (first) answer generated for ``example`` under ``cfg``."""
        return self._answers[(cfg.model_dump_json(), example.id)]

    def scores(self, configs: Sequence[DecodingConfig], example: Example) -> list[float]:
        requests = [
            GenerationRequest.build(self.task.messages(example), cfg, self.config.seed + r, self.max_tokens)
            for cfg in configs
            for r in range(self.config.repeats)
        ]
        texts = self.engine.generate(requests)
        if texts is None:
            raise BudgetExhausted(f"budget of {self.engine.budget} new generations spent")
        if self.progress:
            self.progress(len(requests))
        n = self.config.repeats
        for i, cfg in enumerate(configs):
            self._answers[(cfg.model_dump_json(), example.id)] = texts[i * n]
        per = [self.task.score(example, t) for t in texts]
        return [sum(per[i * n : (i + 1) * n]) / n for i in range(len(configs))]


def _stage1(scorer: _Scorer, probes: list[Example], config: SearchConfig):
    candidates = [config.default, *config.space]
    totals = [0.0] * len(candidates)
    for example in probes:
        for i, s in enumerate(scorer.scores(candidates, example)):
            totals[i] += s
    means = [t / len(probes) for t in totals]
    default_mean, grid = means[0], list(zip(candidates[1:], means[1:], strict=True))
    survivors = [(cfg, m) for cfg, m in grid if m >= default_mean] or [max(grid, key=lambda cm: cm[1])]
    ranked = [cfg for cfg, _ in sorted(survivors, key=lambda cm: (-cm[1], cm[0].temperature, _distance(cm[0], config)))]
    summary = {
        "default_score": default_mean,
        "scores": {config.space.format(cfg): m for cfg, m in grid},
        "survivors": [config.space.format(c) for c in ranked],
    }
    return ranked, summary


def _stage2(scorer: _Scorer, example: Example, survivors: list[DecodingConfig], config: SearchConfig):
    space = config.space
    tried: dict[str, float] = {}

    def evaluate(cfgs: list[DecodingConfig]) -> None:
        new = [c for c in cfgs if space.format(c) not in tried]
        if new:
            for cfg, s in zip(new, scorer.scores(new, example), strict=True):
                tried[space.format(cfg)] = s

    default_score = scorer.scores([config.default], example)[0]
    current = survivors[0]
    evaluate([current])
    for knob in space.knobs:
        if tried[space.format(current)] >= 1.0:  # a perfect score cannot be beaten: stop paying for generations
            break
        line = [c for c in survivors if all(getattr(c, k) == getattr(current, k) for k in space.knobs if k != knob)]
        evaluate(line)
        incumbent = current
        current = max(
            line, key=lambda c: (tried[space.format(c)], c == incumbent, -c.temperature, -_distance(c, config))
        )
    return {
        "task": scorer.task.name,
        "family": scorer.task.family,
        "example_id": example.id,
        "messages": scorer.task.messages(example),
        "label": {k: getattr(current, k) for k in space.knobs},
        "label_line": space.format(current),
        "label_score": tried[space.format(current)],
        "label_answer": scorer.answer(current, example),
        "scores": tried,
        "default_score": default_score,
    }


def _distance(cfg: DecodingConfig, config: SearchConfig) -> float:
    total = 0.0
    for knob, values in config.space.values.items():
        span = (max(values) - min(values)) or 1.0
        total += abs(getattr(cfg, knob) - getattr(config.default, knob)) / span
    return total


def _provenance(config: SearchConfig, engine: CachedEngine) -> str:
    from importlib.metadata import version

    return json.dumps(
        {
            "engine": engine.engine.engine_id,
            "search": {k: v for k, v in asdict(config).items() if k not in ("space", "default")},
            "space": json.loads(config.space.to_json()),
            "default": config.default.model_dump(),
            "prompt_version": DEFAULT_PROMPT_VERSION,
            "versions": {p: version(p) for p in ("hag-chain", "llama-cpp-python")}
            | {"python": platform.python_version()},
        },
        sort_keys=True,
    )


def write_outputs(result: SearchResult, out_dir: str | Path) -> Path:
    """Write ``labels.jsonl``, ``stage1.json`` and a ``datasets`` dataset (``dataset/``) under ``out_dir``."""
    from datasets import Dataset

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.jsonl", "w", encoding="utf-8") as f:
        for rec in result.records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    (out / "stage1.json").write_text(json.dumps(result.stage1, indent=2) + "\n")
    rows = [rec | {"scores": json.dumps(rec["scores"]), "label": json.dumps(rec["label"])} for rec in result.records]
    Dataset.from_list(rows).save_to_disk(str(out / "dataset"))
    return out
