"""Generated tokens per second: the batched llama.cpp engine against the single-sequence one, same requests.

The requests are the search's kind of work on the default model (or ``--model``): ``--inputs`` GSM8K problems,
each asked ``--seeds`` times at llama.cpp's default sampled configuration (temperature 0.8, seeds 0..seeds-1) and once
greedily, with the task's own answer length, in the order the search's scorer sends them (an input's requests
together). Both engines get the whole list in one ``generate`` call, with no generation cache, in one process (one
loaded model); the repeats alternate which engine goes first, and the medians are reported.

Tokens are counted by re-tokenizing each reply, identically for both engines. Agreement (identical reply texts) is
reported twice: against the single engine as it ran in the first timed repeat, and against a *fresh* single engine
on one thread (KV cache cleared before each request). The single engine as it runs is not a fixed reference: it
reuses the KV prefix of whatever it evaluated last (llama-cpp-python's prefix matching), and with several threads
llama.cpp splits a one-token decode's attention across them, so its rounding, and now and then a reply, depends on
the previous request and on the thread count. The batched engine's replies depend on neither.

Writes bench/results/engine_throughput.json. Run it on an otherwise idle machine (check ``uptime`` first):

    python bench/engine_throughput.py [--inputs 8] [--seeds 4] [--repeats 3] [--concurrency 16] [--threads N]
                                      [--model GGUF] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from hag_training import (
    LLAMA_CPP_DEFAULT,
    BatchedLlamaCppEngine,
    GenerationRequest,
    LlamaCppEngine,
    answer_tokens,
    get_task,
)

from hag_chain import MODELS, DecodingConfig, ModelKey, default_model_path, load_model
from hag_chain.llama.threads import CpuMeter

RESULTS = Path(__file__).parent / "results" / "engine_throughput.json"
GREEDY = DecodingConfig(temperature=0.0)


def build_requests(n_inputs: int, seeds: int, max_tokens: int | None) -> list[GenerationRequest]:
    """Per input: ``seeds`` sampled requests at llama.cpp's default configuration, then a greedy one."""
    task = get_task("gsm8k")
    limit = max_tokens or answer_tokens(task)
    requests = []
    for example in task.split(seed=0).train[:n_inputs]:
        messages = task.messages(example)
        requests += [GenerationRequest.build(messages, LLAMA_CPP_DEFAULT, s, limit) for s in range(seeds)]
        requests.append(GenerationRequest.build(messages, GREEDY, 0, limit))
    return requests


