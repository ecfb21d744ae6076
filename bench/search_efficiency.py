"""How close the two-stage search gets to the exhaustive grid, and at what share of the generations.

On the default model and a few tasks, the same inputs are labelled twice: by the exhaustive grid (every
configuration of the space on every input; the per-input best is the oracle) and by the two-stage search
(stage 1 on its own probe inputs, then the greedy stage 2). Generations are counted as the distinct requests each
method needs (greedy twins count once for both). Also reported per task: llama.cpp's default configuration's
score, the best static configuration's score, and the per-input oracle: the room HAG has.

    python bench/search_efficiency.py [--tasks coinflip,arc_easy,pig_latin] [--n-inputs 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hag_training import (
    LLAMA_CPP_DEFAULT,
    CachedEngine,
    GenerationCache,
    GenerationRequest,
    LlamaCppEngine,
    SearchConfig,
    answer_tokens,
    default_cache_path,
    get_task,
    run_search,
)

from hag_chain import DEFAULT_SEARCH_SPACE

RESULTS = Path(__file__).parent / "results" / "search.json"


class _KeyCounter:
    """Records the distinct requests a method asks for, on top of the shared cache."""

    def __init__(self, engine: LlamaCppEngine) -> None:
        self.engine, self.keys = engine, set()

    @property
    def engine_id(self) -> str:
        return self.engine.engine_id

    def generate(self, requests):
        return self.engine.generate(requests)

    def note(self, requests) -> None:
        self.keys.update(r.digest(self.engine_id) for r in requests)


class _Counting(CachedEngine):
    def generate(self, requests):
        self.engine.note(requests)
        return super().generate(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="coinflip,arc_easy,pig_latin")
    parser.add_argument("--n-inputs", type=int, default=8, help="inputs labelled per task")
    parser.add_argument("--cache", default=str(default_cache_path().with_name("bench-search.sqlite")))
    args = parser.parse_args()
    cache = GenerationCache(args.cache)
    space, per_task, start = DEFAULT_SEARCH_SPACE, {}, time.perf_counter()
    totals = {"exhaustive": 0, "two_stage": 0}
    for name in args.tasks.split(","):
        config = SearchConfig(tasks=(name,), n_train=args.n_inputs)
        task = get_task(name)
        two = _Counting(_KeyCounter(LlamaCppEngine()), cache)
        result = run_search(config, two)
        inputs = {e.id: e for e in task.split(config.seed).train}
        examples = [inputs[r["example_id"]] for r in result.records]

        exhaustive = _Counting(_KeyCounter(LlamaCppEngine()), cache)
        max_tokens = answer_tokens(task)
        grid = list(space)
        plain = CachedEngine(LlamaCppEngine(), cache)  # the default's score is reported, not counted
        table = []  # table[i]: [default score, then the score of each grid configuration] on example i
        for ex in examples:
            reqs = [GenerationRequest.build(task.messages(ex), cfg, config.seed, max_tokens) for cfg in grid]
            default = GenerationRequest.build(task.messages(ex), LLAMA_CPP_DEFAULT, config.seed, max_tokens)
            texts = plain.generate([default]) + exhaustive.generate(reqs)
            table.append([task.score(ex, t) for t in texts])
        oracle = statistics.mean(max(row[1:]) for row in table)
        best_static = max(statistics.mean(row[j] for row in table) for j in range(1, len(grid) + 1))
        two_stage = statistics.mean(r["label_score"] for r in result.records)
        per_task[name] = {
            "inputs": len(examples),
            "default_score": round(statistics.mean(row[0] for row in table), 4),
            "best_static_score": round(best_static, 4),
            "oracle_score": round(oracle, 4),
            "two_stage_score": round(two_stage, 4),
            "share_of_oracle": round(two_stage / oracle, 4) if oracle else None,
            "generations": {"exhaustive": len(exhaustive.engine.keys), "two_stage": len(two.engine.keys)},
        }
        totals["exhaustive"] += len(exhaustive.engine.keys)
        totals["two_stage"] += len(two.engine.keys)
        print(name, json.dumps(per_task[name]), flush=True)
    oracle_mean = statistics.mean(t["oracle_score"] for t in per_task.values())
    two_mean = statistics.mean(t["two_stage_score"] for t in per_task.values())
    out = {
        "model": LlamaCppEngine().engine_id,
        "space_size": space.size,
        "generations": totals,
        "generation_share": round(totals["two_stage"] / totals["exhaustive"], 4),
        "score_share_of_exhaustive_best": round(two_mean / oracle_mean, 4) if oracle_mean else None,
        "per_task": per_task,
        "seconds": round(time.perf_counter() - start, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
