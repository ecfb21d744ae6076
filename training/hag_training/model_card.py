"""The model card written beside a tuned adapter: data, hyperparameters, training curve, evaluation, versions.

Written with ``huggingface_hub.ModelCard``, so that it opens with the YAML header the Hub reads (library, task,
tags).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_model_card"]

_FILE_USAGE = 'ChatHAG(model_path="<base>.gguf", adapter_path="hag-adapter.lora.gguf")'


def write_model_card(
    out_dir: str | Path, summary: dict[str, Any], evaluation: str | None = None, usage: str | None = None
) -> Path:
    """Write ``out_dir/README.md`` from an SFT summary and, optionally, the evaluation's markdown table.

    ``usage`` is the ``ChatHAG(...)`` call that runs the adapter (default: with the base file and the adapter file).
    """
    from huggingface_hub import ModelCard, ModelCardData

    data, sft = summary["data"], summary["sft"]
    search = data["search"].get("search", {})
    kind = "activated LoRA (aLoRA)" if sft.get("mode") == "alora" else "LoRA"
    lines = [
        f"# hag-adapter: a HAG {kind} adapter",
        "",
        f"A GGUF {kind} adapter for `{summary['base']['general.name'] or summary['base']['path']}` that makes the "
        "model write its own decoding configuration before answering (Hyperparameter Aware Generation). It carries its "
        "search space and planner prompt version in `hag.*` metadata."
        + (
            " As an aLoRA it is active only from the planner turn on (its invocation tokens), so the answer is the "
            "bare base model's own."
            if sft.get("mode") == "alora"
            else ""
        ),
        "",
        "```python",
        "from hag_chain import ChatHAG",
        "",
        f"chat = {usage or _FILE_USAGE}",
        "```",
        "",
        "## Training data",
        "",
        f"Labels from `hag-train search` (engine `{data['search'].get('engine', '?')}`, "
        f"seed {search.get('seed', '?')}, "
        f"{search.get('n_train', '?')} labelled inputs per task, the race's {search.get('n_probe', '?')} probes "
        "among them): "
        f"{data['records']} labelled inputs, {data['uninformative']} on which every tried configuration scored the "
        f"same (policy `{data['ties']}`), {data['examples']} training examples{_answer_examples(data)}, "
        f"{data['skipped_too_long']} skipped as too long.",
        "",
        "| task | examples | most frequent labels |",
        "|---|---|---|",
    ]
    for task, counts in data["label_lines"].items():
        top = "; ".join(f"`{line}` × {n}" for line, n in list(counts.items())[:3])
        lines.append(f"| {task} | {data['tasks'][task]} | {top} |")
    lines += ["", "## Hyperparameters", "", "| setting | value |", "|---|---|"]
    names = {"rank": "LoRA rank", "alpha": "LoRA alpha", "dropout": "LoRA dropout", "target_modules": "target modules"}
    for key, value in sft.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        lines.append(f"| {names.get(key, key)} | {shown} |")
    lines += [
        "",
        "Loss is on the planner's reply (the configuration's code or line) in configuration examples and on the "
        "answer's tokens in answer examples; prompts are masked.",
        "",
        f"Loss per epoch: {', '.join(str(x) for x in summary['loss_per_epoch'])} "
        f"({summary['train_seconds']} s of training).",
        "",
    ]
    if evaluation:
        lines += ["## Evaluation", "", evaluation.strip(), ""]
    lines += ["## Versions", "", "```json", json.dumps(summary["versions"], indent=2), "```", ""]
    header = ModelCardData(
        library_name="gguf",
        pipeline_tag="text-generation",
        tags=["hag-chain", "gguf", "alora" if sft.get("mode") == "alora" else "lora"],
    )
    path = Path(out_dir) / "README.md"
    ModelCard(f"---\n{header.to_yaml()}\n---\n\n" + "\n".join(lines)).save(path)
    return path


def _answer_examples(data: dict[str, Any]) -> str:
    """How many training examples are the base model's own answers; none for an activated LoRA, which never answers."""
    n = data["answer_examples"]
    return f" ({n} of them the base model's own answers, so that a plain LoRA can stay on for the answer)" if n else ""
