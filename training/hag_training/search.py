"""The racing search that labels task inputs with good decoding configurations, on expected scores.

Every score is a *group score*: ``k`` replies of one configuration to one input (seeds ``seed .. seed+k-1``),
scored together by the task (:class:`~hag_training.scoring.Scorer`), so a sampled configuration is judged by what it
does on average, not by the luck of one draw.

Stage 1, per task: **successive halving** over the grid's *arms* on the first ``n_probe`` of the task's labelled
inputs (the probes). An arm is a set of greedy twins (configurations that decode greedily and differ only in knobs
greedy decoding ignores, so they generate the same text; the one closest to the default stands for them) or one
sampled configuration: 26 arms on the default 32-configuration grid, so that no survivor's place goes to a twin of
another. Every arm answers the first probes (two at least); the better half (``1/eta``) goes on to twice as many
probes (one more at least), and so on until ``survivors`` configurations remain, ranked on all probes. Successive
halving rather than confidence bounds: with a handful of probes and bounded, often 0/1 scores, confidence intervals
overlap for nearly every pair, so a bound-based race drops almost nothing until late, while halving spends a budget
fixed in advance (the progress bar and ``--budget`` are exact) and is the standard best-arm identification race
(Karnin et al., ICML 2013; Jamieson & Talwalkar, AISTATS 2016).

Stage 2: the ``survivors`` (by default the race's best; :attr:`SearchConfig.survivors_by`) answer every labelled
input they have not answered in the race; the probes are labelled too, from the replies the race already has. The
task's best configuration is the survivor with the best mean over all of them. Labels then shrink to it by
**empirical Bayes** (:func:`choose_labels`): an input's gain from another survivor (its group score minus the task
best's) is a noisy reading of the input's true gain, and the true gains vary over the task's inputs by an amount the
inputs themselves show; the input's estimated gain is its reading pulled towards the task-wide gain (never above 0)
by as much as the reading is noisy. The input is labelled with another survivor only where that estimate is above 0
by ``evidence_z`` posterior standard deviations, so noise cannot pick a label, while an input on which the task's
configuration exactly fails and another is right most of the time earns it. Every score is kept in the record.

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
    "SURVIVORS_BY",
    "BudgetExhausted",
    "Label",
    "SearchConfig",
    "SearchResult",
    "choose_labels",
    "halving_rungs",
    "run_search",
    "write_outputs",
]

#: How stage 2's configurations can be drawn from the race (:attr:`SearchConfig.survivors_by`).
SURVIVORS_BY = ("rank", "temperature")

#: llama.cpp's own sampling defaults: the reference every configuration is compared with.
LLAMA_CPP_DEFAULT = DecodingConfig(temperature=0.8, top_p=0.95, top_k=40, repetition_penalty=1.0)


@dataclass
class SearchConfig:
    """Settings of one search run (all recorded in the output's provenance)."""

    tasks: tuple[str, ...] = ("arithmetic", "translation", "haiku")
    """Task names from ``hag_training.tasks.TASKS``. The default suite is composed from ``hag-train room`` on the
    default model (docs/room/room.md): the tasks on which it is above its floor and decoding moves the expected
    score; every reasoning and code task is at its floor for a 135M model, so those families sit out. CommonGen,
    in the suite until December 2026, left with its data package (``hag_training.data_sources``)."""
    n_probe: int = 8
    """Inputs per task on which stage 1 races the grid: the first ``n_probe`` of the labelled ones (so the race's
    replies serve their labels too)."""
    n_train: int = 24
    """Inputs labelled per task, the probes among them (inputs beyond ``n_train`` and within ``n_probe`` are raced
    on, not labelled)."""
    k: int = 4
    """Replies per (configuration, input), with consecutive seeds, scored as a group."""
    survivors: int = 4
    """Configurations that go on to stage 2 (fewer if the grid is smaller); each answers every labelled input."""
    survivors_by: str = "temperature"
    """How stage 2's configurations are drawn from the race: ``rank`` (the race's best) or ``temperature`` (the best
    arm of each temperature first, best first, then by rank), so that an input on which the task's configuration
    fails has another kind of decoding to earn its label with. ``bench/search_efficiency.py``: 4 by temperature
    kept 99% of the exhaustive grid's fresh expected score, 4 by rank 78%, 3 by temperature 86%. Every greedy arm goes
    on as well (one generation per input each)."""
    eta: int = 3
    """Successive halving keeps ``1/eta`` of the configurations per rung (3: the same labels as 2 on
    ``bench/search_efficiency.py`` for 1 point less of the exhaustive grid's generations)."""
    evidence_z: float = 0.0
    """Posterior standard deviations by which an input's estimated gain over the task's best must exceed 0 to earn
    the input another label. 0 is the Bayes decision (the higher estimated expected score); the shrinkage already
    keeps noise from picking labels (1.0 cost arc_easy three of its four earned labels on the benchmark)."""
    seed: int = 0
    """Seed of the split, the input order and the first reply."""
    space: SearchSpace = field(default_factory=lambda: DEFAULT_SEARCH_SPACE)
    default: DecodingConfig = field(default_factory=lambda: LLAMA_CPP_DEFAULT)
    """Ties between configurations go to the one closer to this (after the lower temperature)."""

    def __post_init__(self) -> None:
        if self.n_probe < 1 or self.n_train < 0 or self.k < 1 or self.survivors < 1 or self.eta < 2:
            raise ValueError(
                f"n_probe, k and survivors must be >= 1, n_train >= 0 and eta >= 2; got n_probe={self.n_probe}, "
                f"n_train={self.n_train}, k={self.k}, survivors={self.survivors}, eta={self.eta}"
            )
        if self.survivors_by not in SURVIVORS_BY:
            raise ValueError(f"survivors_by must be one of {', '.join(SURVIVORS_BY)}; got {self.survivors_by!r}")

    def estimated_generations(self) -> int:
        """Requests the search makes (an upper bound on generations: cache hits and greedy twins are free)."""
        arms = self.arms()
        n_arms, n_greedy = len(arms), sum(cfg.temperature == 0 for cfg in arms)
        rungs = halving_rungs(n_arms, self.n_probe, self.survivors, self.eta)
        # a configuration reaching a rung answers the probes it had not seen yet
        seen_before = [0] + [probes for _, probes in rungs[:-1]]
        stage1 = sum(alive * (probes - seen) for (alive, probes), seen in zip(rungs, seen_before))
        # stage 2: every survivor on every input it has not answered; the race's last rung has seen every probe
        # (the temperature portfolio's other arms may have seen only the first rung's)
        known = rungs[-1][1] if self.survivors_by == "rank" else rungs[0][1]
        stage2 = min(self.survivors + n_greedy, n_arms) * (max(self.n_train, self.n_probe) - known)
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
        inputs = train[: max(config.n_probe, config.n_train)]
        scorer = Scorer(task, engine, k=config.k, seed=config.seed, progress=progress)
        raced, summary = _stage1(scorer, inputs[: config.n_probe], config)
        labels, summary["task_best"], summary["survivor_scores"] = _stage2(
            scorer, inputs, _survivors(raced, config), config, provenance
        )
        summary["survivors"] = list(summary["survivor_scores"])
        stage1[name] = summary
        records += labels
    return SearchResult(records, stage1, engine.generated, engine.hits)


def _stage1(scorer: Scorer, probes: list[Example], config: SearchConfig):
    """Successive halving on the probes.

    Returns every arm's group scores on the probes it answered (a prefix of ``probes``), and a summary.
    """
    space = config.space
    grid = config.arms()
    scores: dict[str, list[GroupScore]] = {space.format(c): [] for c in grid}
    alive = grid
    for n_alive, n_seen in halving_rungs(len(grid), len(probes), config.survivors, config.eta):
        alive = _ranked(alive, {line: [g.score for g in s] for line, s in scores.items()}, config)[:n_alive]
        todo = [(cfg, ex) for cfg in alive for ex in probes[len(scores[space.format(cfg)]) : n_seen]]
        for (cfg, _), group in zip(todo, scorer.score([(ex, cfg) for cfg, ex in todo]), strict=True):
            scores[space.format(cfg)].append(group)
    summary = {
        "scores": {line: statistics.fmean(g.score for g in s) for line, s in scores.items() if s},
        "probes": {line: len(s) for line, s in scores.items() if s},
    }
    return {cfg: scores[space.format(cfg)] for cfg in grid}, summary


def _survivors(raced: dict[DecodingConfig, list[GroupScore]], config: SearchConfig) -> dict[DecodingConfig, list]:
    """Stage 2's configurations (:attr:`SearchConfig.survivors_by`, and every greedy arm), each with its probe scores.

    The race's order: the later an arm was cut, the better; among arms cut at one rung, the better mean (ties to the
    lower temperature, then closer to the default).
    """

    def key(cfg: DecodingConfig):
        s = raced[cfg]
        return (-len(s), -statistics.fmean(g.score for g in s), cfg.temperature, _distance(cfg, config))

    order = sorted((c for c in raced if raced[c]), key=key)
    if config.survivors_by == "temperature":
        first = list({cfg.temperature: cfg for cfg in reversed(order)}.values())[::-1]  # each temperature's best
        first.sort(key=order.index)
        order = first + [c for c in order if c not in first]
    # A greedy arm costs one generation per input, not k, and its score is exact: every one goes on. On 8 probes the
    # race put greedy with the 1.15 penalty above plain greedy on arithmetic (5 against 4 right), where plain greedy
    # is better on the test split (0.583 against 0.427), and one arm per temperature had left plain greedy out.
    chosen = order[: config.survivors]
    chosen += [c for c in order if c.temperature == 0 and c not in chosen]
    return {cfg: raced[cfg] for cfg in chosen}


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
    survivors: dict[DecodingConfig, list[GroupScore]],
    config: SearchConfig,
    provenance: str,
) -> tuple[list[Label], str, dict[str, float]]:
    """Every survivor on every input it has not answered in the race (one engine call), then the labels."""
    space, task = config.space, scorer.task
    todo = [(cfg, ex) for cfg, known in survivors.items() for ex in inputs[len(known) :]]
    table = {space.format(cfg): list(known) for cfg, known in survivors.items()}
    for (cfg, _), group in zip(todo, scorer.score([(ex, cfg) for cfg, ex in todo]), strict=True):
        table[space.format(cfg)].append(group)
    means = {line: statistics.fmean(g.score for g in groups) for line, groups in table.items()}
    ranked = _ranked(list(survivors), {line: [m] for line, m in means.items()}, config)
    best_line = space.format(ranked[0])

    def tie_key(line: str) -> tuple[float, float]:
        cfg = space.parse(line)
        return (cfg.temperature, _distance(cfg, config))

    chosen = choose_labels(table, best_line, z=config.evidence_z, tie_key=tie_key)
    labels = []
    for i, (example, (line, earned)) in enumerate(zip(inputs[: config.n_train], chosen, strict=False)):
        cfg, group = space.parse(line), table[line][i]
        labels.append(
            Label(
                task=task.name,
                family=task.family,
                example_id=example.id,
                messages=task.messages(example),
                label={k: getattr(cfg, k) for k in space.knobs},
                label_line=line,
                label_score=group.score,
                label_answer=group.texts[0],
                scores={other: groups[i].score for other, groups in table.items()},
                stderrs={other: round(groups[i].stderr, 6) for other, groups in table.items()},
                rule="input evidence" if earned else "task best",
                provenance=provenance,
            )
        )
    return labels, best_line, {space.format(c): means[space.format(c)] for c in ranked}


def choose_labels(
    table: dict[str, Sequence[GroupScore]], best: str, *, z: float, tie_key: Callable[[str], Any]
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
    out = []
    for i in range(n):
        earned = [line for line, g in gains.items() if g[i][0] > 0 and g[i][0] > z * g[i][1]]
        if earned:
            out.append((min(earned, key=lambda line, i=i: (-gains[line][i][0], tie_key(line))), True))
        else:
            out.append((best, False))
    return out


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
