"""CommonGen (creativity): write one sentence using all the given concepts.

Per-sample score = coverage x distinct-2 x length factor, where
coverage is the share of concepts that appear as a word or a regular inflection (`metrics.concept_coverage`;
irregular forms such as sit -> sat are not credited), distinct-2 is unique word bigrams over word bigrams in the
sentence (punishes degenerate repetition), and the length factor is min(1, words / (concepts + 2)) (a bare list of
the concepts is not a sentence). Only the first non-empty line of the reply is scored (`extract`).

Open-ended: many sentences use the same concepts well, so the `k` replies of one configuration are scored as a group
(`Task.score_group`): mean quality x (1 - w + w x diversity), diversity = 1 - Self-BLEU of the extracted sentences
(HAG's measure), w = `diversity_weight` = 0.3. The weight puts quality first: `k` copies of one perfect sentence
keep 0.7, so only configurations whose replies average above 0.7 can beat them. Measured on SmolLM2-135M-Instruct
(8 dev inputs, k = 4): greedy averages quality 0.59 and scores 0.41 as a group; temperature 1.0 averages 0.55 with
diversity 0.94 and scores 0.54; temperature 0.7 averages 0.42 (diversity 0.92) and scores 0.40, about greedy's.
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
    diversity_weight = 0.3

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
