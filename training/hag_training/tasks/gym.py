"""Reasoning Gym tasks: seeded procedural generators, at the settings where a 135M model does anything at all.

Source: ``reasoning-gym==0.1.25`` (PyPI, Apache-2.0; Open-Thought's procedural datasets with answer checkers). Each
task takes the first 600 items of one generator, ``reasoning_gym.create_dataset(generator, seed=0, size=600,
**settings)``: an item is a pure function of the seed, its index and the settings, so the examples are the same on
every machine and need no download. An example's id is ``"{task}-{index}"``, its target the generator's answer, its
``group`` its input (the few items a generator repeats share a split), and its ``meta`` holds the generator's
question verbatim (``question``) and the parts the phrasings are built from. Where the generator's question carries
its own answer-format demand, the example's ``input`` is the question without it, so that the phrasings can ask for
their own format; each task also has a ``source`` phrasing asking the generator's question as it is.

* ``chain_sum`` (mathematics): generator ``chain_sum``, 2 or 3 terms of 1 or 2 digits joined by + and -
  ("15 - 43 - 75"); the target is the integer result, scored by exact numeric match of the reply's final number.
* ``needle_haystack`` (reasoning): generator ``needle_haystack``, 3 statements ("Tayo accepts the color red. Ayan
  bears playing rugby. Hubert values pandas.") and a question about one of them ("Who accepts the color red?"); the
  target is the name. Chance: 1/3, a guess among the three names.

Score, 0 or 1: the answer is extracted from the reply by this package's rules (a chatty "Sure! The answer is 12."
counts) and compared with the target. The generators' checkers (``score_answer``) are not used to score: they take
the whole reply as the answer. ``chain_sum``'s gives "Sure! The answer is -103." 0.16 for a right -103 (the share of
the reply the answer is), and partial credit to a wrong answer that contains the right one ("120" gets 2/3 for 12);
``needle_haystack``'s gives a name in a sentence 0. The tests use them instead, to check that every target is what
the generator's own checker accepts.

Measured with SmolLM2-135M-Instruct (``hag-train room``, 8 dev inputs, k = 2, greedy and temperature 0.8 with top-p
0.95, top-k 40): ``chain_sum`` 0.25 greedy, 0.19 sampled (floor 0); ``needle_haystack`` 0.25 greedy, 0.06 sampled,
at its floor of 1/3 (the model mostly answers with a name that is in none of the statements; with 2 statements it
scored 0.38 of 24, floor 1/2). Tried and left out, each at 0 to 0.06 (greedy, 8 to 24 items): ``leg_counting``
(1-2 kinds of animal, 1-3 of each: the model does not know that a chicken has 2 legs), ``letter_counting`` (3-8
words; and the count is 1 for half the items, so a constant "1" would beat the model), ``word_sequence_reversal``
(2-3 words: it repeats the list unchanged), ``spell_backward`` (3-4 letters), ``letter_jumble`` (one word) and
``family_relationships`` (whose in-law answers are reversed: a son's wife is given as her mother-in-law's
"mother-in-law"); ``syllogism`` (invalid_ratio 0.5, half "Yes") got a greedy "No" to every question, its floor.
``basic_arithmetic`` without parentheses is broken in 0.1.25 (it writes the divisor it drew but divides by another:
"Calculate 5 / 33." has the answer 260), so ``chain_sum`` is the arithmetic generator used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from typing_extensions import override

from ..metrics import after_last
from .base import Example, Phrasing, Task
from .gsm8k import NumericAnswerTask
from .registry import register_task

__all__ = ["ChainSum", "GymTask", "NeedleHaystack"]


class GymTask(Task):
    """The first `size` items of one reasoning-gym generator at fixed `settings` and `seed`.

    A subclass names the `generator` and its `settings`, says how an item becomes an example (:meth:`core`,
    :meth:`parts`, :meth:`target`), and scores like any task (`extract`, `score`).
    """

    generator: ClassVar[str]
    """The generator's name in ``reasoning_gym.create_dataset``."""
    settings: ClassVar[Mapping[str, Any]] = {}
    """Its configuration (the difficulty), passed as keyword arguments."""
    size: ClassVar[int] = 600
    seed: ClassVar[int] = 0

    def dataset(self) -> Any:
        """The generator's dataset (a ``reasoning_gym`` ``ProceduralDataset``): its items and its ``score_answer``."""
        import reasoning_gym  # type: ignore[import-untyped]  # deferred: importing it takes a second

        return reasoning_gym.create_dataset(self.generator, seed=self.seed, size=self.size, **self.settings)

    @override
    def _load(self) -> list[Example]:
        out = []
        for i, item in enumerate(self.dataset()):
            text = self.core(item)
            meta = {"question": item["question"], **self.parts(item)}
            out.append(Example(id=f"{self.name}-{i}", input=text, target=self.target(item), meta=meta, group=text))
        return out

    def core(self, item: Mapping[str, Any]) -> str:
        """An example's ``input``: the generator's question, less any answer-format demand it makes."""
        return str(item["question"]).strip()

    def parts(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """What the phrasings build on besides ``input`` and ``question`` (taken from the item)."""
        return {}

    def target(self, item: Mapping[str, Any]) -> Any:
        """An example's ``target``: the generator's answer."""
        return item["answer"]


@register_task
class ChainSum(GymTask, NumericAnswerTask):
    """600 sums and differences of 2-3 numbers of 1-2 digits ("98 + 93 - 77"); the target is the integer result.

    Scored by exact numeric match of the reply's final number (:func:`~hag_training.metrics.extract_number`).
    """

    name = "chain_sum"
    family = "mathematics"
    source = "reasoning-gym==0.1.25 chain_sum (Apache-2.0): seed 0, 2-3 terms of 1-2 digits"
    generator = "chain_sum"
    settings = {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 2}
    max_tokens = 48
    """A number, or a line or two of working: more tokens only buy rambling."""
    phrasings = (
        Phrasing("source", "{input}"),
        Phrasing("number_only", "What is {expression}? Reply with the number only."),
        Phrasing("equation", "{expression} = ?"),
        Phrasing("calculator", "{expression}", system="You are a calculator. Reply with a single number."),
        Phrasing("answer_line", 'Work out {expression}. End your reply with "Answer: <number>".'),
        Phrasing("chatty", "hey, quick one: what's {expression}? I keep getting a different answer every time lol"),
        Phrasing("blank", "Fill in the blank: {expression} = ___", test_only=True),
        Phrasing(
            "tutor",
            "Could you help me with {expression}?",
            system="You are a friendly maths tutor. Explain in one sentence, then give the result.",
            test_only=True,
        ),
    )

    @override
    def parts(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {"expression": item["metadata"]["expression"]}


#: An explicit answer ("Answer: ...", "the answer is ..."): what follows the last one is the reply's answer.
_ANSWER_CUE = re.compile(r"\banswer(?:\s+is)?\s*[:=]?\s*", re.IGNORECASE)


@register_task
class NeedleHaystack(GymTask):
    """600 sets of 3 statements ("Tayo accepts the color red.") and a question about one; the target is the name.

    The answer is read after the reply's last "answer" cue, if it has one: that text itself if it is one of the
    statements' names (in any case), else the first of those names it mentions, written as in the statements or in
    capitals ("Hope", "Mark" and "Miles" are among the names: "I hope" names nobody). A guess among the names is
    right one time in three (a few items name one person twice, and so have two names).
    """

    name = "needle_haystack"
    family = "reasoning"
    chance = 1 / 3
    source = "reasoning-gym==0.1.25 needle_haystack (Apache-2.0): seed 0, 3 statements"
    generator = "needle_haystack"
    settings = {"min_num_statements": 3, "max_num_statements": 3}
    max_tokens = 32
    """A name, perhaps in a sentence."""
    phrasings = (
        Phrasing("name_only", "{input}\nReply with the name only."),
        Phrasing("source", "{question}"),
        Phrasing("qa", "Read the sentences and answer the question with a name.\n\n{statements}\n\nQuestion: {ask}"),
        Phrasing("reader", "{statements}\n\n{ask}", system="You answer questions about a text with one name."),
        Phrasing("answer_line", '{statements}\n{ask} End your reply with "Answer: <name>".'),
        Phrasing("chatty", "ok so: {statements} -- {ask_lc} i forgot already haha"),
        Phrasing("quiz", "Memory quiz! Here are the facts: {statements}\n{ask}", test_only=True),
        Phrasing(
            "assistant",
            "{ask} Here is what I was told: {statements}",
            system="You are a helpful assistant.",
            test_only=True,
        ),
    )

    @override
    def core(self, item: Mapping[str, Any]) -> str:
        parts = self.parts(item)
        return f"{parts['statements']}\n{parts['ask']}"

    @override
    def parts(self, item: Mapping[str, Any]) -> dict[str, Any]:
        statements = str(item["question"]).split("\n")[0].strip()
        ask = str(item["metadata"]["question"]).removesuffix(" Reply only with a name.")
        names = list(dict.fromkeys(s.split()[0] for s in re.split(r"\.\s+", statements.removesuffix(".").strip())))
        return {"statements": statements, "ask": ask, "names": names}

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        out = super().fields(example)
        return {**out, "ask_lc": out["ask"][:1].lower() + out["ask"][1:]}

    @override
    def extract(self, example: Example, text: str) -> str | None:
        names, answer = example.meta["names"], after_last(_ANSWER_CUE, text)
        bare = answer.strip().strip(".!\"'*:").strip().lower()
        if alone := [n for n in names if n.lower() == bare]:
            return str(alone[0])
        # Written as in the statements, or in capitals: "Hope", "Mark", "Miles" are names here, "hope" is not.
        found = [(m.start(), n) for n in names for form in (n, n.upper()) if (m := _word(form).search(answer))]
        return min(found)[1] if found else None

    @override
    def score(self, example: Example, text: str) -> float:
        return float(self.extract(example, text) == example.target)


def _word(word: str) -> re.Pattern[str]:
    """`word` standing alone, as written (a hyphen or apostrophe joins it to what is next to it)."""
    return re.compile(rf"(?<![\w'-]){re.escape(word)}(?![\w'-])")
