"""The racing search that labels task inputs with good decoding configurations, on expected scores.

Every score is a *group score*: ``k`` replies of one configuration to one input (seeds ``seed .. seed+k-1``),
scored together by the task (:class:`~hag_training.scoring.Scorer`), so a sampled configuration is judged by what it
does on average, not by the luck of one draw.

Stage 1, per task: **successive halving** over the grid's *arms* on ``n_probe`` training inputs. An arm is a set of
greedy twins (configurations that decode greedily and differ only in knobs greedy decoding ignores, so they
generate the same text; the one closest to the default stands for them) or one sampled configuration: 26 arms on
the default 32-configuration grid, so that no survivor's place goes to a twin of another. Every arm answers
the first probes (two at least); the better half (``1/eta``) goes on to twice as many probes (one more at least),
and so on until ``survivors`` configurations remain, ranked on all probes. llama.cpp's default configuration
answers every probe as the reference. Successive halving rather than confidence bounds: with a handful of probes
and bounded, often 0/1 scores, confidence intervals overlap for nearly every pair, so a bound-based race drops
almost nothing until late, while halving spends a budget fixed in advance (the progress bar and ``--budget`` are
exact) and is the standard best-arm identification race (Karnin et al., ICML 2013; Jamieson & Talwalkar, AISTATS 2016).

Stage 2, per labelled training input: every survivor answers it. The task's best configuration is the
survivor with the best mean over the probes and all labelled inputs. An input's label is that configuration unless
the input's own evidence clearly favours another survivor: its group score is higher by more than ``evidence_z``
standard errors of the paired difference (one standard error by default, a one-sided test at 84%: chosen by
``bench/search_efficiency.py``, where 1.645 kept 91% of the exhaustive grid's fresh expected score and 1.0 kept 98%
for the same generations; on its current sample 1.0 keeps 87%, no worse than the other thresholds); greedy replies
have no error, sampled ones the error of their ``k`` replies,
:attr:`~hag_training.scoring.GroupScore.stderr`). This shrinks labels to the
task's configuration unless an input earns its own, so noise cannot pick a label; every score is kept in the record.

Ties go to the lower temperature (a greedy score is exact), then to the configuration closer to the default.
Greedy requests share a cache entry whatever their seed and greedy-irrelevant knobs (``hag_chain.KNOBS``), so the
search never pays twice for one greedy generation; an interrupted search resumes from the cache.
"""

from __future__ import annotations

import json
import math
import platform
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hag_chain import DEFAULT_PROMPT_VERSION, DEFAULT_SEARCH_SPACE, DecodingConfig, SearchSpace
from hag_training.cache import CachedEngine
from hag_training.engines import effective_knobs
from hag_training.scoring import BudgetExhausted, GroupScore, Scorer
from hag_training.tasks import Example, get_task

__all__ = [
    "LLAMA_CPP_DEFAULT",
    "BudgetExhausted",
    "Label",
    "SearchConfig",
    "SearchResult",
    "choose_label",
    "halving_rungs",
    "run_search",
    "write_outputs",
]

#: llama.cpp's own sampling defaults: the reference every configuration is compared with.
LLAMA_CPP_DEFAULT = DecodingConfig(temperature=0.8, top_p=0.95, top_k=40, repetition_penalty=1.0)


@dataclass
class SearchConfig:
    """Settings of one search run (all recorded in the output's provenance)."""

    tasks: tuple[str, ...] = ("arithmetic", "translation", "common_gen", "haiku")
    """Task names from ``hag_training.tasks.TASKS``. The default suite is composed from ``hag-train room`` on the
    default model (docs/room/room.md): the tasks on which it is above its floor and decoding moves the expected
    score; every reasoning and code task is at its floor for a 135M model, so those families sit out."""
    n_probe: int = 8
    """Training inputs per task on which stage 1 races the grid."""
    n_train: int = 16
    """Training inputs per task labelled in stage 2 (disjoint from the probes)."""
    k: int = 4
    """Replies per (configuration, input), with consecutive seeds, scored as a group."""
    survivors: int = 3
    """Configurations that leave stage 1 (fewer if the grid is smaller); each answers every labelled input."""
    eta: int = 2
    """Successive halving keeps ``1/eta`` of the configurations per rung."""
    evidence_z: float = 1.0
    """Standard errors by which an input's own best must beat the task's best to become its label."""
    seed: int = 0
    """Seed of the split, the input order and the first reply."""
    space: SearchSpace = field(default_factory=lambda: DEFAULT_SEARCH_SPACE)
    default: DecodingConfig = field(default_factory=lambda: LLAMA_CPP_DEFAULT)

    def __post_init__(self) -> None:
        if self.n_probe < 1 or self.n_train < 0 or self.k < 1 or self.survivors < 1 or self.eta < 2:
            raise ValueError(
                f"n_probe, k and survivors must be >= 1, n_train >= 0 and eta >= 2; got n_probe={self.n_probe}, "
                f"n_train={self.n_train}, k={self.k}, survivors={self.survivors}, eta={self.eta}"
            )

    def estimated_generations(self) -> int:
        """Requests the search makes (an upper bound on generations: cache hits and greedy twins are free)."""
        n_arms = len(self.arms())
        rungs = halving_rungs(n_arms, self.n_probe, self.survivors, self.eta)
        # the default answers every probe; a configuration reaching a rung answers the probes it had not seen yet
        seen_before = [0] + [probes for _, probes in rungs[:-1]]
        stage1 = self.n_probe + sum(alive * (probes - seen) for (alive, probes), seen in zip(rungs, seen_before))
        stage2 = self.n_train * min(self.survivors, n_arms)
        return (stage1 + stage2) * self.k * len(self.tasks)

    def arms(self) -> list[DecodingConfig]:
        """The grid with greedy twins merged, in grid order.

        Per set of equal :func:`~hag_training.engines.effective_knobs`, the configuration closest to the default
        (the first in grid order on a tie) stands for the set.
        """
        grid = list(self.space)
        groups: dict[str, list[int]] = {}
        for i, cfg in enumerate(grid):
            groups.setdefault(json.dumps(effective_knobs(cfg), sort_keys=True), []).append(i)
        chosen = {min(g, key=lambda i: (_distance(grid[i], self), i)) for g in groups.values()}
        return [cfg for i, cfg in enumerate(grid) if i in chosen]


