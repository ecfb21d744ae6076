"""Tuning an activated LoRA on the positions it changes: the conversation before its invocation is computed once.

An aLoRA acts from its invocation on (:mod:`~hag_training.sft`): every position before it is the base model's
computation, the same in every epoch, and only the planner's reply carries loss. So the base model's keys and values
of each example's prefix are computed once, without gradients (:func:`cache_prefixes`), and every training step runs
the model on the suffixes alone (the invocation and the reply: about ten tokens on Qwen2.5 against a hundred for the
whole example) on top of them (:class:`PrefixCollator`). The loss and the gradients are the whole example's
(tests/training/test_sft_prefix.py compares them without dropout; with it, the dropout's random numbers are drawn
for other positions, so a tuning is another draw). On Qwen2.5-Coder-0.5B, five epochs on the twelve-task suite's 384
labels took 332 s (109 s of it the prefixes) against 2,417 s on whole examples. The prefixes stay in memory: about
25 KB a token for Qwen2.5-0.5B in float32, 1 GB for 384 examples of 108 tokens.

Written here because neither transformers' ``Trainer`` nor peft offers it: peft finds the invocation
(``calculate_alora_offsets``, the rule its aLoRA layers follow) and transformers' models continue from past keys
and values (``DynamicCache``); this module joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PrefixCollator", "cache_prefixes"]


def cache_prefixes(
    model: Any, examples: list[dict[str, list[int]]], batch_size: int, *, progress: bool = False
) -> list[dict[str, Any]]:
    """Each example with the base model's keys and values of its prefix, everything before the aLoRA's invocation.

    Args:
        model: The peft model with the activated LoRA being trained (its adapter is switched off for the prefixes).
        examples: ``input_ids`` and ``labels`` of whole examples (:func:`~hag_training.sft_examples.build_examples`).
        batch_size: Prefixes computed together (left-padded).
        progress: Show a progress bar.

    Returns:
        Per example, its ``input_ids`` and ``labels`` (whole, so that transformers' ``group_by_length`` batches
        them as it batches whole examples) and ``past``: one ``(keys, values)`` pair per layer, each
        ``[1, heads, prefix length, head size]``, for :class:`PrefixCollator`.

    Raises:
        ValueError: An example does not contain the invocation, or carries loss before it.

    """
    import torch
    from peft.tuners.lora.variants import calculate_alora_offsets  # the rule peft's aLoRA layers follow

    splits = []
    for i, ex in enumerate(examples):
        ids = torch.tensor([ex["input_ids"]])
        (offset,) = calculate_alora_offsets(model.peft_config, model.active_adapter, ids)
        if offset is None:
            msg = (
                f"training example {i} does not contain the aLoRA invocation, so nothing in it would be tuned: build "
                "the examples with the adapter's invocation tokens (`build_examples(..., invocation=...)`)"
            )
            raise ValueError(msg)
        split = len(ex["input_ids"]) - offset
        # Up to the invocation's first token: its label is predicted from the last prefix position, not computed here.
        if any(t != -100 for t in ex["labels"][: split + 1]):
            msg = (
                f"training example {i} carries loss on or before the aLoRA invocation's first token, which an aLoRA "
                "cannot learn: only the tokens after the invocation can carry loss (build the examples with "
                "`build_examples(..., invocation=...)`)"
            )
            raise ValueError(msg)
        splits.append(split)

    past: list[Any] = [None] * len(examples)
    was_training = model.training
    model.eval()  # the base model's computation, as at inference (no dropout)
    try:
        _fill(model, examples, splits, past, batch_size, progress)
    finally:
        model.train(was_training)
    return [ex | {"past": p} for ex, p in zip(examples, past, strict=True)]


def _fill(
    model: Any,
    examples: list[dict[str, list[int]]],
    splits: list[int],
    past: list[Any],
    batch_size: int,
    progress: bool,
) -> None:
    """Compute each example's prefix (``splits[i]`` tokens) into ``past[i]``, similar lengths batched together."""
    import torch
    from tqdm.auto import tqdm

    order = sorted(range(len(examples)), key=lambda i: splits[i])  # little padding
    device = next(model.parameters()).device  # the training device: `sft` moves the model there first
    with torch.no_grad(), model.disable_adapter():
        for start in tqdm(range(0, len(order), batch_size), desc="prefixes", unit="batch", disable=not progress):
            batch = order[start : start + batch_size]
            width = max(splits[i] for i in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            positions = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                n = splits[i]
                ids[row, width - n :] = torch.tensor(examples[i]["input_ids"][:n])
                mask[row, width - n :] = 1
                positions[row, width - n :] = torch.arange(n)
            inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
            out = model(**{k: v.to(device) for k, v in inputs.items()}, use_cache=True, logits_to_keep=1)
            layers = out.past_key_values.to_legacy_cache()
            for row, i in enumerate(batch):
                n = splits[i]
                past[i] = tuple(
                    (k[row : row + 1, :, width - n :].clone(), v[row : row + 1, :, width - n :].clone())
                    for k, v in layers
                )


@dataclass
class PrefixCollator:
    """Batches :func:`cache_prefixes`'s examples for the model: their suffixes on top of their left-padded prefixes.

    The prefixes are padded on the left to the longest (masked out), the suffixes on the right (masked, no loss);
    each suffix's positions continue its own prefix's.
    """

    pad_token_id: int

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        """``input_ids``, ``labels``, ``attention_mask`` (prefix and suffix), ``position_ids``, ``past_key_values``."""
        import torch
        from transformers import DynamicCache

        prefix = [f["past"][0][0].shape[2] for f in features]
        suffixes = [(f["input_ids"][n:], f["labels"][n:]) for f, n in zip(features, prefix, strict=True)]
        width, length = max(prefix), max(len(ids) for ids, _ in suffixes)
        rows = len(features)
        ids = torch.full((rows, length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((rows, length), -100, dtype=torch.long)
        mask = torch.zeros((rows, width + length), dtype=torch.long)
        positions = torch.zeros((rows, length), dtype=torch.long)
        for row, ((suffix, suffix_labels), n) in enumerate(zip(suffixes, prefix, strict=True)):
            s = len(suffix)
            ids[row, :s] = torch.tensor(suffix)
            labels[row, :s] = torch.tensor(suffix_labels)
            mask[row, width - n : width + s] = 1
            positions[row] = torch.arange(n, n + length)

        def padded(layer: int, kv: int) -> Any:
            return torch.cat(
                [
                    torch.nn.functional.pad(f["past"][layer][kv], (0, 0, width - n, 0))
                    for f, n in zip(features, prefix, strict=True)
                ]
            )

        past = DynamicCache()
        for layer in range(len(features[0]["past"])):
            past.update(padded(layer, 0), padded(layer, 1), layer)
        return {
            "input_ids": ids,
            "labels": labels,
            "attention_mask": mask,
            "position_ids": positions,
            "past_key_values": past,
        }
