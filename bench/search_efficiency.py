"""How close the racing search gets to the exhaustive grid, on expected scores, and at what share of the generations.

On the default model and a few tasks, the same inputs are labelled twice, both on group scores of the same ``k``
replies per (configuration, input): by the exhaustive grid (every configuration of the space on every input; the
label is the input's best configuration) and by the racing search (successive halving on its own probe inputs,
then the survivors on every input, labels shrunk to the task's best). Generations are counted as the distinct
requests each method needs (greedy twins count once for both).

The labels are then valued on *fresh* replies (seeds after every in-sample seed): a label picked as the best of 32
noisy group scores looks better on the replies it was picked on than it is (the winner's curse), so in-sample scores
would flatter the exhaustive grid. The target: the racing search's labels reach at least 95% of the exhaustive labels'
fresh expected score with at most 25% of its generations. Also reported per task: llama.cpp's default
configuration and the best static configuration of the grid (picked in-sample, valued on the fresh replies).

``--k-values`` reruns the racing search with other group sizes (its replies are a prefix of the larger groups', so
this costs little) and values their labels on the same fresh replies: the measurement behind ``SearchConfig.k``.
``--variant`` (repeatable) does the same for other racing settings, given as ``SearchConfig`` fields
(``survivors=4,survivors_by=temperature``), counting each one's own generations: the levers between cost and score.

    python bench/search_efficiency.py [--tasks arc_easy,pig_latin,haiku,translation] [--n-inputs 24] [--k 4]
        [--k-values 1,2] [--variant evidence_z=1.0 --variant survivors=3,survivors_by=rank]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from hag_training import (
    LLAMA_CPP_DEFAULT,
    CachedEngine,
    GenerationCache,
    Scorer,
    SearchConfig,
    default_cache_path,
    get_task,
    run_search,
)
from hag_training.generation.local import local_engine

from hag_chain import DEFAULT_SEARCH_SPACE

RESULTS = Path(__file__).parent / "results" / "search.json"


class _Counting(CachedEngine):
    """A cached engine that records the distinct requests a method asks for (cached or not)."""

    def __init__(self, engine, cache) -> None:
        super().__init__(engine, cache)
        self.keys: set[str] = set()

    def generate(self, requests):
        self.keys.update(r.digest(self.engine.engine_id) for r in requests)
        return super().generate(requests)


def _variant(text: str) -> dict[str, Any]:
    """``field=value,...`` as SearchConfig settings, each value converted to the field's type."""
    types = {f.name: type(getattr(SearchConfig(), f.name)) for f in fields(SearchConfig)}
    settings = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in types or not value or types[name] not in (int, float, str):
            raise ValueError(item)
        settings[name] = types[name](value)
    SearchConfig(**settings)  # refuses values out of range
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="arc_easy,pig_latin,haiku,translation", help="comma-separated task names")
    parser.add_argument("--n-inputs", type=int, default=24, help="inputs labelled per task (24)")
    parser.add_argument("--k", type=int, default=SearchConfig().k, help="replies per configuration and input")
    parser.add_argument("--k-values", default="1,2", help="other group sizes to race with (1,2)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="other racing settings as SearchConfig fields, e.g. survivors=4,survivors_by=temperature or "
        "evidence_z=0,eta=3 (repeatable)",
    )
    parser.add_argument("--cache", default=str(default_cache_path().with_name("bench-search.sqlite")))
    args = parser.parse_args()
    try:
        variants = {v: _variant(v) for v in args.variant}
    except (ValueError, TypeError) as err:
        parser.error(f"--variant takes SearchConfig fields as name=value[,name=value], such as evidence_z=0; {err}")
    variant_totals = {v: {"generations": 0, "fresh": []} for v in variants}
    cache, engine = GenerationCache(args.cache), local_engine()
    space, per_task, start = DEFAULT_SEARCH_SPACE, {}, time.perf_counter()
    totals = {"exhaustive": 0, "racing": 0}
    k_values = sorted({args.k, *(int(v) for v in args.k_values.split(",") if v)})
    fresh_means: dict[str, list[float]] = {"exhaustive": [], "racing": []}
    by_k: dict[int, list[float]] = {k: [] for k in k_values}
    for name in args.tasks.split(","):
        config = SearchConfig(tasks=(name,), n_train=args.n_inputs, k=args.k)
        task = get_task(name)
        racing = _Counting(engine, cache)
        result = run_search(config, racing)
        by_id = {e.id: e for e in task.split(config.seed).train}
        examples = [by_id[r.example_id] for r in result.records]

        exhaustive = _Counting(engine, cache)
        scorer = Scorer(task, exhaustive, k=args.k, seed=config.seed)
        grid = list(space)
        table = [[g.score for g in scorer.score([(ex, cfg) for cfg in grid])] for ex in examples]
        # the input's best; ties to the lower temperature, as the search breaks them
        best_of = [min(range(len(grid)), key=lambda j, row=row: (-row[j], grid[j].temperature)) for row in table]
        static = max(range(len(grid)), key=lambda j: (statistics.fmean(row[j] for row in table), -grid[j].temperature))

        # fresh replies, after every group's in-sample seeds; not counted
        fresh = Scorer(task, CachedEngine(engine, cache), k=args.k, seed=config.seed + max(k_values))

        def value(configs, fresh=fresh, examples=examples) -> float:
            return statistics.fmean(g.score for g in fresh.score(list(zip(examples, configs, strict=True))))

        values = {
            "default": value([LLAMA_CPP_DEFAULT] * len(examples)),
            "best_static": value([grid[static]] * len(examples)),
            "exhaustive": value([grid[j] for j in best_of]),
            "racing": value([space.parse(r.label_line) for r in result.records]),
        }
        racing_by_k = {}
        for k in k_values:
            other = (
                result
                if k == args.k
                else run_search(SearchConfig(tasks=(name,), n_train=args.n_inputs, k=k), CachedEngine(engine, cache))
            )
            racing_by_k[k] = round(value([space.parse(r.label_line) for r in other.records]), 4)
            by_k[k].append(racing_by_k[k])
        racing_by_variant = {}
        for variant, settings in variants.items():
            counting = _Counting(engine, cache)
            other = run_search(SearchConfig(tasks=(name,), n_train=args.n_inputs, k=args.k, **settings), counting)
            labels = [space.parse(r.label_line) for r in other.records]
            racing_by_variant[variant] = {
                "fresh_expected_score": round(value(labels), 4),
                "generations": len(counting.keys),
                "labels_earned_by_input": sum(r.rule == "input evidence" for r in other.records),
            }
            variant_totals[variant]["generations"] += len(counting.keys)
            variant_totals[variant]["fresh"].append(value(labels))
        per_task[name] = {
            "inputs": len(examples),
            "fresh_expected_score": {k: round(v, 4) for k, v in values.items()},
            "in_sample": {
                "exhaustive": round(statistics.fmean(row[j] for row, j in zip(table, best_of, strict=True)), 4),
                "racing": round(statistics.fmean(r.label_score for r in result.records), 4),
            },
            "racing_share_of_exhaustive": round(values["racing"] / values["exhaustive"], 4)
            if values["exhaustive"]
            else None,
            "racing_fresh_expected_score_by_k": racing_by_k,
            "racing_variants": racing_by_variant,
            "best_static": space.format(grid[static]),
            "racing_task_best": result.stage1[name]["task_best"],
            "racing_labels_earned_by_input": sum(r.rule == "input evidence" for r in result.records),
            "generations": {"exhaustive": len(exhaustive.keys), "racing": len(racing.keys)},
        }
        for method in totals:
            totals[method] += len((exhaustive if method == "exhaustive" else racing).keys)
            fresh_means[method].append(values[method])
        print(name, json.dumps(per_task[name]), flush=True)
    exhaustive_mean, racing_mean = (statistics.fmean(fresh_means[m]) for m in ("exhaustive", "racing"))
    out = {
        "command": "python bench/search_efficiency.py "
        f"--tasks {args.tasks} --n-inputs {args.n_inputs} --k {args.k} --k-values {args.k_values}"
        + "".join(f" --variant {v}" for v in args.variant),
        "model": engine.engine_id,
        "engine": type(engine).__name__,
        "space_size": space.size,
        "k": args.k,
        "generations": totals,
        "generation_share": round(totals["racing"] / totals["exhaustive"], 4),
        "score_share_of_exhaustive_best": round(racing_mean / exhaustive_mean, 4) if exhaustive_mean else None,
        "racing_fresh_mean_by_k": {k: round(statistics.fmean(v), 4) for k, v in by_k.items()},
        "variants": {
            name: {
                "generation_share": round(v["generations"] / totals["exhaustive"], 4),
                "score_share_of_exhaustive_best": round(statistics.fmean(v["fresh"]) / exhaustive_mean, 4)
                if exhaustive_mean
                else None,
            }
            for name, v in variant_totals.items()
        },
        "per_task": per_task,
        "seconds": round(time.perf_counter() - start, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
