"""The generate-and-score loop that the search, the evaluation and the room share.

A configuration's *expected score* on one input is estimated from ``k`` replies (seeds ``seed .. seed+k-1``) scored
together by the task (:meth:`~hag_training.tasks.Task.score_group`: their mean, or for an open-ended task quality
and diversity combined). Greedy decoding draws nothing, so a greedy configuration's ``k`` requests share one cache
key and cost one generation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hag_chain import DecodingConfig
from hag_training.generation.cache import CachedEngine
from hag_training.generation.request import GenerationRequest
from hag_training.tasks import Example, Task

__all__ = ["FAMILY_MAX_TOKENS", "BudgetExhausted", "GroupScore", "Scorer", "answer_tokens"]

#: Answer length per task family: enough for a worked answer, no more (generation time is the search's cost).
FAMILY_MAX_TOKENS = {
    "mathematics": 160,
    "reasoning": 48,
    "creativity": 64,
    "translation": 64,
    "code": 192,
    "structured": 96,
}


def answer_tokens(task: Task) -> int:
    """The answer length a task is generated with: its own ``max_tokens``, else its family's."""
    return getattr(task, "max_tokens", FAMILY_MAX_TOKENS[task.family])


class BudgetExhausted(Exception):
    """The ``budget`` of new generations is spent; everything generated so far is cached."""


@dataclass(frozen=True)
class GroupScore:
    """What ``k`` replies of one configuration to one input scored."""

    score: float
    """The task's group score of the replies (its estimate of the configuration's expected score on the input)."""
    sample_scores: tuple[float, ...]
    """Each reply's own score (:meth:`~hag_training.tasks.Task.score`)."""
    texts: tuple[str, ...]
    greedy: bool = False
    """Decoded greedily: the same reply every time, so :attr:`score` is exact for this input."""

    @property
    def stderr(self) -> float:
        """Standard error of :attr:`score`, from the spread of the replies' own scores.

        Greedy decoding gives 0: the configuration answers this input that way every time. A sampled one's
        spread gets one pseudo-observation of the largest variance a score in [0, 1] with this mean can have
        (``m(1 - m)``, ``m`` shrunk towards 1/2), so four sampled replies that happen to score alike are not
        taken for certainty.
        """
        if self.greedy:
            return 0.0
        k, mean = len(self.sample_scores), statistics.fmean(self.sample_scores)
        m = (sum(self.sample_scores) + 0.5) / (k + 1)
        spread = sum((s - mean) ** 2 for s in self.sample_scores)
        return math.sqrt((spread + m * (1 - m)) / k / k)


class Scorer:
    """Generates ``k`` replies per (input, configuration) of one task through a cached engine and scores them.

    Args:
        task: The task whose prompts and metric are used.
        engine: Where replies come from (and are cached).
        k: Replies per (input, configuration).
        seed: Seed of the first reply.
        progress: Called with the number of requests after each call.

    """

    def __init__(
        self,
        task: Task,
        engine: CachedEngine,
        *,
        k: int = 1,
        seed: int = 0,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        if k < 1:
            raise ValueError(f"k (replies per configuration and input) must be >= 1, got {k}")
        self.task, self.engine, self.k, self.seed, self.progress = task, engine, k, seed, progress
        self.max_tokens = answer_tokens(task)

    def requests(self, example: Example, config: DecodingConfig) -> list[GenerationRequest]:
        """The ``k`` requests scoring ``config`` on ``example`` (with the task's grammar and tools for it, if any)."""
        messages, grammar, tools = self.task.messages(example), self.task.grammar(example), self.task.tools(example)
        return [
            GenerationRequest.build(messages, config, self.seed + r, self.max_tokens, grammar, tools)
            for r in range(self.k)
        ]

    def asked(self, example: Example) -> tuple[list[dict[str, str]], list[dict[str, Any]] | None]:
        """``example``'s messages and tools as the engine's model is asked them (``CachedEngine.resolve``)."""
        request = self.engine.resolve(self.requests(example, DecodingConfig())[0])
        return request.chat, request.tool_list

    def score(self, items: Sequence[tuple[Example, DecodingConfig]]) -> list[GroupScore]:
        """One :class:`GroupScore` per ``(example, configuration)``, all generated in one engine call.

        Raises:
            BudgetExhausted: The engine's budget ran out; what it covered is cached.

        """
        requests = [req for example, config in items for req in self.requests(example, config)]
        texts = self.engine.generate(requests)
        if texts is None:
            raise BudgetExhausted(f"budget of {self.engine.budget} new generations spent")
        if self.progress:
            self.progress(len(requests))
        out = []
        for i, (example, config) in enumerate(items):
            group = tuple(texts[i * self.k : (i + 1) * self.k])
            out.append(
                GroupScore(
                    score=self.task.score_group(example, group),
                    sample_scores=tuple(self.task.score(example, t) for t in group),
                    texts=group,
                    greedy=config.temperature == 0,
                )
            )
        return out
