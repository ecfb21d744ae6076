"""Training examples from the search's labels: what the planner turn is taught, token by token.

One training example is the task's conversation with the planner prompt (:func:`hag_chain.planner_messages` and
:func:`hag_chain.planner_suffix`), rendered with the base model's chat template exactly as the runtime renders it,
followed by the planner's reply in
the prompt version's format (:func:`hag_chain.planner_reply`: the label's one-token code, or its configuration
line). Only the reply's tokens carry loss; the prompt is masked with ``-100``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hag_chain import (
    PLANNER_PROMPTS,
    TUNED_PROMPT_VERSION,
    SearchSpace,
    invocation_text,
    planner_messages,
    planner_reply,
    planner_suffix,
)
from hag_training.labels import Label

__all__ = [
    "IGNORE_INDEX",
    "NO_SPACE_FOR_CODES",
    "alora_invocation",
    "build_examples",
    "label_space",
    "resolve_ties",
]

IGNORE_INDEX = -100  # the label value transformers' losses skip


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

    Per record, a *configuration example*: the conversation with the planner prompt, then the planner's reply in
    ``prompt_version``'s format (:func:`~hag_chain.planner_reply` on ``space``: the label's configuration
    line, or its one-token code), the only tokens with loss. With ``answers``, also an *answer example* where the
    record has a ``label_answer``: the conversation alone, then the base model's own answer under the label
    configuration (ended by EOS unless it ran to the task's token limit), the only tokens with loss. Answer examples
    teach the adapter to leave answers as the base model writes them, so it can stay on for phase 2 (which then
    reuses the planner's KV cache); without them a tuned adapter answers every prompt with a configuration line.

    Prompts are rendered as the runtime renders them: the chat template with the generation prompt (and the
    record's tools, where the search's model was offered them in its template's slot), then the BOS token only where
    the tokenizer adds one and the template did not write it.

    With ``invocation`` (aLoRA token ids), every configuration example's prompt must end with it: peft adapts from
    the last occurrence of the invocation on, and a row without it trains nothing.

    Raises:
        ValueError: A configuration example's prompt does not end with ``invocation``; or the reply is a code and
            there is no ``space``, the grid is too large for codes, or a code is not one token of ``tokenizer``.

    """
    from hag_training.scoring import answer_tokens
    from hag_training.tasks import TASKS, get_task

    def encode(
        messages: list[dict[str, Any]], tools: list[dict[str, Any]], target: list[int], suffix: str = ""
    ) -> dict[str, list[int]] | None:
        text = tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False, add_generation_prompt=True)
        prompt = tokenizer(text, add_special_tokens=False).input_ids
        bos = tokenizer.bos_token_id
        if getattr(tokenizer, "add_bos_token", False) and bos is not None and prompt[:1] != [bos]:
            prompt = [bos, *prompt]
        if suffix:  # tokenised on its own, as the runtime does (hag_chain.planner_suffix)
            prompt += tokenizer(suffix, add_special_tokens=False).input_ids
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
        raise ValueError(NO_SPACE_FOR_CODES.format(version=prompt_version))

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

    examples: list[dict[str, list[int]]] = []
    skipped = 0
    for rec in records:
        line = reply(rec)
        planner = planner_messages(rec.messages, prompt_version)
        encoded = [encode(planner, rec.tools, line, planner_suffix(prompt_version))]
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
            encoded.append(encode(rec.messages, rec.tools, answer))
        skipped += sum(e is None for e in encoded)
        examples.extend(e for e in encoded if e is not None)
    return examples, skipped


NO_SPACE_FOR_CODES = (
    "Prompt version {version} answers with codes of the search space, but the labels' provenance has no `space` "
    "(an older `hag-train search`?): rerun the search, or tune with `--prompt-version hag-v2` (a JSON line)."
)


def alora_invocation(tokenizer, prompt_version: str) -> list[int]:
    """The aLoRA invocation: ``prompt_version``'s planner prompt after a conversation (``tokenizer``'s template)."""

    def render(messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    return tokenizer(invocation_text(render, prompt_version), add_special_tokens=False).input_ids


def label_space(provenance: dict[str, Any], line: str) -> SearchSpace | None:
    """The search's space (from its ``provenance``) with its knobs in the order the label ``line`` writes them.

    That is the order the planner must follow; the provenance is stored with sorted keys, which loses it. ``None``
    when the provenance has no space (an older search).
    """
    if "space" not in provenance:
        return None
    values = SearchSpace.model_validate(provenance["space"]).values
    order = list(json.loads(line))
    if set(order) != set(values):
        raise ValueError(f"the label line {line} does not write the search space's knobs {sorted(values)}")
    return SearchSpace(values={k: values[k] for k in order})
