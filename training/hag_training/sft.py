"""LoRA instruction tuning: teach a model to name, for each input, the configuration the search found best.

One training example is the task's conversation plus the planner turn (:func:`hag_chain.planner_messages`),
rendered with the base model's chat template exactly as the runtime renders it, followed by the planner's reply in
the prompt version's format (:func:`hag_chain.protocol.planner_reply`: the label's one-token code, or its
configuration line). Only the reply's tokens carry loss; the prompt is masked with ``-100``.

Two modes. ``alora`` (the default) trains an activated LoRA (peft's ``alora_invocation_tokens``) whose invocation
is the rendered planner turn (:func:`hag_chain.protocol.invocation_text`): the adapter acts from the planner turn
on, so the conversation stays the base model's computation and the answer is the bare base model's. ``lora``
trains a plain LoRA that also learns the base model's own answers, so that it can stay on for the answer.

Training is transformers' ``Trainer`` with a peft LoRA; the result is exported with :mod:`hag_gguf` as a GGUF
LoRA adapter carrying the ``hag.*`` metadata the runtime reads (search space, prompt version, base model,
provenance, and for a code reply the code token ids it was tuned on). The same code runs on several GPUs under
``accelerate launch``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from hag_chain import HAGKeys, SearchSpace, planner_messages
from hag_chain.protocol import PLANNER_PROMPTS, TUNED_PROMPT_VERSION, invocation_text, planner_reply
from hag_training.search import Label

__all__ = ["SFTConfig", "SFTResult", "build_examples", "load_records", "prepare_base", "train_adapter"]

ADAPTER_FILE = "hag-adapter.lora.gguf"
IGNORE_INDEX = -100  # the label value transformers' losses skip


@dataclass
class SFTConfig:
    """Hyperparameters of one tuning run (all recorded in the adapter's provenance)."""

    rank: int = 8
    """LoRA rank."""
    alpha: int = 16
    """LoRA alpha (scale ``alpha / rank``)."""
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    top_layers: int | None = 8
    """Adapt only the last N transformer layers (``None``: all). The frozen layers below need no backward pass,
    which roughly halves training time on a CPU; choosing a configuration needs little more than the top layers."""
    epochs: float = 3.0
    learning_rate: float = 2e-3
    batch_size: int = 8
    max_length: int = 1024
    """Longer examples are skipped (and counted)."""
    seed: int = 0
    mode: Literal["alora", "lora"] = "alora"
    """``alora``: an activated LoRA, on from the planner turn only; the answer is the bare base model's, so
    answer examples are not made. ``lora``: a plain LoRA, on for the whole context."""
    prompt_version: str = TUNED_PROMPT_VERSION
    """The planner prompt tuned on (a key of ``hag_chain.protocol.PLANNER_PROMPTS``), recorded in the adapter."""
    answers: bool = True
    """``lora`` mode: also train on the base model's own answers (see :func:`build_examples`), so the adapter can
    stay on for the answer. ``False`` trains the configuration line only; run such an adapter with
    ``answer_with_adapter=False``. Ignored in ``alora`` mode."""
    ties: Literal["keep", "drop"] = "keep"
    """Inputs on which every tried configuration scored the same carry no preference of their own; the search
    labels them with the task's best stage-1 configuration. ``keep`` trains on them (the task's prior), ``drop``
    leaves them out."""
    outtype: str = "f32"
    """Tensor type of the GGUF adapter (``hag_gguf.ADAPTER_OUTTYPES``). Export only: a rerun that changes it
    resumes the finished training and exports again. f32 by default: with a rank-8 adapter on SmolLM2-135M the
    planner took 231 ms against 334 ms for the same adapter in f16 (llama.cpp's batched LoRA products are slower
    on f16 weights here), for 1.3 MB more on disk."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every setting, so that a bad one fails before any model is loaded.

        Raises:
            ValueError: A setting is out of range or of the wrong type; the message names it and what it accepts.

        """
        from hag_gguf import ADAPTER_OUTTYPES

        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        def integer(v: Any, low: int) -> bool:
            return number(v) and isinstance(v, int) and v >= low

        modules = self.target_modules
        checks = (
            ("rank", integer(self.rank, 1), "an integer >= 1"),
            ("alpha", number(self.alpha) and self.alpha > 0, "a number > 0"),
            ("dropout", number(self.dropout) and 0 <= self.dropout < 1, "a number in [0, 1)"),
            (
                "target_modules",
                isinstance(modules, (tuple, list)) and bool(modules) and all(isinstance(m, str) and m for m in modules),
                "a non-empty tuple of module names",
            ),
            ("top_layers", self.top_layers is None or integer(self.top_layers, 1), "None (all) or an integer >= 1"),
            ("epochs", number(self.epochs) and self.epochs > 0, "a number > 0"),
            ("learning_rate", number(self.learning_rate) and self.learning_rate > 0, "a number > 0"),
            ("batch_size", integer(self.batch_size, 1), "an integer >= 1"),
            ("max_length", integer(self.max_length, 1), "an integer >= 1"),
            ("seed", integer(self.seed, 0), "an integer >= 0"),
            ("mode", self.mode in ("alora", "lora"), "'alora' or 'lora'"),
            ("prompt_version", self.prompt_version in PLANNER_PROMPTS, f"one of {', '.join(PLANNER_PROMPTS)}"),
            ("answers", isinstance(self.answers, bool), "True or False"),
            ("ties", self.ties in ("keep", "drop"), "'keep' or 'drop'"),
            ("outtype", self.outtype in ADAPTER_OUTTYPES, f"one of {', '.join(ADAPTER_OUTTYPES)}"),
        )
        for name, ok, accepted in checks:
            if not ok:
                msg = f"SFT setting `{name}` must be {accepted}; got {getattr(self, name)!r}."
                raise ValueError(msg)


#: Settings that only change how the trained adapter is written, not training: left out of the resume fingerprint.
_EXPORT_ONLY = frozenset({"outtype"})


@dataclass
class SFTResult:
    """Where the outputs are and what training measured."""

    adapter_path: Path
    peft_dir: Path
    summary: dict[str, Any]


def load_records(data: str | os.PathLike[str]) -> list[Label]:
    """Read the search's ``labels.jsonl`` (``data`` is the file or the search's output folder)."""
    path = Path(data)
    if path.is_dir():
        path = path / "labels.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass the output folder of `hag-train search` or its labels.jsonl")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} holds no labelled inputs; run `hag-train search` with --n-train > 0")
    try:
        return [Label.from_dict(json.loads(line)) for line in lines]
    except ValueError as e:
        raise ValueError(f"{path} is not a `hag-train search` output: {e}") from e


