"""LoRA instruction tuning: teach a model to name, for each input, the configuration the search found best.

The training examples are :mod:`~hag_training.sft_examples`'s: the planner turn in context, loss on the planner's
reply only. Two modes. ``alora`` (the default) trains an activated LoRA (peft's ``alora_invocation_tokens``) whose
invocation is the rendered planner turn (:func:`hag_chain.invocation_text`): the adapter acts from the planner turn
on, so the conversation stays the base model's computation and the answer is the bare base model's. ``lora`` trains
a plain LoRA that also learns the base model's own answers, so that it can stay on for the answer.

Training is transformers' ``Trainer`` with a peft LoRA; the result is exported with :mod:`hag_gguf` as a GGUF
LoRA adapter carrying the ``hag.*`` metadata the runtime reads (search space, prompt version, base model,
provenance, and for a code reply the code token ids it was tuned on). An aLoRA is tuned on the positions it changes
(:mod:`~hag_training.sft_prefix`: the conversation before its invocation is computed once, not every epoch). The
same code runs on several GPUs under ``accelerate launch``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hag_chain import PLANNER_PROMPTS, HAGKeys, SearchSpace
from hag_training.labels import Label, load_records
from hag_training.sft_config import EXPORT_ONLY, SFTConfig
from hag_training.sft_examples import (
    IGNORE_INDEX,
    NO_SPACE_FOR_CODES,
    alora_invocation,
    build_examples,
    label_space,
    resolve_ties,
)
from hag_training.sft_prefix import PrefixCollator, cache_prefixes
from hag_training.versions import package_versions

__all__ = ["ADAPTER_FILE", "SFTResult", "prepare_base", "train_adapter"]

ADAPTER_FILE = "hag-adapter.lora.gguf"


@dataclass
class SFTResult:
    """Where the outputs are and what training measured."""

    adapter_path: Path
    peft_dir: Path
    summary: dict[str, Any]


def train_adapter(
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: SFTConfig | None = None,
    *,
    base: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> SFTResult:
    """Tune a LoRA on the search's labels and export it; see the module docstring.

    Every setting is checked first, before any model is loaded or anything is written. An interrupted run resumes
    from its last epoch checkpoint when rerun with the same data and training settings (``outtype`` may differ:
    it only changes the export).

    Returns:
        The GGUF adapter (``out_dir/hag-adapter.lora.gguf``), the peft adapter (``out_dir/peft``) and a summary
        (data, hyperparameters, loss per epoch, time, versions).

    Raises:
        ValueError: A setting of ``config`` is invalid, or ``data`` is not a search's output.
        FileNotFoundError: ``data`` or ``base`` does not exist.

    """
    config = config or SFTConfig()
    config.validate()  # again: the dataclass may have been changed since it was built
    records = load_records(data)
    provenance = json.loads(records[0].provenance or "{}")
    space = _reply_space(provenance, records[0].label_line, config.prompt_version)
    _base_path(base)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` {out} is a file; pass a folder (it is created if missing)")

    out.mkdir(parents=True, exist_ok=True)
    train_records, ties = resolve_ties(records, config.ties)
    base_dir, base_name = prepare_base(base, out)
    tokenizer = _tokenizer(base_dir)
    invocation = alora_invocation(tokenizer, config.prompt_version) if config.mode == "alora" else None
    examples, skipped = build_examples(
        train_records,
        tokenizer,
        prompt_version=config.prompt_version,
        max_length=config.max_length,
        answers=config.answers and config.mode == "lora",
        invocation=invocation,
        space=space,
    )
    if not examples:
        raise ValueError(f"no training example fits max_length={config.max_length}; raise it")

    model = _peft_model(base_dir, config, invocation)
    trainer_dir = _trainer_dir(out, config, base_dir, examples)
    losses, seconds = _train(model, tokenizer, examples, config, trainer_dir, progress)
    peft_dir = out / "peft"
    model.save_pretrained(peft_dir)
    summary = {
        "data": _data_summary(data, records, train_records, ties, examples, skipped, config) | {"search": provenance},
        "sft": asdict(config) | {"target_modules": list(config.target_modules), "alora_invocation_tokens": invocation},
        "base": {"path": str(base) if base else "default (SmolLM2-135M-Instruct Q4_1)", "general.name": base_name},
        "loss_per_epoch": losses,
        "train_seconds": round(seconds, 1),
        "versions": package_versions("hag-chain", "torch", "transformers", "peft", "llama-cpp-python", "gguf"),
    }
    adapter_path = _export(out, peft_dir, base_dir, base_name, config, summary, space, tokenizer)
    (out / "sft_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return SFTResult(adapter_path=adapter_path, peft_dir=peft_dir, summary=summary)


def prepare_base(base: str | os.PathLike[str] | None, work_dir: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """A transformers checkpoint directory for ``base`` and the ``general.name`` of its GGUF, if it is one.

    ``base`` is a transformers directory, a GGUF file (converted once into ``work_dir/base-hf`` by
    :func:`hag_gguf.hf_checkpoint_from_gguf`), or ``None`` for hag-chain's default SmolLM2 model.
    """
    path = _base_path(base)
    if path.is_dir():
        return path, None
    from hag_gguf import hf_checkpoint_from_gguf

    from hag_chain import read_gguf_metadata

    name = read_gguf_metadata(str(path)).get("general.name")
    return hf_checkpoint_from_gguf(path, Path(work_dir) / "base-hf"), name


def _base_path(base: str | os.PathLike[str] | None) -> Path:
    """``base`` as a path (``None``: the default model), checked to be a transformers checkpoint or a file."""
    from hag_chain import default_model_path

    path = Path(base) if base is not None else Path(default_model_path())
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a transformers checkpoint: it has no config.json")
    elif not path.is_file():
        raise FileNotFoundError(f"base model {path} not found: pass a transformers directory or a GGUF file")
    return path


def _reply_space(provenance: dict[str, Any], line: str, prompt_version: str) -> SearchSpace | None:
    """The labels' search space, checked to name every label with a code when ``prompt_version`` replies in codes.

    Checked before any model is loaded: a grid codes cannot name, or none at all.
    """
    space = label_space(provenance, line)
    if PLANNER_PROMPTS[prompt_version].reply == "code":
        if space is None:
            raise ValueError(NO_SPACE_FOR_CODES.format(version=prompt_version))
        space.codes()
    return space


def _tokenizer(base_dir: Path) -> Any:
    """The base model's tokenizer, padding with EOS where it has no pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _peft_model(base_dir: Path, config: SFTConfig, invocation: list[int] | None) -> Any:
    """The base model in float32 with a fresh LoRA (an aLoRA with ``invocation``) on its top layers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    set_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    n_layers = model.config.num_hidden_layers
    layers = None if config.top_layers is None else list(range(max(0, n_layers - config.top_layers), n_layers))
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,  # type: ignore[arg-type]  # peft says int; it scales by alpha / r, any number
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
        alora_invocation_tokens=invocation,
    )
    return get_peft_model(model, lora)


def _trainer_dir(out: Path, config: SFTConfig, base_dir: Path, examples: list[dict[str, list[int]]]) -> Path:
    """``out/trainer``, emptied unless its checkpoints were made from the same data and training settings."""
    trained_with = {k: v for k, v in asdict(config).items() if k not in EXPORT_ONLY}
    fingerprint = json.dumps([trained_with, str(base_dir), examples], sort_keys=True)
    run_id = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    trainer_dir = out / "trainer"
    stamp = trainer_dir / "run_id"
    if trainer_dir.exists() and (not stamp.is_file() or stamp.read_text() != run_id):
        shutil.rmtree(trainer_dir)
    trainer_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(run_id)
    return trainer_dir


def _train(
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, list[int]]],
    config: SFTConfig,
    trainer_dir: Path,
    progress: bool,
) -> tuple[list[float], float]:
    """Train with transformers' ``Trainer`` from the last epoch checkpoint in ``trainer_dir``, if any.

    Returns the loss per epoch and the training time summed over resumed runs (a rerun of a finished run trains
    nothing and adds about 0 s).
    """
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    args = TrainingArguments(
        output_dir=str(trainer_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_ratio=0.1,
        weight_decay=0.0,
        logging_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        seed=config.seed,
        data_seed=config.seed,
        group_by_length=True,
        report_to="none",
        disable_tqdm=not progress,
        remove_unused_columns=False,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    last = get_last_checkpoint(str(trainer_dir))
    start = time.perf_counter()
    # An aLoRA's conversation before the invocation is the base model's: computed once (not for a finished run).
    if config.mode == "alora" and not _finished(last):
        model.to(args.device)  # where the Trainer trains it (a GPU): the prefixes are computed and kept there
        dataset: list[dict[str, Any]] = cache_prefixes(model, examples, config.batch_size, progress=progress)
        collator: Any = PrefixCollator(tokenizer.pad_token_id)
    else:
        dataset, collator = examples, DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.train(resume_from_checkpoint=last)
    clock = trainer_dir / "train_seconds"
    seconds = (float(clock.read_text()) if clock.is_file() else 0.0) + time.perf_counter() - start
    clock.write_text(f"{seconds:.1f}")
    return [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h], seconds


def _finished(checkpoint: str | None) -> bool:
    """Whether the Trainer ``checkpoint`` ends its run, so that resuming from it trains nothing."""
    if checkpoint is None:
        return False
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return state["global_step"] >= state["max_steps"]


def _data_summary(
    data: str | os.PathLike[str],
    records: list[Label],
    train_records: list[Label],
    ties: int,
    examples: list[dict[str, list[int]]],
    skipped: int,
    config: SFTConfig,
) -> dict[str, Any]:
    """What the adapter was trained on: records, examples, and the label lines per task."""
    answer_examples = config.mode == "lora" and config.answers
    return {
        "labels": str(Path(data)),
        "records": len(records),
        "uninformative": ties,
        "ties": config.ties,
        "examples": len(examples),
        "answer_examples": sum(bool(r.label_answer) for r in train_records) if answer_examples else 0,
        "skipped_too_long": skipped,
        "tasks": dict(Counter(r.task for r in train_records)),
        "label_lines": {
            task: dict(Counter(r.label_line for r in train_records if r.task == task).most_common())
            for task in sorted({r.task for r in train_records})
        },
    }


def _export(
    out: Path,
    peft_dir: Path,
    base_dir: Path,
    base_name: str | None,
    config: SFTConfig,
    summary: dict[str, Any],
    space: SearchSpace | None,
    tokenizer: Any,
) -> Path:
    """Write the GGUF adapter with the ``hag.*`` metadata the runtime reads; returns its path."""
    from hag_gguf import convert_adapter

    metadata = {HAGKeys.PROMPT_VERSION: config.prompt_version, HAGKeys.PROVENANCE: _provenance(summary)}
    if space is not None:
        metadata[HAGKeys.SEARCH_SPACE] = space.to_json()
        if PLANNER_PROMPTS[config.prompt_version].reply == "code":
            codes = [tokenizer(c, add_special_tokens=False).input_ids[0] for c in space.codes()]
            metadata[HAGKeys.CODE_TOKENS] = json.dumps(codes)
    adapter_path = out / ADAPTER_FILE
    convert_adapter(
        peft_dir, adapter_path, base_dir, config.outtype, name="hag-adapter", base_name=base_name, hag_metadata=metadata
    )
    return adapter_path


def _provenance(summary: dict[str, Any]) -> dict[str, Any]:
    """What the adapter records about how it was made (small: it travels inside the GGUF)."""
    search = summary["data"]["search"]
    return {
        "search": {k: search.get(k) for k in ("engine", "search", "default")},
        "data": {
            k: summary["data"][k] for k in ("records", "uninformative", "ties", "examples", "answer_examples", "tasks")
        },
        "sft": summary["sft"],
        "seed": summary["sft"]["seed"],
        "loss_per_epoch": summary["loss_per_epoch"],
        "versions": summary["versions"],
    }
