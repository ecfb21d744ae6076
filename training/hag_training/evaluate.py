"""Does the model's own choice of decoding configuration beat fixed ones? Judged as a user would judge it.

A user's requests come as one unlabelled stream: no task name, many wordings. The evaluation takes the test splits
of every task as that stream (the planner reads each request alone, so its order does not matter) and compares, on
the same inputs with the same seeds, each ``(method, input)`` getting ``k`` replies scored as a group
(:meth:`~hag_training.tasks.Task.score_group`, the expected score the search labels with):

* ``HAG``: the tuned model picks a configuration per input (the runtime's planner) and answers with it, as
  :class:`~hag_chain.ChatHAG` does by default: with a plain LoRA on, or, with an activated LoRA (active from the
  planner turn only), as the bare base model;
* ``llama.cpp default``: temperature 0.8, top_p 0.95, top_k 40, no repetition penalty;
* ``ChatLlamaCpp default``: LangChain's ``ChatLlamaCpp`` defaults (the same with ``repeat_penalty`` 1.1);
* ``greedy``: temperature 0;
* ``random``: a configuration drawn uniformly from the search space per input;
* ``best single fixed``: the one configuration that scores best on the dev inputs of the whole stream, among the
  candidates (below): the best a user can do with one setting for everything, chosen on data, not on the test;
* ``best fixed per task``: per task, the candidate best on that task's dev inputs: it needs the task label that a
  user's stream does not carry, so it is a reference, not a rival a user has;
* ``oracle``: per input, the best score any of the methods above got on it (hindsight; a ceiling, not a method).

The candidates are each task's ``static_candidates`` best stage-1 survivors of the search, greedy and the two
defaults (every configuration of the space without a search); greedy twins count once. Every candidate answers
every task's dev inputs.

Means come with 95% percentile bootstrap intervals: inputs are resampled within each task, and the stream mean is
the mean over all inputs. Differences to HAG are paired: each replicate resamples the same inputs for every method.
The summary adds the share of the oracle's room over the best single fixed configuration that HAG takes, and HAG's
gain over the best single fixed configuration on the phrasings no tuning saw (``test_only``) beside the seen ones.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hag_chain import DecodingConfig, SearchSpace
from hag_training.baselines import FIXED_CONFIGS
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.generation.request import effective_knobs
from hag_training.report import interval_bars, interval_cell, percentile_interval, pyplot, save_figure
from hag_training.scoring import Scorer
from hag_training.tasks import get_task

__all__ = [
    "BEST_PER_TASK",
    "BEST_SINGLE",
    "HAG",
    "METHODS",
    "ORACLE",
    "RECOMMENDED",
    "AdapterRuntime",
    "EvalConfig",
    "EvalReport",
    "evaluate_adapter",
    "markdown_table",
    "run_eval",
    "summarize",
    "write_report",
]

HAG, BEST_SINGLE, BEST_PER_TASK, ORACLE = "HAG", "best single fixed", "best fixed per task", "oracle"
RECOMMENDED = "model's recommended"
"""The baseline of a model whose GGUF records its authors' sampling (``general.sampling.*``)."""


def methods_for(fixed: Mapping[str, DecodingConfig]) -> tuple[str, ...]:
    """The methods of an evaluation with the ``fixed`` baselines: HAG first, the hindsight oracle last."""
    return (HAG, *fixed, "random", BEST_SINGLE, BEST_PER_TASK, ORACLE)


METHODS = methods_for(FIXED_CONFIGS)
"""Every row's method, HAG first and the hindsight oracle last (a model with a recommended sampling adds
:data:`RECOMMENDED` after the fixed baselines)."""


