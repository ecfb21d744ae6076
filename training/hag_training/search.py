"""The racing search that labels task inputs with good decoding configurations, on expected scores.

Every score is a *group score*: ``k`` replies of one configuration to one input (seeds ``seed .. seed+k-1``),
scored together by the task (:class:`~hag_training.scoring.Scorer`), so a sampled configuration is judged by what it
does on average, not by the luck of one draw.

Stage 1, per task: **successive halving** over the grid's *arms* on the first ``n_probe`` of the task's labelled
inputs (the probes). An arm is a set of greedy twins (configurations that decode greedily and differ only in knobs
greedy decoding ignores, so they generate the same text; the one closest to the default stands for them) or one
sampled configuration: 26 arms on the default 32-configuration grid, so that no survivor's place goes to a twin of
another. Every arm answers the first probes (two at least); the best ``1/eta`` go on to ``eta`` times as many probes
(one more at least), and so on until ``survivors`` configurations remain, ranked on all probes. Successive
halving rather than confidence bounds: with a handful of probes and bounded, often 0/1 scores, confidence intervals
overlap for nearly every pair, so a bound-based race drops almost nothing until late, while halving spends a budget
fixed in advance (the progress bar and ``--budget`` are exact) and is the standard best-arm identification race
(Karnin et al., ICML 2013; Jamieson & Talwalkar, AISTATS 2016).

Stage 2: the ``survivors`` (by default the best arm of each temperature; :attr:`SearchConfig.survivors_by`) and every
greedy arm answer every labelled input they have not answered in the race; the probes are labelled too, from the
replies the race already has. The task's best configuration is the survivor with the best mean over all of them.
Labels then shrink to it by **empirical Bayes** (:func:`~hag_training.labelling.choose_labels`): an input's gain from
another survivor (its group score minus the task best's) is a noisy reading of the input's true gain, and the true
gains vary over the task's inputs by an amount the inputs themselves show; the input's estimated gain is its reading
pulled towards the task-wide gain (never above 0) by as much as the reading is noisy. The input is labelled with
another survivor only where that estimate is above 0 by ``evidence_z`` posterior standard deviations, so noise cannot
pick a label, while an input on which the task's configuration exactly fails and another is right most of the time
earns it. Every score is kept in the :class:`~hag_training.labels.Label` record.

Ties go to the lower temperature (a greedy score is exact), then to the configuration closer to the default.
Greedy requests share a cache entry whatever their seed and greedy-irrelevant knobs (``hag_chain.KNOBS``), so the
search never pays twice for one greedy generation; an interrupted search resumes from the cache.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from hag_chain import DEFAULT_PROMPT_VERSION, DEFAULT_SEARCH_SPACE, DecodingConfig, SearchSpace
from hag_training.baselines import LLAMA_CPP_DEFAULT
from hag_training.generation.cache import CachedEngine
from hag_training.generation.request import effective_knobs
from hag_training.labelling import choose_labels
from hag_training.labels import Label, SearchResult
from hag_training.scoring import GroupScore, Scorer
from hag_training.tasks import Example, get_task
from hag_training.versions import package_versions

__all__ = ["SUITE", "SearchConfig", "SurvivorsBy", "halving_rungs", "run_search"]

#: How stage 2's configurations are drawn from the race (:attr:`SearchConfig.survivors_by`).
SurvivorsBy = Literal["rank", "temperature"]


SUITE = (
    "arithmetic",
    "chain_sum",
    "common_knowledge",
    "squad",
    "world_facts",
    "translation",
    "german_words",
    "haiku",
    "story",
    "structured_output",
    "structured_writing",
    "tool_arguments",
)
"""The default suite: what ``hag-train search``, ``eval`` and ``recipe default`` run on unless told otherwise."""


@dataclass
class SearchConfig:
    """Settings of one search run (all recorded in the output's provenance)."""

    # The default suite is composed from `hag-train room` on the default model (docs/evaluation.md, "The room"):
    # tasks of every family on which it is above its floor and decoding moves the expected score. Code is at this
    # model's floor and sits out; so do the registered tasks whose room is at the floor or whose gap includes 0.
    tasks: tuple[str, ...] = field(
        default=SUITE,
        metadata={"help": "Task names (`hag_training.TASKS`), comma-separated on the command line."},
    )
    n_probe: int = field(
        default=8,
        metadata={
            "help": "Inputs per task on which stage 1 races the grid by successive halving: the first of the "
            "labelled inputs, so that the race's replies serve their labels too."
        },
    )
    n_train: int = field(
        default=24,
        metadata={
            "help": "Inputs labelled per task, the probes among them (inputs beyond n_train and within n_probe are "
            "raced on, not labelled)."
        },
    )
    k: int = field(
        default=4,
        metadata={"help": "Replies per configuration and input, with consecutive seeds, scored as a group."},
    )
    survivors: int = field(
        default=4,
        metadata={
            "help": "Configurations that survive stage 1 and answer every labelled input (fewer if the grid is "
            "smaller); every greedy arm goes on as well (one generation per input each)."
        },
    )
    # bench/search_efficiency.py: 4 by temperature kept 99% of the exhaustive grid's fresh expected score, 4 by rank
    # 78%, 3 by temperature 86%.
    survivors_by: SurvivorsBy = field(
        default="temperature",
        metadata={
            "help": "How stage 2's configurations are drawn from the race: rank (the race's best) or temperature "
            "(the best arm of each temperature first, then by rank), so that an input on which the task's "
            "configuration fails has another kind of decoding to earn its label with."
        },
    )
    # 3: the same labels as 2 on bench/search_efficiency.py for 1 point less of the exhaustive grid's generations.
    eta: int = field(default=3, metadata={"help": "Successive halving keeps 1/eta of the configurations per rung."})
    # 0 is the Bayes decision (the higher estimated expected score); the shrinkage already keeps noise from picking
    # labels (1.0 cost arc_easy three of its four earned labels on the benchmark).
    evidence_z: float = field(
        default=0.0,
        metadata={
            "help": "Posterior standard deviations by which an input's estimated gain over the task's best "
            "configuration (empirical Bayes) must exceed 0 for another configuration to become its label."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the split, the input order and the first reply."})
    space: SearchSpace = field(
        default_factory=lambda: DEFAULT_SEARCH_SPACE,
        metadata={
            "help": 'The search space as JSON, e.g. \'{"temperature": [0.0, 0.7], "top_k": [10, 50]}\' (default: '
            "hag_chain.DEFAULT_SEARCH_SPACE, 32 configurations)."
        },
    )
    default: DecodingConfig = field(
        default_factory=lambda: LLAMA_CPP_DEFAULT,
        metadata={
            "help": "Ties between configurations go to the one closer to this, after the lower temperature; a "
            "JSON line of knobs (default: llama.cpp's own defaults)."
        },
    )

    def __post_init__(self) -> None:
        if self.n_probe < 1 or self.n_train < 0 or self.k < 1 or self.survivors < 1 or self.eta < 2:
            raise ValueError(
                f"n_probe, k and survivors must be >= 1, n_train >= 0 and eta >= 2; got n_probe={self.n_probe}, "
                f"n_train={self.n_train}, k={self.k}, survivors={self.survivors}, eta={self.eta}"
            )
        if self.survivors_by not in get_args(SurvivorsBy):
            raise ValueError(
                f"survivors_by must be one of {', '.join(get_args(SurvivorsBy))}; got {self.survivors_by!r}"
            )

    def estimated_generations(self) -> int:
        """Requests the search makes (an upper bound on generations: cache hits and greedy twins are free)."""
        arms = self.arms()
        n_arms, n_greedy = len(arms), sum(cfg.temperature == 0 for cfg in arms)
        rungs = halving_rungs(n_arms, self.n_probe, self.survivors, self.eta)
        # a configuration reaching a rung answers the probes it had not seen yet
        seen_before = [0] + [probes for _, probes in rungs[:-1]]
        stage1 = sum(alive * (probes - seen) for (alive, probes), seen in zip(rungs, seen_before))
        # stage 2: every survivor and greedy arm on every input it has not answered; the race's last rung has seen
        # every probe, the other arms (by temperature, and the greedy ones) at least the first rung's
        n_inputs, first = max(self.n_train, self.n_probe), rungs[0][1]
        known = rungs[-1][1] if self.survivors_by == "rank" else first
        stage2 = min(self.survivors, n_arms) * (n_inputs - known) + n_greedy * (n_inputs - first)
        return (stage1 + stage2) * self.k * len(self.tasks)

    def arms(self) -> list[DecodingConfig]:
        """The grid with greedy twins merged, in grid order.

        Per set of equal :func:`~hag_training.generation.request.effective_knobs`, the configuration closest to the
        default (the first in grid order on a tie) stands for the set.
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


def run_search(
    config: SearchConfig,
    engine: CachedEngine,
    *,
    progress: Callable[[int], object] | None = None,
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
        return (-len(s), -statistics.fmean(g.score for g in s), *_tie_key(cfg, config))

    order = sorted((c for c in raced if raced[c]), key=key)
    if config.survivors_by == "temperature":
        best_of: dict[float, DecodingConfig] = {}
        for cfg in order:
            best_of.setdefault(cfg.temperature, cfg)
        first = list(best_of.values())  # each temperature's best, in the race's order
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
        return (-statistics.fmean(s), *_tie_key(cfg, config))

    return sorted(configs, key=key)


def _tie_key(cfg: DecodingConfig, config: SearchConfig) -> tuple[float, float]:
    """How ties between configurations break: the lower temperature, then closer to the default."""
    return (cfg.temperature, _distance(cfg, config))


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

    chosen = choose_labels(
        table, best_line, z=config.evidence_z, tie_key=lambda line: _tie_key(space.parse(line), config)
    )
    labels = []
    for i, (example, (line, earned)) in enumerate(zip(inputs[: config.n_train], chosen, strict=False)):
        cfg, group = space.parse(line), table[line][i]
        messages, tools = scorer.asked(example)
        labels.append(
            Label(
                task=task.name,
                family=task.family,
                example_id=example.id,
                messages=messages,
                tools=tools or [],
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


def _distance(cfg: DecodingConfig, config: SearchConfig) -> float:
    """Sum over the space's knobs of the distance to the default, normalised by the knob's range on the grid."""
    total = 0.0
    for knob, values in config.space.values.items():
        span = (max(values) - min(values)) or 1.0
        total += abs(getattr(cfg, knob) - getattr(config.default, knob)) / span
    return total


def _provenance(config: SearchConfig, engine: CachedEngine) -> str:
    return json.dumps(
        {
            "engine": engine.engine.engine_id,
            "search": {k: v for k, v in asdict(config).items() if k not in ("space", "default")},
            "space": json.loads(config.space.to_json()),
            "default": config.default.model_dump(),
            "prompt_version": DEFAULT_PROMPT_VERSION,
            "versions": package_versions("hag-chain", "llama-cpp-python"),
        },
        sort_keys=True,
    )
