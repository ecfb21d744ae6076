"""Arithmetic (mathematics): every one-digit sum, difference, product and exact quotient, scored by exact match.

GSM8K is beyond a 135M model at every setting (``hag-train room``: at its floor), so the mathematics family needs
a task within a small model's reach for the planner to learn anything about it. These are the questions of
BIG-bench's ``arithmetic`` task, one-digit files, asked as BIG-bench asks them ("What is 7 times 8?"): every pair of
digits for addition, subtraction and multiplication, and for division the pairs of digits 1-9 that divide exactly,
323 questions in all. They are generated here because BIG-bench's sdist (``bigbench==1.0.0``), where the files came
from until December 2026, is no longer on PyPI; BIG-bench's own generator (``arithmetic/generate_examples.py`` in
``bigbench==0.0.1``, still listed) enumerates the one-digit pairs in the same order (first digit outer) with the same
wording, so the ids, and the seeded split, are those of the files (the split sizes, 133/52/138, are unchanged).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from typing_extensions import override

from .base import Example, Phrasing
from .gsm8k import NumericAnswerTask
from .registry import register_task

__all__ = ["Arithmetic"]

#: Operation -> (its word in the question, its sign, its result, whether a pair of digits belongs to the task).
OPERATIONS: dict[str, tuple[str, str, Callable[[int, int], int], Callable[[int, int], bool]]] = {
    "addition": ("plus", "+", operator.add, lambda a, b: True),
    "subtraction": ("minus", "-", operator.sub, lambda a, b: True),
    "multiplication": ("times", "×", operator.mul, lambda a, b: True),
    "division": ("divided by", "÷", operator.floordiv, lambda a, b: a > 0 and b > 0 and a % b == 0),
}


@register_task
class Arithmetic(NumericAnswerTask):
    """One-digit arithmetic questions ("What is 7 times 8?"); the target is the integer answer."""

    name = "arithmetic"
    source = "generated: the questions of BIG-bench's arithmetic/1_digit_* files (Apache-2.0), as BIG-bench words them"
    # 323 questions: 40% to test so that the suite's test mean is measured on ~130 of them.
    fractions = (0.4, 0.2, 0.4)
    max_tokens = 24
    """A number, perhaps in a sentence: more tokens only buy rambling."""
    phrasings = (
        Phrasing("number_only", "{input}\nReply with the number only."),
        Phrasing("equation", "{a} {sign} {b} = ?"),
        Phrasing("compute", "Compute {a} {sign} {b}."),
        Phrasing("calculator", "{input}", system="You are a calculator. Reply with a single number."),
        Phrasing("answer_line", 'What do you get for {a} {word} {b}? End your reply with "Answer: <number>".'),
        Phrasing("chatty", "hi! my kid asked me what {a} {word} {b} is and I blanked, lol. what is it?"),
        Phrasing("blank", "Fill in the blank: {a} {sign} {b} = ___", test_only=True),
        Phrasing(
            "tutor",
            "Can you work out {a} {word} {b} for me?",
            system="You are a patient maths teacher for young children.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        out = []
        for op, (word, sign, result, kept) in OPERATIONS.items():
            pairs = [(a, b) for a in range(10) for b in range(10) if kept(a, b)]
            for i, (a, b) in enumerate(pairs):
                out.append(
                    Example(
                        id=f"arithmetic-{op}-{i}",
                        input=f"What is {a} {word} {b}?",
                        target=str(result(a, b)),
                        meta={"op": op, "a": a, "b": b, "word": word, "sign": sign},
                    )
                )
        return out