@dataclass
class EvalConfig:
    """Settings of one evaluation (recorded in its output)."""

    tasks: tuple[str, ...] = field(metadata={"help": "Task names, comma-separated on the command line."})
    n_test: int = field(
        default=32, metadata={"help": "Test inputs per task (the first ones of the seeded test split)."}
    )
    n_dev: int = field(
        default=16, metadata={"help": "Dev inputs per task on which the fixed configurations are chosen."}
    )
    static_candidates: int = field(
        default=3,
        metadata={"help": "How many of each task's stage-1 survivors are candidates (with greedy and the defaults)."},
    )
    k: int = field(default=4, metadata={"help": "Replies per method and input, scored as a group."})
    seed: int = field(default=0, metadata={"help": "Seed of the split and of the first reply."})
    bootstrap: int = field(default=2000, metadata={"help": "Bootstrap replicates of each interval."})

    def __post_init__(self) -> None:
        if not self.tasks or min(self.n_test, self.n_dev, self.static_candidates, self.k) < 1:
            raise ValueError(f"tasks must be non-empty and n_test, n_dev, static_candidates, k >= 1, got {self}")


@dataclass
class EvalReport:
    """Per-input results and their summary."""

    rows: list[dict[str, Any]]
    """One per (task, method, input): ``task``, ``family``, ``method``, ``example_id``, ``phrasing``, ``unseen``
    (a test-only phrasing), ``config`` (the oracle's: the best method's) and ``score``."""
    static: dict[str, Any]
    """The fixed choices: ``single`` (``line`` and every candidate's dev mean over the stream) and ``per_task``
    (per task, ``line`` and every candidate's dev mean on it)."""
    config: EvalConfig

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods of its rows, in their order (:func:`methods_for`)."""
        return tuple(dict.fromkeys(r["method"] for r in self.rows))


def run_eval(
    config: EvalConfig,
    *,
    choose: Callable[[list[dict[str, str]], list[dict[str, Any]] | None], DecodingConfig],
    hag_engine: CachedEngine,
    base_engine: CachedEngine,
    space: SearchSpace,
    stage1: dict[str, Any] | None = None,
    progress: Callable[[int], object] | None = None,
    fixed: Mapping[str, DecodingConfig] = FIXED_CONFIGS,
) -> EvalReport:
    """Score every method on the stream of every task's test inputs.

    Args:
        config: What to evaluate.
        choose: The HAG planner: messages (and the tools a forced call chooses among) to the configuration it
            answers them with.
        hag_engine: Answers HAG's inputs (with a plain LoRA on; for an activated LoRA, the base model alone).
        base_engine: Answers every other method's inputs (the base model alone).
        space: The search space ``random`` draws from.
        stage1: The search's ``stage1.json`` (candidates for the fixed choices); ``None``: every configuration of
            ``space``.
        progress: Called with the number of generations after each batch.
        fixed: The fixed baselines by method name (also candidates for the best fixed choices).

    """
    methods = methods_for(fixed)
    tasks = {name: get_task(name) for name in config.tasks}
    splits = {name: task.split(config.seed) for name, task in tasks.items()}
    scorers = {
        name: Scorer(task, base_engine, k=config.k, seed=config.seed, progress=progress) for name, task in tasks.items()
    }
    candidates = _candidates(config, space, stage1, fixed)
    labels = {_line(space, c, fixed): c for c in candidates}

    dev_means: dict[str, dict[str, float]] = {}
    for name, scorer in scorers.items():
        dev = splits[name].dev[: config.n_dev]
        groups = scorer.score([(ex, c) for c in candidates for ex in dev])
        dev_means[name] = {
            line: float(np.mean([g.score for g in groups[i * len(dev) : (i + 1) * len(dev)]]))
            for i, line in enumerate(labels)
        }
    counts = {name: len(splits[name].dev[: config.n_dev]) for name in tasks}
    stream = {line: sum(dev_means[t][line] * counts[t] for t in tasks) / sum(counts.values()) for line in labels}
    single = max(labels, key=lambda line: stream[line])  # first of equals: the candidates' order breaks ties
    per_task = {t: max(labels, key=lambda line: dev_means[t][line]) for t in tasks}
    static = {
        "single": {"line": single, "dev_scores": stream},
        "per_task": {t: {"line": per_task[t], "dev_scores": dev_means[t]} for t in tasks},
    }

    rows: list[dict[str, Any]] = []
    for name, task in tasks.items():
        test = splits[name].test[: config.n_test]
        rng, grid = random.Random(f"{config.seed}:{name}"), list(space)
        plans = {
            HAG: [choose(task.messages(ex), task.tools(ex)) for ex in test],
            "random": [rng.choice(grid) for _ in test],
            BEST_SINGLE: [labels[single]] * len(test),
            BEST_PER_TASK: [labels[per_task[name]]] * len(test),
            **{m: [c] * len(test) for m, c in fixed.items()},
        }
        hag = Scorer(task, hag_engine, k=config.k, seed=config.seed, progress=progress)
        base = [m for m in methods if m not in (HAG, ORACLE)]
        base_groups = scorers[name].score([(ex, cfg) for m in base for ex, cfg in zip(test, plans[m], strict=True)])
        scores = {HAG: [g.score for g in hag.score(list(zip(test, plans[HAG], strict=True)))]}
        scores |= {m: [g.score for g in base_groups[i * len(test) : (i + 1) * len(test)]] for i, m in enumerate(base)}
        best = [max((scores[m][i], -j, m) for j, m in enumerate(methods[:-1]))[2] for i in range(len(test))]
        plans[ORACLE] = [plans[m][i] for i, m in enumerate(best)]
        scores[ORACLE] = [scores[m][i] for i, m in enumerate(best)]
        unseen = {p.name for p in task.phrasings if p.test_only}
        for method in methods:
            for ex, cfg, score in zip(test, plans[method], scores[method], strict=True):
                rows.append(
                    {
                        "task": name,
                        "family": task.family,
                        "method": method,
                        "example_id": ex.id,
                        "phrasing": task.phrasing(ex).name,
                        "unseen": ex.phrasing in unseen,
                        "config": {k: getattr(cfg, k) for k in space.knobs},
                        "score": score,
                    }
                )
    return EvalReport(rows=rows, static=static, config=config)


@dataclass(frozen=True)
class AdapterRuntime:
    """An adapter run as ``ChatHAG`` runs it: its planner, the engine HAG answers with, the base model's engine."""

    choose: Callable[[list[dict[str, str]], list[dict[str, Any]] | None], DecodingConfig]
    """The planner's configuration for a conversation and the tools it must call one of (``None``: free text)."""
    hag_engine: CachedEngine
    base_engine: CachedEngine
    space: SearchSpace
    recommended: DecodingConfig | None
    """The sampling the base model's GGUF recommends (``general.sampling.*``), ``None`` when it records none."""

    @classmethod
    def load(cls, adapter_path: str | Path, cache: GenerationCache, model_path: str | None = None) -> AdapterRuntime:
        """Load ``adapter_path`` on ``model_path`` (``None``: the embedded SmolLM2), generating through ``cache``."""
        from hag_chain import ChatHAG
        from hag_training.generation.local import local_engine

        # Every knob outside the planner's space at llama.cpp's default, as the search's labels and the fixed baselines
        # have it: a model's recommended sampling (general.sampling.*) would otherwise fill them for HAG alone.
        planner = ChatHAG(
            model_path=model_path,
            adapter_path=str(adapter_path),
            defaults=DecodingConfig(**DecodingConfig().model_dump()),
        )
        return cls(
            choose=lambda messages, tools: planner.choose_config(messages, **_forced_call(tools)).config,
            hag_engine=CachedEngine(local_engine(model_path=model_path, adapter_path=str(adapter_path)), cache),
            base_engine=CachedEngine(local_engine(model_path=model_path), cache),
            space=planner.hag_profile().search_space,
            recommended=DecodingConfig.from_values(rec)
            if (rec := DecodingConfig.recommended(planner.load().metadata))
            else None,
        )