def halving_rungs(n_configs: int, n_probe: int, survivors: int, eta: int = 2) -> list[tuple[int, int]]:
    """Successive halving's schedule: per rung, (configurations alive, probes they have answered by its end).

    The last rung has at most ``survivors`` configurations on all ``n_probe`` probes; each earlier one has ``eta``
    times as many configurations on ``1/eta`` as many probes, but the first rung sees at least two probes and each
    later one at least one probe more than the one before (up to ``n_probe``). Without that floor the 26 arms of
    the default grid would be halved twice on the same single probe (1, 1, 2, 4, 8 probes): one input's 0/1 score
    raced greedy decoding out of arithmetic, where it is the best configuration (0.66 against 0.45 on the test
    split). Now 2, 3, 4, 5, 8: 85 answers per task instead of 53.
    """
    alive = [n_configs]
    while alive[-1] > survivors:
        alive.append(max(survivors, math.ceil(alive[-1] / eta)))
    last = len(alive) - 1
    seen: list[int] = []
    for j in range(len(alive)):
        floor = seen[-1] + 1 if seen else 2
        seen.append(min(n_probe, max(floor, math.ceil(n_probe / eta ** (last - j)))))
    return list(zip(alive, seen, strict=True))


@dataclass
class Label:
    """One labelled training input: the configuration it is taught, and every score behind the choice."""

    task: str
    messages: list[dict[str, str]]
    label_line: str
    """The label as the planner writes it (``SearchSpace.format``)."""
    scores: dict[str, float]
    """Group score of every survivor on this input, by line."""
    family: str = ""
    example_id: str = ""
    label: dict[str, Any] = field(default_factory=dict)
    """The label's knob values."""
    label_score: float = 0.0
    """The label's group score on this input."""
    label_answer: str = ""
    """The first of the label's replies to this input (taught as the base model's own answer in ``lora`` mode)."""
    stderrs: dict[str, float] = field(default_factory=dict)
    """Standard error of each of those scores."""
    rule: str = "task best"
    """``task best`` (the task's configuration) or ``input evidence`` (this input clearly earned another)."""
    provenance: str = ""
    """JSON: engine, search settings, space, versions."""

    def to_dict(self) -> dict[str, Any]:
        """The record as written to ``labels.jsonl``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        """Read a ``labels.jsonl`` record; fields older searches did not write take their defaults.

        Raises:
            ValueError: A field every search writes is missing.

        """
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        if missing := required - set(data):
            raise ValueError(f"not a `hag-train search` record: it lacks {sorted(missing)}")
        known = {k: v for k, v in data.items() if k in names}
        for name in _JSON_FIELDS:  # a row of the `datasets` copy holds these as JSON text
            if isinstance(known.get(name), str):
                known[name] = json.loads(known[name])
        return cls(**known)


_JSON_FIELDS = ("scores", "stderrs", "label")
""":class:`Label` fields the ``datasets`` copy stores as JSON text (per-input dicts of varying keys)."""


@dataclass
class SearchResult:
    """Labelled inputs plus what stage 1 found per task."""

    records: list[Label]
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
    records: list[Label] = []
    stage1: dict[str, dict[str, Any]] = {}
    provenance = _provenance(config, engine)
    for name in config.tasks:
        task = get_task(name)
        train = task.split(config.seed).train
        random.Random(f"{config.seed}:{name}").shuffle(train)
        probes, inputs = train[: config.n_probe], train[config.n_probe : config.n_probe + config.n_train]
        scorer = Scorer(task, engine, k=config.k, seed=config.seed, progress=progress)
        survivors, probe_scores, summary = _stage1(scorer, probes, config)
        labels, summary["task_best"], summary["survivor_scores"] = _stage2(
            scorer, inputs, survivors, probe_scores, config, provenance
        )
        stage1[name] = summary
        records += labels
    return SearchResult(records, stage1, engine.generated, engine.hits)


def _stage1(scorer: Scorer, probes: list[Example], config: SearchConfig):
    """Successive halving on the probes; returns the ranked survivors, their probe scores, and a summary."""
    space = config.space
    grid = config.arms()
    scores: dict[str, list[GroupScore]] = {space.format(c): [] for c in grid}
    default = [g.score for g in scorer.score([(ex, config.default) for ex in probes])]
    alive = grid
    for n_alive, n_seen in halving_rungs(len(grid), len(probes), config.survivors, config.eta):
        alive = _ranked(alive, {line: [g.score for g in s] for line, s in scores.items()}, config)[:n_alive]
        todo = [(cfg, ex) for cfg in alive for ex in probes[len(scores[space.format(cfg)]) : n_seen]]
        for (cfg, _), group in zip(todo, scorer.score([(ex, cfg) for cfg, ex in todo]), strict=True):
            scores[space.format(cfg)].append(group)
    means = {line: [g.score for g in s] for line, s in scores.items() if s}
    survivors = _ranked(alive, means, config)
    summary = {
        "default_score": statistics.fmean(default),
        "scores": {line: statistics.fmean(s) for line, s in means.items()},
        "probes": {line: len(s) for line, s in means.items()},
        "survivors": [space.format(c) for c in survivors],
    }
    return survivors, {space.format(c): scores[space.format(c)] for c in survivors}, summary


def _ranked(configs: Sequence[DecodingConfig], scores: dict[str, list[float]], config: SearchConfig):
    """Best mean first; ties to the lower temperature, then closer to the default."""
    space = config.space

    def key(cfg: DecodingConfig):
        s = scores.get(space.format(cfg)) or [0.0]
        return (-statistics.fmean(s), cfg.temperature, _distance(cfg, config))

    return sorted(configs, key=key)


def _stage2(
    scorer: Scorer,
    inputs: list[Example],
    survivors: list[DecodingConfig],
    probe_scores: dict[str, list[GroupScore]],
    config: SearchConfig,
    provenance: str,
) -> tuple[list[Label], str, dict[str, float]]:
    space, task = config.space, scorer.task
    per_input = [scorer.score([(ex, cfg) for cfg in survivors]) for ex in inputs]  # one call per input: progress
    pooled = {
        space.format(c): [g.score for g in probe_scores[space.format(c)]] + [row[j].score for row in per_input]
        for j, c in enumerate(survivors)
    }
    best = _ranked(survivors, pooled, config)[0]
    best_line = space.format(best)

    def tie_key(line: str) -> tuple[float, float]:
        cfg = space.parse(line)
        return (cfg.temperature, _distance(cfg, config))

    labels = []
    for example, row in zip(inputs, per_input, strict=True):
        by_line = {space.format(c): g for c, g in zip(survivors, row, strict=True)}
        chosen_line, earned = choose_label(by_line, best_line, z=config.evidence_z, tie_key=tie_key)
        chosen, group = space.parse(chosen_line), by_line[chosen_line]
        labels.append(
            Label(
                task=task.name,
                family=task.family,
                example_id=example.id,
                messages=task.messages(example),
                label={k: getattr(chosen, k) for k in space.knobs},
                label_line=chosen_line,
                label_score=group.score,
                label_answer=group.texts[0],
                scores={line: g.score for line, g in by_line.items()},
                stderrs={line: round(g.stderr, 6) for line, g in by_line.items()},
                rule="input evidence" if earned else "task best",
                provenance=provenance,
            )
        )
    return labels, best_line, {line: statistics.fmean(s) for line, s in pooled.items()}


def choose_label(
    groups: dict[str, GroupScore], best: str, *, z: float, tie_key: Callable[[str], Any]
) -> tuple[str, bool]:
    """An input's label among ``groups`` (its group score per configuration line): ``(line, earned)``.

    ``best`` (the task's best configuration) unless another configuration beats it on this input by more than
    ``z`` standard errors of the paired difference; among those that do, the highest score wins, ties going to the
    smaller ``tie_key``. ``earned`` tells whether the input's own evidence chose.
    """
    incumbent = groups[best]

    def z_score(group: GroupScore) -> float:
        diff, se = group.score - incumbent.score, math.hypot(group.stderr, incumbent.stderr)
        return diff / se if se > 0 else (math.inf if diff > 0 else 0.0)

    earned = [line for line, g in groups.items() if line != best and z_score(g) > z]
    if not earned:
        return best, False
    return min(earned, key=lambda line: (-groups[line].score, tie_key(line))), True


def _distance(cfg: DecodingConfig, config: SearchConfig) -> float:
    """Sum over the space's knobs of the distance to the default, normalised by the knob's range on the grid."""
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
    rows = [rec.to_dict() for rec in result.records]
    with open(out / "labels.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "stage1.json").write_text(json.dumps(result.stage1, indent=2) + "\n")
    flat = [row | {k: json.dumps(row[k]) for k in _JSON_FIELDS} for row in rows]  # dicts of varying keys
    Dataset.from_list(flat).save_to_disk(str(out / "dataset"))
    return out
