"""Answer extraction and per-sample scores in [0, 1].

String metrics use sacrebleu's code (chrF, BLEU); the rest are exact matches after a documented normalisation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from sacrebleu.metrics import BLEU, CHRF

__all__ = [
    "chrf",
    "concept_coverage",
    "distinct_n",
    "extract_choice",
    "extract_number",
    "extract_translation",
    "extract_yes_no",
    "group_diversity",
    "numbers_equal",
    "self_bleu",
]

_NUMBER = re.compile(r"-?(?:\$ ?)?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_ANSWER_CUE = re.compile(r"(?:answer(?: is)?|####)\s*[:=]?\s*", re.IGNORECASE)
_CHRF = CHRF()  # chrF2: character 6-grams, beta 2, as in sacrebleu's default
_BLEU = BLEU(effective_order=True)
_BLEU_LOWER = BLEU(effective_order=True, lowercase=True)


def _to_fraction(s: str) -> Fraction | None:
    s = s.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def extract_number(text: str) -> str | None:
    """The final numeric answer in `text`: the first number after the last "answer"/"####" cue, else the last number.

    Thousands separators, a `$` sign and a trailing period are dropped; "3/4" stays a fraction.
    """
    cues = list(_ANSWER_CUE.finditer(text))
    if cues:
        m = _NUMBER.search(text, cues[-1].end())
        if m:
            return _clean_number(m.group())
    found = _NUMBER.findall(text)
    return _clean_number(found[-1]) if found else None


def after_last(cue: re.Pattern[str], text: str) -> str:
    """``text`` after the last match of ``cue`` (an answer cue such as "Answer:"), or all of it where none matches."""
    cues = list(cue.finditer(text))
    return text[cues[-1].end() :] if cues else text


def _clean_number(s: str) -> str:
    return s.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")


def numbers_equal(a: str | None, b: str | None) -> bool:
    """Exact numeric equality (`"18" == "18.00" == "$18"`), comparing as fractions, not floats."""
    if a is None or b is None:
        return False
    fa, fb = _to_fraction(a), _to_fraction(b)
    return fa is not None and fa == fb


def extract_yes_no(text: str) -> str | None:
    """Return "yes" or "no": the first standalone yes/no (or true/false) word in `text`; None if there is none."""
    m = re.search(r"\b(yes|no|true|false)\b", text, re.IGNORECASE)
    if not m:
        return None
    word = m.group(1).lower()
    return {"true": "yes", "false": "no"}.get(word, word)


def extract_translation(text: str) -> str:
    """The translation in a reply: its first non-empty line, without an "English:"/"Translation:" label or quotes."""
    line = next((s.strip() for s in text.strip().splitlines() if s.strip()), "")
    line = re.sub(r"^(english|translation)\s*:\s*", "", line, flags=re.IGNORECASE)
    return line.strip().strip('"“”«»')


def extract_choice(text: str, choices: Sequence[str]) -> int | None:
    """Index of the option chosen in `text` for options lettered A, B, C, ...

    In order: an explicit "Answer: X" letter; a letter standing alone at the start ("B", "(B)", "B." "B)"); a letter
    standing alone anywhere if only one option letter appears so; else the one option whose text appears in the reply.
    """
    letters = "ABCDEFGHIJ"[: len(choices)]
    m = re.search(rf"answer(?: is)?\s*[:\-]?\s*\(?([{letters}])\b", text, re.IGNORECASE)
    if m and m.group(1).upper() in letters:
        return letters.index(m.group(1).upper())
    m = re.match(rf"\s*\(?([{letters}])(?:[\s.):]|$)", text)
    if m:
        return letters.index(m.group(1))
    alone = set(re.findall(rf"(?<![\w'])\(?([{letters}])[.)]?(?![\w'])", text))
    if len(alone) == 1:
        return letters.index(alone.pop())
    low = text.lower()
    hits = [i for i, c in enumerate(choices) if c and re.search(rf"\b{re.escape(c.lower())}\b", low)]
    return hits[0] if len(hits) == 1 else None


def chrf(hypothesis: str, references: str | Sequence[str]) -> float:
    """Sentence chrF (sacrebleu `CHRF()`, i.e. chrF2) divided by 100, so in [0, 1]."""
    refs = [references] if isinstance(references, str) else list(references)
    return _CHRF.sentence_score(hypothesis, refs).score / 100.0


def self_bleu(texts: Sequence[str]) -> float:
    """Self-BLEU of a set of generations (HAG's diversity measure; lower is more diverse), in [0, 1].

    Each text is scored with sacrebleu sentence BLEU against all the others as references; the mean is returned.
    """
    if len(texts) < 2:
        raise ValueError(f"self_bleu needs at least 2 texts, got {len(texts)}")
    scores = [_BLEU.sentence_score(t, [o for j, o in enumerate(texts) if j != i]).score for i, t in enumerate(texts)]
    return sum(scores) / len(scores) / 100.0


def group_diversity(texts: Sequence[str]) -> float:
    """Diversity among several replies to one input: 1 - Self-BLEU, case-insensitive, in [0, 1].

    Each text is scored with sacrebleu sentence BLEU (13a tokens, lower-cased, n-grams up to 4, effective order,
    exponential smoothing) against all the others as references; diversity is 1 minus the mean. It is 0 when the
    texts are all the same and close to 1 when they share no n-gram. An empty text would get BLEU 0 and so look
    novel; it counts instead as a copy (BLEU 1) when another text is empty too, and as novel otherwise.

    Why Self-BLEU and not distinct-n pooled across the replies (both measured, while CommonGen was in the suite, on
    SmolLM2-135M replies to CommonGen, Pig Latin and haiku prompts, four sampled replies per input): on sentences
    and poems the two agree (mean 0.92 both on CommonGen at temperature 0.7). Pooled distinct-1 is unusable for
    CommonGen, where every good reply repeats the same concept words (0.44 to 0.76 for clearly different sentences).
    Pooled distinct-2 is coarse on the three-word replies of Pig Latin: a reply has two bigrams, so four replies
    differing in one letter of one word each score 0.67, where Self-BLEU's geometric mean over 1- to 4-grams gives a
    graded 0.44. And Self-BLEU is the HAG paper's measure (its pilot study reports it on Pig Latin).

    Raises:
        ValueError: Fewer than 2 texts.

    """
    if len(texts) < 2:
        raise ValueError(f"group_diversity needs at least 2 texts, got {len(texts)}")
    if len(set(texts)) == 1:
        return 0.0
    scores = []
    for i, text in enumerate(texts):
        others = [o for j, o in enumerate(texts) if j != i]
        if not text.strip():
            scores.append(1.0 if any(not o.strip() for o in others) else 0.0)
            continue
        refs = [o for o in others if o.strip()]
        scores.append(_BLEU_LOWER.sentence_score(text, refs).score / 100.0 if refs else 0.0)
    return min(1.0, max(0.0, 1.0 - sum(scores) / len(scores)))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _forms(concept: str) -> set[str]:
    """Regular English inflections of a lower-case concept word (plural, 3rd person, past, -ing)."""
    c = concept.lower()
    forms = {c, c + "s", c + "es", c + "ed", c + "d", c + "ing", c + "er", c + "ers"}
    if c.endswith("e"):
        forms |= {c[:-1] + "ing", c[:-1] + "er"}
    if c.endswith("y") and len(c) > 2 and c[-2] not in "aeiou":
        forms |= {c[:-1] + "ies", c[:-1] + "ied"}
    if len(c) > 2 and c[-1] not in "aeiouwxy" and c[-2] in "aeiou" and c[-3] not in "aeiou":
        forms |= {c + c[-1] + "ed", c + c[-1] + "ing", c + c[-1] + "er"}
    return forms


def concept_coverage(text: str, concepts: Sequence[str]) -> float:
    """Share of `concepts` that occur in `text` as a word or a regular inflection of it (see `_forms`)."""
    words = set(_words(text))
    return sum(1 for c in concepts if _forms(c) & words) / len(concepts)


def distinct_n(text: str, n: int = 2) -> float:
    """Distinct word n-grams over all word n-grams in `text` (1.0 when it has fewer than n words)."""
    w = _words(text)
    grams = [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0
