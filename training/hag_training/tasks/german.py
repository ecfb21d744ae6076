"""German to English from the Ding dictionary: its example sentences (chrF) and its common words (exact match).

Ding (Frank Richter, TU Chemnitz, GPL-2+) ships in Debian as `trans-de-en` 1.9-6 (bookworm), fetched from Debian's
pool by :func:`~hag_training.data_sources.deb_member`; the dictionary is `/usr/share/trans/de-en`. After `#` comment
lines, each line is one entry, `German :: English` (:func:`ding_entries`); each side is a list of sub-entries
separated by ` | ` that align by position (a headword, then its plural or inflections, then example phrases and
sentences), and a sub-entry lists synonymous variants separated by `; `, with notes in `{}`, `()`, `[]` and spelling
hints in `<>`.

`german_english` (sentences). A pair is taken from every aligned sub-entry: the first variant of each side (the
variants of one side all mean the same thing, so the first German and the first English one translate each other). A
line whose two sides have different numbers of sub-entries is skipped, since its sub-entries cannot be aligned.
Kept: pairs whose two sides are both sentences of 4-15 words: ending in `.`, `?` or `!`, starting with a capital, a
digit or a quote, with no brackets `([{<` or slashes (notes and alternatives), no ellipsis `…` (a fragment) and none of
the dictionary's placeholders (`etw.`, `jdn.`, `jdm.`, `jds.`, `jd.`, `sth.`, `sb.`: a phrase pattern ending in an
abbreviation, not a sentence). Duplicate pairs are dropped; pairs sharing a German sentence (one sentence, several
translations) share a split. 14,019 pairs, 13,967 German sentences. Score: sentence chrF (sacrebleu chrF2) / 100 of
the reply's first line (the Django translation task's extraction) against the English sentence, after mapping
typographic quotes and apostrophes (`’ ‘ “ ”`, common in Ding) to ASCII ones on both sides, so that "don't" is not
marked down against Ding's "don’t". SmolLM2-135M is at its floor here (chrF 0.10-0.12 under every configuration).

`german_words` (single words, :func:`ding_words`). An entry's first sub-entry is a headword and its translations:
the German headword is its first variant, one word of 3+ letters once the notes are dropped ("Hund {m} [zool.]"),
tagged as a noun (`{m}`, `{f}`, `{n}`, not `{pl}`), verb (`{v}`, `{vi}`, `{vt}`, `{vr}`) or adjective (`{adj}`); the
target is the union of the English variants of every entry with that headword and the part of speech of its first
such entry (`Hund` -> dog, dawg, canine; the verb "wollen" does not get the adjective's "woollen"), each normalised
(notes and glosses dropped, lower case, a verb's `to ` dropped, hyphens as spaces) and kept if it has 1-3 plain
words. Entries labelled `[vulg.]`, `[pej.]`, `[slang]`, `[derb]` or `[euphem.]` are left out. A word is kept if

- it is among the 5,000 most frequent German words of wordfreq 3.1.1's `small_de` list (common vocabulary; wordfreq
  is lower case, so "Buch" and "buch" (a typestyle) share a rank: the spelling that starts more tagged Ding lines is
  kept, the lower-case one on a tie, which drops nominalised verbs such as "Sitzen" beside "sitzen");
- it is not also a function word (a headword tagged `{art}`, `{pron}`, `{conj}`, `{prep}`, `{num}` or `{interj}`:
  "sein" is "be" but also "his") and not itself one of the 5,000 most frequent English words of `small_en` ("Kind",
  "Hand", "Problem": the reply would be the input copied, or a false friend);
- Ding has its common sense: its most frequent English variant ranks within 3 x its German rank + 500 in `small_en`
  (Ding has no "machen :: to make" headword line, only "to fix", which this filter drops); and
- it is spelled like one of its English variants (:func:`spelling_similarity` >= 0.75: "Musik" / "music",
  "Qualität" / "quality", "Garten" / "garden"; not "Hund" / "dog"). Without this, the most frequent words are at
  SmolLM2-135M's floor (greedy 0.05-0.12 on probes of the 200 and 1,500 most frequent): the model knows next to no
  German vocabulary, and what it gets right are cognates. So this is a cognate-translation task for a small model:
  copying the German word still scores 0 ("Universität" is not "university").

263 words (156 / 51 / 56 train / dev / test).

Score: 1 if the reply's answer names one of the variants, else 0 (chance 0). The answer (:func:`answer_clause`) is
one clause of the reply's first line, so that a reply listing candidates does not win by listing: the first
non-empty line not ending in `:` ("Here is the translation:"), cut into clauses at `, ; : / ! ? ( )`, a
sentence-ending `.`, " or " and dashes; lead-in clauses of filler words only ("Sure!", "In English,", the German word
itself) are skipped, and the first other clause is the answer. It names a variant if it holds it as whole words,
lower case, perhaps with a plural `s`/`es`, after dropping framing words ("means", "translates"), so that "'Hund'
means dog in English." and "Dog." score 1 while "cat, dog, hound" and "cat or dog" score 0 for `Hund`. Accepted
leniencies: any article ("the dog"), and a reply that names the English word in a reversed statement ("The German
word for 'music' is 'Musik'.").

Measured with ``hag-train room`` on SmolLM2-135M-Instruct (Q4_1, llama.cpp; k = 2, top_p 0.95, top_k 40), all 51 dev
words: greedy 0.18 [0.08, 0.27], greedy with repetition penalty 1.15 0.20 [0.10, 0.29] (the penalty keeps the model
from copying the German word), temperature 0.8 0.09 (0.08 with the penalty), llama.cpp's defaults 0.09; best - worst
0.12 [0.02, 0.23]. On the first 12 dev words: 0.17 greedy, 0.08 for every other configuration.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from difflib import SequenceMatcher
from functools import lru_cache

from typing_extensions import override

from ..data_sources import deb_member, read_member
from ..metrics import chrf, extract_translation
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["GermanEnglish", "GermanWords", "ding_entries", "ding_pairs", "ding_words"]

DING = ("trans-de-en", "usr/share/trans/de-en")
"""The Debian package and the dictionary file inside it."""

_NOT_A_SENTENCE = re.compile(r"[(\[{</…]|\b(?:etw|jdn|jdm|jds|jd|sth|sb)\.")
_ASCII_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def _is_sentence(s: str, min_words: int = 4, max_words: int = 15) -> bool:
    return (
        s[-1:] in ".?!"
        and (s[:1].isupper() or s[:1].isdigit() or s[:1] in "\"'„“‘")
        and min_words <= len(s.split()) <= max_words
        and not _NOT_A_SENTENCE.search(s)
    )


def ding_entries() -> Iterator[tuple[list[str], list[str]]]:
    """The Ding dictionary's entries in file order: each line's German and English sub-entries (not yet aligned)."""
    for line in deb_member(*DING).decode("utf-8").splitlines():
        if not line.startswith("#") and line.count(" :: ") == 1:
            german, english = line.split(" :: ")
            yield german.split(" | "), english.split(" | ")


def ding_pairs() -> list[tuple[str, str]]:
    """(German, English) sentence pairs of the Ding dictionary, in file order (see the module docstring)."""
    pairs: dict[tuple[str, str], None] = {}
    for german, english in ding_entries():
        if len(german) != len(english):
            continue
        for de_entry, en_entry in zip(german, english, strict=True):
            de, en = de_entry.split("; ")[0].strip(), en_entry.split("; ")[0].strip()
            if _is_sentence(de) and _is_sentence(en):
                pairs[de, en] = None
    return list(pairs)


@register_task
class GermanEnglish(Task):
    """German sentences into English, from the Ding dictionary's examples (see the module docstring)."""

    name = "german_english"
    family = "translation"
    source = "Debian trans-de-en 1.9-6 (bookworm), /usr/share/trans/de-en: the Ding dictionary, GPL-2+"
    phrasings = (
        Phrasing("instruction", "Translate the following German sentence into English.\n\n{input}"),
        Phrasing("answer_only", "{input}\n\nGive the English translation of this German sentence and nothing else."),
        Phrasing("labelled", "Deutsch: {input}\nEnglish:"),
        Phrasing(
            "dictionary",
            "{input}",
            system="You are a German-English dictionary. Answer each German sentence with its English equivalent, "
            "on one line.",
        ),
        Phrasing(
            "learner", "I'm learning German and came across this sentence: „{input}“ How would you say it in English?"
        ),
        Phrasing("quoted", "Translate into English. Write only the translation, in double quotes.\n\n{input}"),
        Phrasing("native", "How would a native English speaker say this? {input}", test_only=True),
        Phrasing(
            "subtitles",
            "{input}",
            system="You write the English subtitles of German films: natural, short, one line per line of dialogue.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        out = []
        for german, english in ding_pairs():
            digest = hashlib.sha1(f"{german}\n{english}".encode()).hexdigest()[:12]
            out.append(
                Example(
                    id=f"german_english-{digest}",
                    input=german,
                    target=english,
                    meta={"source_lang": "de"},
                    group=hashlib.sha1(german.encode()).hexdigest()[:12],
                )
            )
        return out

    @override
    def extract(self, example: Example, text: str) -> str:
        return extract_translation(text)

    @override
    def score(self, example: Example, text: str) -> float:
        return chrf(self.extract(example, text).translate(_ASCII_QUOTES), example.target.translate(_ASCII_QUOTES))


_NOTES = re.compile(r"\s*(?:\{[^}]*\}|\[[^\]]*\]|<[^>]*>|\([^)]*\)|/[^/ ]+/)")
"""Ding's notes: `{m}` gender and part-of-speech tags, `[Br.]` labels, `<…>` spelling hints, `(…)` glosses, `/TSP/`
abbreviations."""
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{3,}")
_CONTENT_TAGS = {
    **dict.fromkeys(("m", "f", "n"), "noun"),
    **dict.fromkeys(("v", "vi", "vt", "vr"), "verb"),
    "adj": "adjective",
}
_FUNCTION_TAGS = {"art", "pron", "conj", "prep", "num", "interj"}
_OFF_COLOUR = re.compile(r"\[(?:vulg\.|pej\.|slang|derb|euphem\.)\]")


@lru_cache(maxsize=2)
def word_ranks(lang: str) -> dict[str, int]:
    """Frequency rank (0 = most frequent) of each word in wordfreq 3.1.1's small list for `lang` ("en", "de")."""
    import msgpack

    member = f"wordfreq/data/small_{lang}.msgpack.gz"
    buckets = msgpack.loads(gzip.decompress(read_member("wordfreq", member)), raw=False)
    ranks: dict[str, int] = {}
    for bucket in buckets[1:]:
        for word in bucket:
            ranks.setdefault(word, len(ranks))
    return ranks


def _english_variants(sub_entry: str) -> list[str]:
    """The `; ` variants of an English sub-entry that have 1-3 plain words, normalised.

    Notes dropped, lower case, a verb's `to ` dropped, hyphens read as spaces.
    """
    out = []
    for v in _NOTES.sub("", sub_entry).split(";"):
        v = " ".join(v.replace("-", " ").split()).lower().removeprefix("to ")
        if re.fullmatch(r"[a-z][a-z' ]*", v) and len(v.split()) <= 3:
            out.append(v)
    return out


def ding_words(max_rank: int = 5000, min_similarity: float = 0.75) -> list[tuple[str, str, list[str]]]:
    """(German word, part of speech, English variants) of the Ding headwords kept by the module docstring's filter.

    Most frequent first: among wordfreq's `max_rank` most frequent German words, and spelled like one of their
    English variants (:func:`spelling_similarity` at least `min_similarity`; 0 keeps every word, "Hund" included).
    """
    senses: dict[str, list[str]] = {}
    pos: dict[str, str] = {}
    lines: Counter[str] = Counter()  # tagged lines whose German side starts with a word: how much Ding has on it
    function_words: set[str] = set()
    for german, english in ding_entries():
        if "{" in german[0] and (words := _NOTES.sub("", german[0]).split()):
            lines[words[0].rstrip(";,")] += 1  # not "Gehen Sie!": an example sentence has no `{}` tag
        head = _WORD.fullmatch(_NOTES.sub("", german[0]).split(";")[0].strip())
        if head is None or german[0].startswith("("):
            continue
        word, first = head.group(), re.sub(r"\([^)]*\)", "", german[0]).split("; ")[0]
        tags = set(re.findall(r"\{([^}]*)\}", first)) or set(re.findall(r"\{([^}]*)\}", german[0]))
        if tags & _FUNCTION_TAGS:
            function_words.add(word.lower())
        content = [_CONTENT_TAGS[t] for t in sorted(tags) if t in _CONTENT_TAGS]
        if not content or "pl" in tags or _OFF_COLOUR.search(german[0] + english[0]):
            continue
        if pos.setdefault(word, content[0]) in content and (variants := _english_variants(english[0])):
            senses.setdefault(word, []).extend(variants)  # the senses of its first part of speech ("wollen": "will")
    de, en = word_ranks("de"), word_ranks("en")
    common_english = {w for w, r in en.items() if r < 5000}
    spelling: dict[str, str] = {}  # "Buch" or "buch" (a typestyle): the one with more lines, lower case on a tie
    for word in senses:
        other = spelling.setdefault(word.lower(), word)
        if (lines[word], word.islower()) > (lines[other], other.islower()):
            spelling[word.lower()] = word
    kept = []
    for word, variants in senses.items():
        low, variants = word.lower(), list(dict.fromkeys(variants))
        rank = de.get(low.casefold())  # wordfreq folds "ß" into "ss"
        if (
            rank is None
            or rank >= max_rank
            or spelling[low] != word  # "buch" (a typestyle) beside "Buch"
            or low in function_words  # "Aber" (a noun) beside "aber", "sein" ("be", but also "his")
            or low in common_english  # "Kind", "Problem": the German word is also an English one
            or low in variants
            or min(en.get(v, len(en)) for v in variants) > 3 * rank + 500  # Ding misses its common sense
            or max(spelling_similarity(word, v) for v in variants) < min_similarity
        ):
            continue
        kept.append((rank, word, pos[word], variants))
    return [(word, p, variants) for _, word, p, variants in sorted(kept)]


def spelling_similarity(german: str, english: str) -> float:
    """How alike a German and an English word are spelled, in [0, 1].

    The :class:`difflib.SequenceMatcher` ratio of the German word (lower case, `ß` as `ss`, umlauts as plain vowels)
    and the English one: "Musik", "music": 0.8; "Garten", "garden": 0.83; "Hund", "dog": 0.29.
    """
    folded = unicodedata.normalize("NFKD", german.lower().replace("ß", "ss")).encode("ascii", "ignore").decode()
    return SequenceMatcher(None, folded, english.lower()).ratio()


_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_CLAUSE_END = re.compile(r"[,;:/!?()]|\.(?:\s|$)| or |\s[-–—]\s")
_FILLER = frozenset(
    "sure certainly of course okay ok yes absolutely hello hi well so here is are in english german the word a an "
    "translation answer for means mean translates translated to as called it this that der die das ein eine".split()
)
"""Words of a lead-in clause ("Sure!", "In English,", "The English word for Hund is:"), skipped."""


_FRAME = re.compile(r"\b(?:means|meaning|translates|translated|translation|refers|stands for|is called)\b")
"""Words that frame an answer ("X means Y"), dropped before matching so that "means" does not name "mean"."""


def answer_clause(text: str, german: str, variants: list[str]) -> str:
    """The answer in a reply to a word-translation request: the first clause of its first line that names something.

    The first non-empty line that does not end in `:` ("Here is the translation:"), without a list mark ("1.", "-"),
    in lower case, is cut into clauses at `, ; : / ! ? ( )`, a sentence-ending `.`, " or " and dashes. The answer is
    the first clause that names one of `variants` (:func:`names_a_variant`) or has a word that is neither `german`
    nor a lead-in word (`_FILLER`: "sure", "in", "english", "is", ...); "" if none has.
    """
    line = next((s for s in text.splitlines() if s.strip() and not s.rstrip().endswith(":")), "")
    skip = _FILLER | {german.lower()}
    for clause in _CLAUSE_END.split(_LIST_MARK.sub("", line).lower()):
        clause = " ".join(clause.split())
        if names_a_variant(clause, variants) or not set(re.findall(r"[^\W\d_]+", clause)) <= skip:
            return clause
    return ""


def names_a_variant(answer: str, variants: list[str]) -> bool:
    """Whether `answer` has one of `variants` as whole words, perhaps with a plural `s`/`es`.

    Hyphens are read as spaces, and the framing words of `_FRAME` are dropped first.
    """
    answer = _FRAME.sub(" ", answer.replace("-", " "))
    return any(re.search(rf"(?<![\w']){re.escape(v)}(?:e?s)?(?!\w)", answer) for v in variants)


@register_task
class GermanWords(Task):
    """Common German words (mostly cognates) into English, from Ding's headwords (see the module docstring).

    The target is the list of accepted English variants.
    """

    name = "german_words"
    family = "translation"
    source = (
        "Debian trans-de-en 1.9-6 (bookworm), /usr/share/trans/de-en: the Ding dictionary, GPL-2+; "
        "ranked by wordfreq==3.1.1 small_de/small_en (CC-BY-SA-4.0 data)"
    )
    fractions = (0.6, 0.2, 0.2)
    """263 words: a fifth each to dev and test (51 and 56), so that each is measured on ~50 of them."""
    max_tokens = 24
    """A word, perhaps in a sentence: the answer is read from the first line, so more tokens only buy rambling."""
    phrasings = (
        Phrasing("instruction", "Translate the German word into English.\n\n{input}"),
        Phrasing("question", 'What does the German word "{input}" mean in English?'),
        Phrasing("one_word", 'Give the English word for the German {pos} "{input}". One word, no explanation.'),
        Phrasing("terse", '"{input}" in English:'),
        Phrasing(
            "dictionary",
            "{input}",
            system="You are a German-English dictionary. Answer each German word with its English translation.",
        ),
        Phrasing("learner", "I'm learning German. How do you say „{input}“ in English?"),
        Phrasing("answer_line", 'Translate the German {pos} "{input}" into English. Start your reply with the answer.'),
        Phrasing("vocabulary", "{input} =", system="You help students with their German vocabulary lists."),
        Phrasing("chatty", "hey, quick one: my friend keeps saying '{input}', what's that in english?", test_only=True),
        Phrasing(
            "teacher",
            'A student asks: what is "{input}" in English?',
            system="You are a friendly German teacher.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return [
            Example(id=f"german_words-{word}", input=word, target=variants, meta={"source_lang": "de", "pos": pos})
            for word, pos, variants in ding_words()
        ]

    @override
    def extract(self, example: Example, text: str) -> str:
        return answer_clause(text, example.input, example.target)

    @override
    def score(self, example: Example, text: str) -> float:
        return float(names_a_variant(self.extract(example, text), example.target))
