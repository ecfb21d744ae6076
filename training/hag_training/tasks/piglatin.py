"""Pig Latin (creativity; HAG's "creative translation" pilot), generated from a real word-frequency list.

Words: the most frequent purely alphabetic English words of 3 to 10 letters in wordfreq 3.1.1's `small_en` list
(`wordfreq==3.1.1` wheel, Apache-2.0 code, CC-BY-SA-4.0 data). Rules: a word starting with a vowel gets "way";
otherwise its leading consonants move to the end, followed by "ay" ("qu" moves as one; "y" is a consonant only as the
first letter). Score: per word position, 1.0 for the exact Pig Latin word, 0.0 for a missing word or the English word
left unchanged, otherwise half its chrF against the right word (partial credit for near misses, so that a small
model's attempts are ranked, while an exact answer always wins); the sum is divided by the larger of the reply's and
the reference's word counts (extra words cost). Plain chrF on the whole line is not used: it gives the untouched
input 0.54, so copying would look half right.

Open-ended, lightly: each input has one right answer, but HAG treats the task as creative translation and its pilot
study measured Self-BLEU on it (more sensitive to decoding there than CoinFlip). So `score_group` multiplies the mean
score by (1 - w + w x diversity), diversity = 1 - Self-BLEU of the extracted lines, with a small w =
`diversity_weight` = 0.2 that keeps correctness first: `k` copies of the right answer keep 0.8, and since diversity
never lifts a group above its mean, only configurations whose replies average above 0.8 can beat them.
Measured on SmolLM2-135M-Instruct (8 dev inputs, k = 4): mean scores 0.007 greedy, 0.026 at temperature 0.7 with
diversity 0.89, 0.023 at 1.0 with 0.97; group scores 0.006, 0.026, 0.022.
"""

from __future__ import annotations

import gzip
import random
import re
from functools import lru_cache

from typing_extensions import override

from ..data_sources import read_member
from ..metrics import chrf
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["PigLatin", "common_english_words", "pig_latin"]


def pig_latin(word: str) -> str:
    """One lower-case word in Pig Latin (see the module docstring for the rules)."""
    w = word.lower()
    if w[0] in "aeiou":
        return w + "way"
    i = 1
    while i < len(w) and w[i] not in "aeiouy":
        i += 1
    if w[i - 1 : i + 1] == "qu":
        i += 1
    return w[i:] + w[:i] + "ay"


@lru_cache(maxsize=1)
def common_english_words(n: int = 3000) -> tuple[str, ...]:
    """The `n` most frequent words of 3-10 ASCII letters in wordfreq's small English list, in frequency order."""
    import msgpack

    buckets = msgpack.loads(gzip.decompress(read_member("wordfreq", "wordfreq/data/small_en.msgpack.gz")), raw=False)
    words = [w for bucket in buckets[1:] for w in bucket if re.fullmatch(r"[a-z]{3,10}", w)]
    return tuple(words[:n])


@register_task
class PigLatin(Task):
    """2000 three-word phrases drawn (seeded) from the 3000 most frequent words."""

    name = "pig_latin"
    family = "creativity"
    source = "generated; words from wordfreq==3.1.1 wordfreq/data/small_en.msgpack.gz (CC-BY-SA-4.0 data)"
    diversity_weight = 0.2
    size = 2000
    words_per_example = 3
    seed = 0

    @override
    def _load(self) -> list[Example]:
        vocab = common_english_words()
        out = []
        for i in range(self.size):
            words = random.Random(f"pig_latin:{self.seed}:{i}").sample(vocab, self.words_per_example)
            text = " ".join(words)
            out.append(
                Example(id=f"pig_latin-{self.seed}-{i}", input=text, target=" ".join(map(pig_latin, words)), group=text)
            )
        return out

    phrasings = (
        Phrasing(
            "rules",
            'Translate into Pig Latin. Move the consonants before the first vowel to the end and add "ay"; '
            'add "way" to words starting with a vowel.\nText: {input}\nReply with the Pig Latin only.',
        ),
    )

    @override
    def extract(self, example: Example, text: str) -> str:
        line = next((s for s in text.strip().splitlines() if s.strip()), "")
        line = line.rsplit(":", 1)[-1].replace("-", "")  # drop a lead-in such as "Pig Latin:" and "ig-pay" hyphens
        return " ".join(re.findall(r"[a-z]+", line.lower()))

    @override
    def score(self, example: Example, text: str) -> float:
        hyp, ref, source = self.extract(example, text).split(), example.target.split(), example.input.split()
        credit = [1.0 if h == r else 0.0 if h == s else 0.5 * chrf(h, r) for h, r, s in zip(hyp, ref, source)]
        return sum(credit) / max(len(hyp), len(ref))
