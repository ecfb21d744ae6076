"""End-to-end cost of HAG's planner: ChatHAG vs langchain-community's ChatLlamaCpp on the same GGUF.

Each backend runs in its own process (so peak RSS is its own) over the same prompts with 128-token answers;
generation is kept going to exactly 128 tokens by banning the end-of-sequence token, so both sides produce the
same amount of text. Writes bench/results/runtime.json.

    python bench/runtime.py            # needs: pip install -e ".[bench]"
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle works.",
    "What is 17 * 23? Explain step by step.",
    "Describe the water cycle.",
    "Write a poem about autumn.",
    "Give advice to a new programmer.",
    "Summarise the history of the printing press.",
    "List some ideas for a birthday party.",
]
ANSWER_TOKENS = 128
REPEATS = 2
RESULTS = Path(__file__).parent / "results" / "runtime.json"


def _worker(kind: str) -> dict:
    from hag_chain import ChatHAG, default_model_path

    threads = os.cpu_count() or 1
    if kind == "hag":
        chat = ChatHAG(max_tokens=ANSWER_TOKENS, n_threads=threads)
        eos = chat.load().llm.token_eos()

        def call(prompt: str):
            return chat.invoke(prompt, seed=0, logit_bias={eos: -100.0})
    else:
        from langchain_community.chat_models import ChatLlamaCpp

        chat = ChatLlamaCpp(
            model_path=default_model_path(),
            n_ctx=4096,
            n_threads=threads,
            n_batch=512,
            rope_freq_base=0,
            max_tokens=ANSWER_TOKENS,
            verbose=False,
            model_kwargs={"n_threads_batch": threads, "flash_attn": True},
        )
        eos = chat.client.token_eos()

        def call(prompt: str):
            return chat.invoke(prompt, seed=0, logit_bias={eos: -100.0})

    call("Hello")  # warm-up: load the model, touch the weights
    seconds, planner_ms, tokens = [], [], []
    for _ in range(REPEATS):
        for prompt in PROMPTS:
            start = time.perf_counter()
            msg = call(prompt)
            seconds.append(time.perf_counter() - start)
            hag = msg.response_metadata.get("hag")
            planner_ms.append(hag["planner_ms"] if hag else 0.0)
            usage = msg.usage_metadata or {}
            tokens.append(
                usage.get("output_tokens") or len(chat.load().tokenize(msg.content, special=False))
                if kind == "hag"
                else len(chat.client.tokenize(msg.content.encode(), add_bos=False))
            )
    return {
        "seconds": seconds,
        "planner_ms": planner_ms,
        "answer_tokens": tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["hag", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker)))
        return
    runs = {}
    for kind in ("plain", "hag"):
        out = subprocess.run([sys.executable, __file__, "--worker", kind], capture_output=True, text=True, check=True)
        runs[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    ratios = [h / p for h, p in zip(runs["hag"]["seconds"], runs["plain"]["seconds"])]
    result = {
        "answer_tokens": ANSWER_TOKENS,
        "prompts": len(PROMPTS),
        "repeats": REPEATS,
        "cpu_count": os.cpu_count(),
        "median_ratio_hag_over_plain": round(statistics.median(ratios), 3),
        "median_seconds": {k: round(statistics.median(v["seconds"]), 3) for k, v in runs.items()},
        "median_planner_ms": round(statistics.median(runs["hag"]["planner_ms"]), 1),
        "median_answer_tokens": {k: statistics.median(v["answer_tokens"]) for k, v in runs.items()},
        "peak_rss_mb": {k: round(v["peak_rss_mb"], 1) for k, v in runs.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
