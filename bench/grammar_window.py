"""Grammar-constrained generation with the grammar checked on the likeliest tokens first, against every token.

The work is the search's on the structured tasks (default model, or ``--model``): ``--inputs`` training inputs of
each structured task (``structured_output``, ``structured_writing``, ``tool_arguments``), each asked with every
configuration of the default search space and llama.cpp's default, ``--seeds`` seeds each, under the task's grammar.
The batched engine answers the whole list in one call with the grammar window
(:mod:`hag_training.generation.grammar_window`) and with it off (``WINDOW = 0``: the whole vocabulary checked at
every token, as ``create_completion`` does); the repeats alternate which goes first. Reported: the median times,
whether the replies are identical, and the share of tokens for which the window did not decide.

Writes bench/results/grammar_window.json. Run it on an otherwise idle machine (check ``uptime`` first):

    python bench/grammar_window.py [--inputs 3] [--seeds 2] [--repeats 1] [--model NAME|GGUF] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hag_training import LLAMA_CPP_DEFAULT, BatchedLlamaCppEngine, GenerationRequest, answer_tokens, get_task
from hag_training.generation import grammar_window

from hag_chain import DEFAULT_SEARCH_SPACE, MODELS

RESULTS = Path(__file__).parent / "results" / "grammar_window.json"
TASKS = ("structured_output", "structured_writing", "tool_arguments")


def build_requests(n_inputs: int, seeds: int) -> list[GenerationRequest]:
    """Per structured task and input: every configuration of the space and llama.cpp's default, ``seeds`` seeds."""
    configs = [*DEFAULT_SEARCH_SPACE, LLAMA_CPP_DEFAULT]
    requests = []
    for name in TASKS:
        task = get_task(name)
        for example in task.split(seed=0).train[:n_inputs]:
            messages, grammar, tools = task.messages(example), task.grammar(example), task.tools(example)
            requests += [
                GenerationRequest.build(messages, config, seed, answer_tokens(task), grammar, tools)
                for config in configs
                for seed in range(seeds)
            ]
    return requests


def run(model_path: str | None, requests: list[GenerationRequest], window: int) -> tuple[float, list[str], dict]:
    """One call of a fresh batched engine with ``WINDOW = window``: seconds, replies, engine counters."""
    grammar_window.WINDOW = window
    engine = BatchedLlamaCppEngine(model_path=model_path)
    start = time.perf_counter()
    replies = engine.generate(requests)
    return time.perf_counter() - start, replies, dict(engine.stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=3, help="training inputs per structured task (default 3)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per configuration and input (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant, alternating (default 1)")
    parser.add_argument("--model", help="a supported model's name or a GGUF file (default: the default model)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"result file (default {RESULTS})")
    args = parser.parse_args()
    model_path = MODELS[args.model].path() if args.model in MODELS else args.model
    requests = build_requests(args.inputs, args.seeds)
    window = grammar_window.WINDOW
    times: dict[str, list[float]] = {"window": [], "every_token": []}
    replies: dict[str, list[str]] = {}
    stats: dict[str, dict] = {}
    for r in range(args.repeats):
        order = [("window", window), ("every_token", 0)]
        for name, size in order if r % 2 == 0 else order[::-1]:
            seconds, replies[name], stats[name] = run(model_path, requests, size)
            times[name].append(seconds)
            print(f"repeat {r + 1}, {name}: {seconds:.1f} s, {stats[name]}", flush=True)
    tokens = stats["every_token"]["decoded"] + len(requests)
    result = {
        "requests": len(requests),
        "tasks": list(TASKS),
        "inputs": args.inputs,
        "seeds": args.seeds,
        "window": window,
        "seconds": {name: statistics.median(t) for name, t in times.items()},
        "runs": times,
        "speedup": statistics.median(times["every_token"]) / statistics.median(times["window"]),
        "identical_replies": sum(a == b for a, b in zip(replies["window"], replies["every_token"], strict=True)),
        "tokens": tokens,
        "full_checks_with_window": stats["window"].get("grammar_full_checks", 0),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
