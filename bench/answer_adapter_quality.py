"""Is HAG's answer better with a plain LoRA on or on the bare base model, with the same configuration?

Only a plain LoRA can stay on for the answer (``answer_with_adapter=True``); an activated LoRA, the shipped kind,
always answers with the bare base model.

Reads the per-input results of `hag-train eval` (default: runs/default/eval/results.jsonl, written by
`hag-train recipe default`), answers HAG's test inputs again with exactly the configuration HAG chose but without
the adapter, and compares the scores pairwise (bootstrap 95% interval of the mean difference). Generations go
through the same cache as the recipe, so answers already made are not made again. Writes
bench/results/answer_adapter_quality.json.

    python bench/answer_adapter_quality.py [runs/default/eval/results.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "answer_adapter_quality.json"


def main(results_path: str) -> dict:
    from hag_training import (
        CachedEngine,
        GenerationCache,
        GenerationRequest,
        LlamaCppEngine,
        answer_tokens,
        default_cache_path,
        get_task,
    )
    from hag_training.evaluate import HAG

    from hag_chain import DecodingConfig

    rows = [json.loads(line) for line in Path(results_path).read_text().splitlines()]
    hag = [r for r in rows if r["method"] == HAG]
    engine = CachedEngine(LlamaCppEngine(), GenerationCache(default_cache_path()))
    per_task: dict[str, dict] = {}
    diffs_by_task = {}
    for name in sorted({r["task"] for r in hag}):
        task = get_task(name)
        examples = {ex.id: ex for ex in task.split(0).test}
        mine = [r for r in hag if r["task"] == name]
        requests = [
            GenerationRequest.build(
                task.messages(ex := examples[r["example_id"]]),
                DecodingConfig(**r["config"]),
                0,
                answer_tokens(task),
                task.grammar(ex),
                task.tools(ex),
            )
            for r in mine
        ]
        texts = engine.generate(requests)
        bare = np.array([task.score(examples[r["example_id"]], t) for r, t in zip(mine, texts)])
        on = np.array([r["score"] for r in mine])
        diffs_by_task[name] = on - bare
        per_task[name] = {"adapter_on": round(float(on.mean()), 4), "adapter_off": round(float(bare.mean()), 4)}
    rng = np.random.default_rng(0)
    reps = np.mean(
        [d[rng.integers(0, len(d), size=(2000, len(d)))].mean(axis=1) for d in diffs_by_task.values()], axis=0
    )
    summary = {
        "results": results_path,
        "per_task": per_task,
        "suite_on_minus_off": round(float(np.mean([d.mean() for d in diffs_by_task.values()])), 4),
        "ci95": [round(float(np.percentile(reps, 2.5)), 4), round(float(np.percentile(reps, 97.5)), 4)],
        "generated": engine.generated,
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "runs/default/eval/results.jsonl"), indent=2))