def pin_threads(single: LlamaCppEngine, threads: int) -> None:
    """Give the single engine's loaded model a fixed thread count (it otherwise follows the machine's load)."""
    import llama_cpp

    model = load_model(ModelKey(str(single.model_path or default_model_path()), None, n_ctx=single.n_ctx))
    model._meter = None
    llama_cpp.llama_set_n_threads(model.llm.ctx, threads, threads)
    model._threads = threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        default=None,
        help="a supported model's name or a GGUF file (default: the embedded SmolLM2-135M Q4_1)",
    )
    parser.add_argument("--inputs", type=int, default=8, help="GSM8K problems (8)")
    parser.add_argument("--seeds", type=int, default=4, help="sampled replies per problem (4), plus one greedy")
    parser.add_argument("--max-tokens", type=int, default=None, help="answer length (default: the task's, 160)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each engine, interleaved (3)")
    parser.add_argument("--concurrency", type=int, default=16, help="the batched engine's sequences at once (16)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window per sequence, both engines (4096)")
    parser.add_argument("--threads", type=int, default=None, help="pin both engines' threads (default: follow load)")
    parser.add_argument("--no-flash-attn", action="store_true", help="the batched engine without flash attention")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh one-thread single-engine reference")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    args = parser.parse_args()

    requests = build_requests(args.inputs, args.seeds, args.max_tokens)
    model_path = MODELS[args.model].path() if args.model in MODELS else str(args.model or default_model_path())
    single = LlamaCppEngine(model_path, n_ctx=args.n_ctx)
    batched = BatchedLlamaCppEngine(
        model_path,
        n_ctx=args.n_ctx,
        concurrency=args.concurrency,
        n_threads=args.threads,
        flash_attn=not args.no_flash_attn,
    )
    assert single.engine_id == batched.engine_id
    model = load_model(ModelKey(model_path, None, n_ctx=args.n_ctx))
    if args.threads:
        pin_threads(single, args.threads)
    load_before = os.getloadavg()

    warm = [GenerationRequest.build([{"role": "user", "content": "Hi"}], GREEDY, 0, 4)]
    single.generate(warm), batched.generate(warm)  # load the model, build the batched context

    def n_tokens(texts: list[str]) -> int:
        return sum(len(model.tokenize(t, special=False)) for t in texts)

    engines = {"single": single, "batched": batched}
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    others_busy: dict[str, list[float | None]] = {name: [] for name in engines}  # other processes' cores
    runs: dict[str, list[list[str]]] = {name: [] for name in engines}
    for r in range(args.repeats):
        for name in ("single", "batched") if r % 2 == 0 else ("batched", "single"):
            meter = CpuMeter()
            start = time.perf_counter()
            out = engines[name].generate(requests)
            seconds[name].append(time.perf_counter() - start)
            busy = meter.others_busy()
            others_busy[name].append(None if busy is None else round(busy, 2))
            runs[name].append(out)
            print(f"repeat {r} {name}: {seconds[name][-1]:.1f} s, {n_tokens(out)} tokens, others {busy}", flush=True)
    texts = {name: outs[0] for name, outs in runs.items()}
    fresh = None
    if not args.no_fresh:
        fresh = []
        pin_threads(single, 1)
        for req in requests:
            model.llm.reset()
            fresh += single.generate([req])

    greedy = [i for i, r in enumerate(requests) if r.config.temperature == 0]
    sampled = [i for i, r in enumerate(requests) if r.config.temperature > 0]

    def agreement(reference: list[str] | None, idx: list[int]) -> float | None:
        if reference is None:
            return None
        return round(sum(texts["batched"][i] == reference[i] for i in idx) / len(idx), 3)

    def agreement_of(a: list[str], b: list[str] | None) -> float | None:
        return None if b is None else round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 3)

    tokens = {name: n_tokens(out) for name, out in texts.items()}
    median = {name: statistics.median(s) for name, s in seconds.items()}
    rate = {name: tokens[name] / median[name] for name in engines}
    result = {
        "command": "python bench/engine_throughput.py "
        + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
            for k, v in vars(args).items()
            if v not in (None, False) and k != "out"
        ),
        "model": Path(model_path).name,
        "task": "gsm8k",
        "requests": len(requests),
        "greedy_requests": len(greedy),
        "sampled_requests": len(sampled),
        "sampled_config": LLAMA_CPP_DEFAULT.to_line(),
        "max_tokens": requests[0].max_tokens,
        "concurrency": args.concurrency,
        "n_ctx_per_sequence": args.n_ctx,
        "batched_flash_attn": not args.no_flash_attn,
        "threads": args.threads or "follow load (hag_chain.llama.threads)",
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "repeats": args.repeats,
        "seconds": {name: [round(s, 2) for s in v] for name, v in seconds.items()},
        "other_processes_busy_cores": others_busy,
        "median_seconds": {name: round(v, 2) for name, v in median.items()},
        "generated_tokens": tokens,
        "tokens_per_second": {name: round(v, 1) for name, v in rate.items()},
        "ratio_batched_over_single": round(rate["batched"] / rate["single"], 3),
        "batched_mean_sequences_per_step": round(batched.stats["decoded"] / max(1, batched.stats["steps"]), 2),
        "batched_kv_window": batched.kv_window,
        "replies_identical_in_every_repeat": {name: all(o == outs[0] for o in outs) for name, outs in runs.items()},
        "greedy_agreement_vs_single_as_run": agreement(texts["single"], greedy),
        "sampled_agreement_vs_single_as_run": agreement(texts["single"], sampled),
        "greedy_agreement_vs_fresh_single_1_thread": agreement(fresh, greedy),
        "sampled_agreement_vs_fresh_single_1_thread": agreement(fresh, sampled),
        "single_as_run_vs_fresh_single_1_thread": agreement_of(texts["single"], fresh),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
