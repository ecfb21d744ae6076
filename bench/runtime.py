"""End-to-end cost of HAG's planner: ChatHAG vs langchain-community's ChatLlamaCpp on the same GGUF.

Each backend runs in its own process (so peak RSS is its own; one per pass, the kinds taking turns) over the same
prompts with 128-token answers; generation is kept going to exactly 128 tokens by banning the end-of-sequence token,
so both sides produce the same amount of text. Two machine states, side by side: idle, and with another process
keeping one core busy (a laptop rarely idles; ``--idle-only`` skips the second). Thread settings compared: ChatHAG's
default (the CPUs other processes leave free, per call), every CPU for both backends (the idle comparison's
baseline), and llama.cpp's own default (half the CPUs for decoding, all for prompts). HAG answers with the
configuration it chose, whose sampling can cost more or less than ChatLlamaCpp's defaults (greedy skips top-k and
top-p); ``hag-same-sampling`` isolates the planner's cost: the planner runs (one call, on a one-value temperature
grid), and the answer samples with ChatLlamaCpp's defaults on every CPU, as the plain call does. Writes
bench/results/runtime.json.

    python bench/runtime.py            # needs: pip install -e ".[bench]"; run it on an otherwise idle machine
    python bench/runtime.py --model qwen2.5-coder-0.5b --idle-only --out bench/results/runtime_qwen2.5-coder-0.5b.json
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


# kind -> (backend, threads): None is the backend's own default.
KINDS = {
    "plain": ("plain", "all"),
    "plain-llama-default": ("plain", None),
    "hag": ("hag", None),
    "hag-all": ("hag", "all"),
    # Every CPU, as "plain" has: only the planner differs from the plain call (the thread choice is hag vs hag-all).
    "hag-same-sampling": ("hag", "all"),
}
# ChatLlamaCpp's sampling defaults (hag_training.baselines.CHAT_LLAMA_CPP_DEFAULT): temperature on a one-value grid,
# so the planner still runs, the rest pinned.
SAME_SAMPLING = {"top_p": 0.95, "top_k": 40, "repetition_penalty": 1.1}


def _worker(kind: str, repeats: int, model: str) -> dict:
    from hag_chain import MODELS, ChatHAG

    backend, threads_setting = KINDS[kind]
    threads = (os.cpu_count() or 1) if threads_setting == "all" else None
    if backend == "hag":
        from hag_chain import SearchSpace

        same = kind == "hag-same-sampling"
        pins = SAME_SAMPLING if same else {}
        space = SearchSpace(values={"temperature": (0.8,)}) if same else None
        chat = ChatHAG(model=model, max_tokens=ANSWER_TOKENS, n_threads=threads, search_space=space, **pins)
        eos = chat.load().llm.token_eos()

        def call(prompt: str):
            return chat.invoke(prompt, seed=0, logit_bias={eos: -100.0})
    else:
        from langchain_community.chat_models import ChatLlamaCpp

        chat = ChatLlamaCpp(
            model_path=MODELS[model].path(),
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
    for _ in range(repeats):
        for prompt in PROMPTS:
            start = time.perf_counter()
            msg = call(prompt)
            seconds.append(time.perf_counter() - start)
            hag = msg.response_metadata.get("hag")
            planner_ms.append(hag["planner_ms"] if hag else 0.0)
            usage = msg.usage_metadata or {}
            tokens.append(
                usage.get("output_tokens") or len(chat.load().tokenize(msg.content, special=False))
                if backend == "hag"
                else len(chat.client.tokenize(msg.content.encode(), add_bos=False))
            )
    return {
        "seconds": seconds,
        "planner_ms": planner_ms,
        "answer_tokens": tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(kind: str, repeats: int, model: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--repeats", str(repeats), "--model", model]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _passes(repeats: int, model: str) -> dict[str, dict]:
    """Every kind's calls, the kinds taking turns one pass each, so that a host drifting during the run moves them
    alike (run kind after kind, a drift between two kinds' runs showed up as their ratio: 0.75 on 2026-12-07)."""
    runs: dict[str, dict] = {}
    for _ in range(repeats):
        for kind in KINDS:
            one = _run(kind, 1, model)
            if kind not in runs:
                runs[kind] = one
                continue
            for key in ("seconds", "planner_ms", "answer_tokens"):
                runs[kind][key] += one[key]
            runs[kind]["peak_rss_mb"] = max(runs[kind]["peak_rss_mb"], one["peak_rss_mb"])
    return runs


def _summary(runs: dict[str, dict], repeats: int) -> dict:
    def ratio(kind: str) -> float:
        return round(statistics.median(h / p for h, p in zip(runs[kind]["seconds"], runs["plain"]["seconds"])), 3)

    return {
        "repeats": repeats,
        "median_ratio_hag_over_plain": ratio("hag"),
        "median_ratio_hag_same_sampling_over_plain": ratio("hag-same-sampling"),
        "median_seconds": {k: round(statistics.median(v["seconds"]), 3) for k, v in runs.items()},
        "median_planner_ms": {k: round(statistics.median(v["planner_ms"]), 1) for k, v in runs.items() if "hag" in k},
        "median_answer_tokens": {k: statistics.median(v["answer_tokens"]) for k, v in runs.items()},
        "peak_rss_mb": {k: round(v["peak_rss_mb"], 1) for k, v in runs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"passes over the prompts ({REPEATS})")
    parser.add_argument("--model", default="smollm2-135m", help="a supported model's name (smollm2-135m)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS})")
    parser.add_argument(
        "--idle-only",
        action="store_true",
        help="skip the one-core-busy state (its all-threads runs took about a minute per call on SmolLM2)",
    )
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.repeats, args.model)))
        return
    result = {"model": args.model, "answer_tokens": ANSWER_TOKENS, "prompts": len(PROMPTS), "cpu_count": os.cpu_count()}
    result["idle"] = _summary(_passes(args.repeats, args.model), args.repeats)
    if args.idle_only:
        result["one_core_busy"] = None
    else:
        result["one_core_busy"] = _one_core_busy(args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _one_core_busy(model: str) -> dict:
    """The summary with another process keeping one core busy for the whole run (one pass: every call is slower)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return _summary(_passes(1, model), 1)
    finally:
        spinner.kill()


if __name__ == "__main__":
    main()
