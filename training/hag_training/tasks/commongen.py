"""CommonGen (creativity): write one sentence using all the given concepts.

Per-sample score = coverage x distinct-2 x length factor, where
coverage is the share of concepts that appear as a word or a regular inflection (`metrics.concept_coverage`;
irregular forms such as sit -> sat are not credited), distinct-2 is unique word bigrams over word bigrams in the
sentence (punishes degenerate repetition), and the length factor is min(1, words / (concepts + 2)) (a bare list of
the concepts is not a sentence). Only the first non-empty line of the reply is scored. Diversity across several
generations for one input is measured with `metrics.self_bleu` (HAG's measure), reported, not part of the score.
"""

from __future__ import annotations

import json
import re

from typing_extensions import override

from ..data_sources import read_member
from ..metrics import concept_coverage, distinct_n
from .base import Example, Task, user
from .registry import register

__all__ = ["CommonGen"]

MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/gem/common_gen/task.json"


@register
class CommonGen(Task):
    """BIG-bench GEM CommonGen: 500 concept sets (one repeated, so 499 unique) with about 4 references each."""

    name = "common_gen"
    family = "creativity"
    source = f"bigbench==1.0.0 sdist {MEMBER} (CommonGen challenge validation sample, MIT)"

    @override
    def _load(self) -> list[Example]:
        out, seen = [], set()
        for d in json.loads(read_member("bigbench", MEMBER))["examples"]:
            if d["input"] in seen:
                continue
            seen.add(d["input"])
            n = d["comment"].rsplit("-", 1)[-1]
            out.append(
                Example(
                    id=f"common_gen-{n}",
                    input=d["input"],
                    target=list(d["target"]),
                    meta={"concepts": d["input"].split()},
                )
            )
        return out

    @override
    def messages(self, example: Example) -> list[dict[str, str]]:
        return user(f"Write one short sentence that uses all of these words: {', '.join(example.meta['concepts'])}.")

    @override
    def extract(self, example: Example, text: str) -> str:
        line = next((s.strip() for s in text.strip().splitlines() if s.strip()), "")
        return re.sub(r"^(sentence|answer)\s*:\s*", "", line, flags=re.IGNORECASE)

    @override
    def score(self, example: Example, text: str) -> float:
        sentence = self.extract(example, text)
        concepts = example.meta["concepts"]
        n_words = len(re.findall(r"[A-Za-z]+", sentence))
        length = min(1.0, n_words / (len(concepts) + 2))
        return concept_coverage(sentence, concepts) * distinct_n(sentence, 2) * length