def resolve_ties(records: list[Label], mode: str) -> tuple[list[Label], int]:
    """Apply the ``ties`` policy; returns the records to train on and how many were uninformative."""
    flat = [len(set(r.scores.values())) <= 1 for r in records]
    kept = records if mode == "keep" else [r for r, f in zip(records, flat, strict=True) if not f]
    return kept, sum(flat)


def build_examples(
    records: Iterable[Label],
    tokenizer,
    *,
    prompt_version: str = TUNED_PROMPT_VERSION,
    max_length: int,
    answers: bool = True,
    invocation: list[int] | None = None,
    space: SearchSpace | None = None,
) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenised training examples; returns (examples, skipped as longer than ``max_length``).

    Per record, a *configuration example*: the conversation plus the planner turn, then the planner's reply in
    ``prompt_version``'s format (:func:`~hag_chain.protocol.planner_reply` on ``space``: the label's configuration
    line, or its one-token code), the only tokens with loss. With ``answers``, also an *answer example* where the
    record has a ``label_answer``: the conversation alone, then the base model's own answer under the label
    configuration (ended by EOS unless it ran to the task's token limit), the only tokens with loss. Answer examples
    teach the adapter to leave answers as the base model writes them, so it can stay on for phase 2 (which then
    reuses the planner's KV cache); without them a tuned adapter answers every prompt with a configuration line.

    Prompts are rendered as the runtime renders them: the chat template with the generation prompt, then the BOS
    token only where the tokenizer adds one and the template did not write it.

    With ``invocation`` (aLoRA token ids), every configuration example's prompt must end with it: peft adapts from
    the last occurrence of the invocation on, and a row without it trains nothing.

    Raises:
        ValueError: A configuration example's prompt does not end with ``invocation``; or the reply is a code and
            there is no ``space``, the grid is too large for codes, or a code is not one token of ``tokenizer``.

    """
    from hag_training.scoring import answer_tokens
    from hag_training.tasks import TASKS, get_task

    def encode(messages: list[dict[str, Any]], target: list[int]) -> dict[str, list[int]] | None:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompt = tokenizer(text, add_special_tokens=False).input_ids
        bos = tokenizer.bos_token_id
        if getattr(tokenizer, "add_bos_token", False) and bos is not None and prompt[:1] != [bos]:
            prompt = [bos, *prompt]
        if len(prompt) + len(target) > max_length:
            return None
        n = len(prompt) + len(target)
        return {
            "input_ids": prompt + target,
            "attention_mask": [1] * n,
            "labels": [IGNORE_INDEX] * len(prompt) + target,
        }

    code_reply = PLANNER_PROMPTS[prompt_version].reply == "code"
    if code_reply and space is None:
        raise ValueError(_NO_SPACE_FOR_CODES.format(version=prompt_version))

    def reply(rec: Label) -> list[int]:
        if space is None:
            return tokenizer(rec.label_line, add_special_tokens=False).input_ids
        config = space.parse(rec.label_line)
        text = planner_reply(space, {k: getattr(config, k) for k in space.knobs}, prompt_version)
        tokens = tokenizer(text, add_special_tokens=False).input_ids
        if code_reply and len(tokens) != 1:
            msg = (
                f"The configuration code {text!r} is {len(tokens)} tokens for this tokenizer, not one; tune with "
                "`--prompt-version hag-v2` (a JSON line) instead."
            )
            raise ValueError(msg)
        return tokens

    examples, skipped = [], 0
    for rec in records:
        line = reply(rec)
        encoded = [encode(planner_messages(rec.messages, prompt_version), line)]
        if invocation and encoded[0] is not None:
            prompt_end = len(encoded[0]["input_ids"]) - len(line)
            if encoded[0]["input_ids"][prompt_end - len(invocation) : prompt_end] != invocation:
                msg = (
                    f"The planner prompt of input {rec.example_id or '?'!r} ({rec.task}) does not end with the aLoRA "
                    f"invocation {invocation}: the chat template renders the planner turn differently in context. "
                    "Train a plain LoRA (`--mode lora`)."
                )
                raise ValueError(msg)
        if answers and rec.label_answer:
            answer = tokenizer(rec.label_answer, add_special_tokens=False).input_ids
            limit = answer_tokens(get_task(rec.task)) if rec.task in TASKS else None
            if limit is None or len(answer) < limit:
                answer.append(tokenizer.eos_token_id)
            encoded.append(encode(rec.messages, answer))
        skipped += sum(e is None for e in encoded)
        examples.extend(e for e in encoded if e is not None)
    return examples, skipped


_NO_SPACE_FOR_CODES = (
    "Prompt version {version} answers with codes of the search space, but the labels' provenance has no `space` "
    "(an older `hag-train search`?): rerun the search, or tune with `--prompt-version hag-v2` (a JSON line)."
)


def prepare_base(base: str | os.PathLike[str] | None, work_dir: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """A transformers checkpoint directory for ``base`` and the ``general.name`` of its GGUF, if it is one.

    ``base`` is a transformers directory, a GGUF file (loaded by transformers with ``gguf_file=`` and saved once
    under ``work_dir/base-hf``), or ``None`` for hag-chain's default SmolLM2 model.
    """
    path = _base_path(base)
    if path.is_dir():
        return path, None
    from hag_gguf import hf_checkpoint_from_gguf

    from hag_chain import read_gguf_metadata

    name = read_gguf_metadata(str(path)).get("general.name")
    out = Path(work_dir) / "base-hf"
    stamp = out / "source.json"
    source = {"gguf": str(path.resolve()), "size": path.stat().st_size}
    if not (stamp.is_file() and json.loads(stamp.read_text()) == source):
        shutil.rmtree(out, ignore_errors=True)
        hf_checkpoint_from_gguf(path, out)
        stamp.write_text(json.dumps(source))
    return out, name


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
    space = _space_in_line_order(provenance, records[0].label_line)
    prompt_version = config.prompt_version
    code_reply = PLANNER_PROMPTS[prompt_version].reply == "code"
    if code_reply:  # before any model is loaded: a grid codes cannot name, or none at all
        if space is None:
            raise ValueError(_NO_SPACE_FOR_CODES.format(version=prompt_version))
        space.codes()
    _base_path(base)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` {out} is a file; pass a folder (it is created if missing)")

    import torch
    from hag_gguf import convert_adapter
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_utils import get_last_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    train_records, ties = resolve_ties(records, config.ties)

    base_dir, base_name = prepare_base(base, out)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    invocation = alora_invocation(tokenizer, prompt_version) if config.mode == "alora" else None
    imitate_answers = config.answers and config.mode == "lora"
    examples, skipped = build_examples(
        train_records,
        tokenizer,
        prompt_version=prompt_version,
        max_length=config.max_length,
        answers=imitate_answers,
        invocation=invocation,
        space=space,
    )
    if not examples:
        raise ValueError(f"no training example fits max_length={config.max_length}; raise it")

    set_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    n_layers = model.config.num_hidden_layers
    layers = None if config.top_layers is None else list(range(max(0, n_layers - config.top_layers), n_layers))
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
        alora_invocation_tokens=invocation,
    )
    model = get_peft_model(model, lora)

    # A checkpoint is only resumed when it was made from the same data and training settings.
    trained_with = {k: v for k, v in asdict(config).items() if k not in _EXPORT_ONLY}
    fingerprint = json.dumps([trained_with, str(base_dir), examples], sort_keys=True)
    run_id = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    trainer_dir = out / "trainer"
    stamp = trainer_dir / "run_id"
    if trainer_dir.exists() and (not stamp.is_file() or stamp.read_text() != run_id):
        shutil.rmtree(trainer_dir)
    trainer_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(run_id)

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
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=collator)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=get_last_checkpoint(str(trainer_dir)))
    # Training time summed over resumed runs (a rerun of a finished run trains nothing and adds ~0 s).
    clock = trainer_dir / "train_seconds"
    seconds = (float(clock.read_text()) if clock.is_file() else 0.0) + time.perf_counter() - start
    clock.write_text(f"{seconds:.1f}")

    peft_dir = out / "peft"
    model.save_pretrained(peft_dir)
    losses = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]
    summary = {
        "data": {
            "labels": str(Path(data)),
            "records": len(records),
            "uninformative": ties,
            "ties": config.ties,
            "examples": len(examples),
            "answer_examples": (
                sum(bool(r.label_answer) for r in train_records) if config.mode == "lora" and config.answers else 0
            ),
            "skipped_too_long": skipped,
            "tasks": dict(Counter(r.task for r in train_records)),
            "label_lines": {
                task: dict(Counter(r.label_line for r in train_records if r.task == task).most_common())
                for task in sorted({r.task for r in train_records})
            },
            "search": provenance,
        },
        "sft": asdict(config) | {"target_modules": list(config.target_modules), "alora_invocation_tokens": invocation},
        "base": {"path": str(base) if base else "default (SmolLM2-135M-Instruct Q4_1)", "general.name": base_name},
        "loss_per_epoch": losses,
        "train_seconds": round(seconds, 1),
        "versions": _versions(),
    }
    metadata = {HAGKeys.PROMPT_VERSION: prompt_version, HAGKeys.PROVENANCE: _provenance(summary)}
    if space is not None:
        metadata[HAGKeys.SEARCH_SPACE] = space.to_json()
    if code_reply and space is not None:
        codes = [tokenizer(c, add_special_tokens=False).input_ids[0] for c in space.codes()]
        metadata[HAGKeys.CODE_TOKENS] = json.dumps(codes)
    adapter_path = out / ADAPTER_FILE
    convert_adapter(
        peft_dir, adapter_path, base_dir, config.outtype, name="hag-adapter", base_name=base_name, hag_metadata=metadata
    )
    (out / "sft_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return SFTResult(adapter_path=adapter_path, peft_dir=peft_dir, summary=summary)


def alora_invocation(tokenizer, prompt_version: str) -> list[int]:
    """The aLoRA invocation: the planner turn of ``prompt_version`` as ``tokenizer``'s chat template renders it."""

    def render(messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    return tokenizer(invocation_text(render, prompt_version), add_special_tokens=False).input_ids


def _space_in_line_order(provenance: dict[str, Any], line: str) -> SearchSpace | None:
    """The search's space with its knobs in the order the labels write them (the order the planner must follow).

    The provenance is stored with sorted keys, which loses the space's knob order.
    """
    if "space" not in provenance:
        return None
    values = SearchSpace.model_validate(provenance["space"]).values
    order = list(json.loads(line))
    if set(order) != set(values):
        raise ValueError(f"the label line {line} does not write the search space's knobs {sorted(values)}")
    return SearchSpace(values={k: values[k] for k in order})


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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("hag-chain", "torch", "transformers", "peft", "llama-cpp-python", "gguf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out
