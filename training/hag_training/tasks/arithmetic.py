"""Arithmetic (mathematics): BIG-bench's one-digit sums, differences, products and quotients, scored by exact match.

GSM8K is beyond a 135M model at every setting (``hag-train room``: at its floor), so the mathematics family needs
a task within a small model's reach for the planner to learn anything about it. BIG-bench's ``arithmetic`` task
ships one file per operation and digit count; the one-digit files hold every pair of digits (division: the pairs
that divide exactly), 323 questions in all.
"""

from __future__ import annotations

import json

from typing_extensions import override

from ..data_sources import read_member
from .base import Example, user
from .gsm8k import NumericAnswerTask
from .registry import register

__all__ = ["Arithmetic"]

OPERATIONS = ("addition", "subtraction", "multiplication", "division")
ARITHMETIC_MEMBERS = tuple(
    f"bigbench-1.0.0/bigbench/benchmark_tasks/arithmetic/1_digit_{op}/task.json" for op in OPERATIONS
)


@register
class Arithmetic(NumericAnswerTask):
    """One-digit arithmetic questions ("What is 7 times 8?"); the target is the integer answer."""

    name = "arithmetic"
    source = "bigbench==1.0.0 sdist bigbench/benchmark_tasks/arithmetic/1_digit_*/task.json (Apache-2.0)"
    # 323 questions: 40% to test so that the suite's test mean is measured on ~130 of them.
    fractions = (0.4, 0.2, 0.4)
    max_tokens = 24
    """A number, perhaps in a sentence: more tokens only buy rambling."""

    @override
    def _load(self) -> list[Example]:
        out = []
        for op, member in zip(OPERATIONS, ARITHMETIC_MEMBERS, strict=True):
            for i, d in enumerate(json.loads(read_member("bigbench", member))["examples"]):
                out.append(Example(id=f"arithmetic-{op}-{i}", input=d["input"], target=d["target"], meta={"op": op}))
        return out

    @override
    def messages(self, example: Example) -> list[dict[str, str]]:
        return user(f"{example.input}\nReply with the number only.")