def _forced_call(tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``ChatHAG``'s call arguments for a reply that must call one of ``tools`` (none for free text)."""
    return {"tools": tools, "tool_choice": "any"} if tools else {}


def evaluate_adapter(
    config: EvalConfig,
    adapter_path: str | Path,
    cache: GenerationCache,
    *,
    model_path: str | None = None,
    stage1: dict[str, Any] | None = None,
    progress: Callable[[int], object] | None = None,
) -> EvalReport:
    """:func:`run_eval` for a GGUF LoRA adapter, run as ``ChatHAG`` runs it (the planner's choice, then the answer).

    ``model_path`` is the base GGUF; ``None`` means the embedded SmolLM2. A base whose GGUF records its authors'
    sampling (``general.sampling.*``) gets that as one more fixed baseline, :data:`RECOMMENDED`.
    """
    runtime = AdapterRuntime.load(adapter_path, cache, model_path)
    fixed = dict(FIXED_CONFIGS)
    if runtime.recommended is not None:
        fixed[RECOMMENDED] = runtime.recommended
    return run_eval(
        config,
        choose=runtime.choose,
        hag_engine=runtime.hag_engine,
        base_engine=runtime.base_engine,
        space=runtime.space,
        stage1=stage1,
        progress=progress,
        fixed=fixed,
    )


def _candidates(
    config: EvalConfig, space: SearchSpace, stage1: dict[str, Any] | None, fixed: Mapping[str, DecodingConfig]
) -> list[DecodingConfig]:
    """Each task's ``static_candidates`` best stage-1 survivors, greedy and the defaults; greedy twins count once.

    Without a search (or for a task it did not cover), every configuration of ``space`` instead.
    """
    pool: list[DecodingConfig] = []
    for task in config.tasks:
        if stage1 is None or task not in stage1:
            pool += [*space]
        else:
            pool += [space.parse(line) for line in stage1[task]["survivors"][: config.static_candidates]]
    out: dict[str, DecodingConfig] = {}
    for cfg in [*pool, *fixed.values()]:
        out.setdefault(json.dumps(effective_knobs(cfg), sort_keys=True), cfg)
    return list(out.values())


def _line(space: SearchSpace, cfg: DecodingConfig, fixed: Mapping[str, DecodingConfig]) -> str:
    """A candidate's name in the report: its configuration line, or the fixed baseline it is."""
    for name, baseline in fixed.items():
        if effective_knobs(cfg) == effective_knobs(baseline):
            return name
    return space.format(cfg) if cfg in space else json.dumps(cfg.non_default(), sort_keys=True)


def summarize(report: EvalReport) -> dict[str, Any]:
    """Means, 95% bootstrap intervals and paired differences to HAG, per task and over the stream.

    Also the oracle's room HAG takes (``room_share``: (HAG − best single fixed) / (oracle − best single fixed)) and
    HAG − best single fixed on seen and on unseen phrasings (``phrasings``).
    """
    tasks, methods = list(report.config.tasks), report.methods
    by: dict[tuple[str, str], list[float]] = {(r["task"], r["method"]): [] for r in report.rows}
    unseen = {t: np.array([r["unseen"] for r in report.rows if r["task"] == t and r["method"] == HAG]) for t in tasks}
    for r in report.rows:
        by[(r["task"], r["method"])].append(r["score"])
    scores = {key: np.array(v) for key, v in by.items()}
    rng = np.random.default_rng(report.config.seed)
    n_boot = report.config.bootstrap
    # One resampling of each task's inputs per replicate, shared by every method (the differences are paired).
    idx = {t: rng.integers(0, len(unseen[t]), size=(n_boot, len(unseen[t]))) for t in tasks}
    total = sum(len(unseen[t]) for t in tasks)

    def stream(method: str, mask: Callable[[str], np.ndarray] | None = None) -> tuple[float, np.ndarray]:
        """The mean over the stream's inputs (those ``mask`` keeps) and its bootstrap replicates."""
        sums, reps, n, n_reps = 0.0, np.zeros(n_boot), 0, np.zeros(n_boot)
        for t in tasks:
            keep = np.ones(len(unseen[t]), bool) if mask is None else mask(t)
            values = scores[(t, method)]
            sums += values[keep].sum()
            n += keep.sum()
            reps += (values[idx[t]] * keep[idx[t]]).sum(axis=1)
            n_reps += keep[idx[t]].sum(axis=1)
        return sums / max(n, 1), reps / np.maximum(n_reps, 1)

    def stat(mean: float, reps: np.ndarray) -> dict[str, Any]:
        return {"mean": round(float(mean), 4), "ci95": percentile_interval(reps)}

    out: dict[str, Any] = {"methods": list(methods), "tasks": {}, "stream": {}, "hag_minus": {}, "inputs": total}
    for t in tasks:
        out["tasks"][t] = {m: stat(scores[(t, m)].mean(), scores[(t, m)][idx[t]].mean(axis=1)) for m in methods}
    streams = {m: stream(m) for m in methods}
    for m, (mean, reps) in streams.items():
        out["stream"][m] = stat(mean, reps)
        if m != HAG:
            out["hag_minus"][m] = stat(streams[HAG][0] - mean, streams[HAG][1] - reps)
    gain = streams[HAG][1] - streams[BEST_SINGLE][1]
    room = streams[ORACLE][1] - streams[BEST_SINGLE][1]
    room_mean = streams[ORACLE][0] - streams[BEST_SINGLE][0]
    out["room_share"] = stat(
        (streams[HAG][0] - streams[BEST_SINGLE][0]) / room_mean if room_mean > 0 else 0.0,
        np.divide(gain, room, out=np.zeros_like(gain), where=room > 0),
    )
    out["phrasings"] = {}
    gains = {}
    for kind, keep in (("seen", lambda t: ~unseen[t]), ("unseen", lambda t: unseen[t])):
        hag, best = stream(HAG, keep), stream(BEST_SINGLE, keep)
        gains[kind] = (hag[0] - best[0], hag[1] - best[1])
        n = int(sum(keep(t).sum() for t in tasks))
        out["phrasings"][kind] = {"inputs": n, "HAG": stat(*hag), "hag_minus_best_single": stat(*gains[kind])}
    out["phrasings"]["unseen_minus_seen"] = stat(
        gains["unseen"][0] - gains["seen"][0], gains["unseen"][1] - gains["seen"][1]
    )
    out["choices"] = _choices(report)
    out["static"] = report.static
    out["config"] = asdict(report.config)
    return out


def _choices(report: EvalReport) -> dict[str, Any]:
    """What HAG chose per task: the most frequent configurations and each knob's mean."""
    out = {}
    for t in report.config.tasks:
        configs = [r["config"] for r in report.rows if r["task"] == t and r["method"] == HAG]
        lines = Counter(json.dumps(c, separators=(",", ":")) for c in configs)
        out[t] = {
            "top": lines.most_common(3),
            "distinct": len(lines),
            "mean": {k: round(float(np.mean([c[k] for c in configs])), 3) for k in configs[0]},
        }
    return out


def markdown_table(summary: dict[str, Any]) -> str:
    """The results as markdown: the stream, the phrasings, the tasks, and HAG's choices against the fixed ones."""
    tasks = list(summary["tasks"])
    lines = [
        f"**The stream** ({summary['inputs']} test inputs of {len(tasks)} tasks, no task label):",
        "",
        "| method | stream mean | HAG − method |",
        "|---|---|---|",
    ]
    for m in summary["methods"]:
        delta = interval_cell(summary["hag_minus"][m], sign=True) if m in summary["hag_minus"] else "—"
        name = f"**{m}**" if m == HAG else f"{m} (hindsight)" if m == ORACLE else m
        lines.append(f"| {name} | {interval_cell(summary['stream'][m])} | {delta} |")
    ph = summary["phrasings"]
    lines += [
        "",
        f"Share of the oracle's room over the best single fixed configuration that HAG takes: "
        f"{interval_cell(summary['room_share'])}.",
        "",
        "| phrasings | inputs | HAG | HAG − best single fixed |",
        "|---|---|---|---|",
        *(
            f"| {kind} | {ph[kind]['inputs']} | {interval_cell(ph[kind]['HAG'])} | "
            f"{interval_cell(ph[kind]['hag_minus_best_single'], sign=True)} |"
            for kind in ("seen", "unseen")
        ),
        f"| unseen − seen | | | {interval_cell(ph['unseen_minus_seen'], sign=True)} |",
        "",
        "| method | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for m in summary["methods"]:
        lines.append(f"| {m} | " + " | ".join(interval_cell(summary["tasks"][t][m]) for t in tasks) + " |")
    lines += [
        "",
        f"Best single fixed (dev): `{summary['static']['single']['line']}`.",
        "",
        "| task | best fixed for it (dev) | HAG's most frequent choices | mean temperature | distinct |",
        "|---|---|---|---|---|",
    ]
    for t in tasks:
        ch = summary["choices"][t]
        top = "; ".join(f"`{line}` ({count})" for line, count in ch["top"])
        static = summary["static"]["per_task"][t]["line"]
        lines.append(f"| {t} | `{static}` | {top} | {ch['mean']['temperature']} | {ch['distinct']} |")
    return "\n".join(lines) + "\n"


def plot(report: EvalReport, summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``scores.png`` (mean score per task and method, with intervals) and ``configs.png`` (HAG's choices)."""
    plt = pyplot()
    out_dir = Path(out_dir)
    tasks = [*summary["tasks"], "stream"]
    fig, ax = plt.subplots(figsize=(max(11, 1.3 * len(tasks)), 4.5))
    series = {m: [summary["tasks"][t][m] for t in tasks[:-1]] + [summary["stream"][m]] for m in summary["methods"]}
    interval_bars(ax, tasks, series)
    ax.set_ylabel("mean score (95% bootstrap CI)")
    ax.set_title("Test-split scores by decoding method")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(ncol=4, fontsize=8)
    scores_png = save_figure(fig, out_dir / "scores.png")

    knobs = list(report.rows[0]["config"])
    fig, axes = plt.subplots(1, len(knobs), figsize=(3.6 * len(knobs), 4.6), squeeze=False)
    for ax, knob in zip(axes[0], knobs, strict=True):
        values = sorted({r["config"][knob] for r in report.rows if r["method"] in (HAG, "random")})
        bottom = np.zeros(len(tasks) - 1)
        for v in values:
            share = np.array(
                [
                    np.mean([r["config"][knob] == v for r in report.rows if r["task"] == t and r["method"] == HAG])
                    for t in tasks[:-1]
                ]
            )
            ax.bar(tasks[:-1], share, bottom=bottom, label=str(v))
            bottom += share
        ax.set_title(knob, pad=18)
        ax.tick_params(axis="x", rotation=60)
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    axes[0][0].set_ylabel("share of HAG's choices")
    fig.suptitle("Configurations HAG chose per task")
    return [scores_png, save_figure(fig, out_dir / "configs.png")]


def write_report(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.jsonl``, ``summary.json``, ``results.md`` and the two plots under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for row in report.rows:
            f.write(json.dumps(row) + "\n")
    summary = summarize(report)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(summary))
    scores_png, configs_png = plot(report, summary, out)
    return {"table": out / "results.md", "summary": out / "summary.json", "scores": scores_png, "configs": configs_png}
