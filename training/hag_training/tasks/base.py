"""The `Task` contract: real data, chat prompt, answer extraction, a score in [0, 1] and a fixed split.

A reply is scored alone (`Task.score`); the `k` replies one decoding configuration gives one input are scored
together (`Task.score_group`): their mean, or for an open-ended task their mean quality discounted for sameness.
"""

from __future__ import annotations

import hashlib
import statistics
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..metrics import group_diversity

__all__ = ["Example", "Family", "Split", "Task"]

Family = Literal["mathematics", "reasoning", "creativity", "translation", "code"]


@dataclass(frozen=True)
class Example:
    """One task input with what is needed to score a reply to it."""

    id: str
    """Stable id, unique within the task (from the source data where it has one)."""
    input: str
    """The text the prompt is built from (question, concept set, source sentence, ...)."""
    target: Any
    """The reference: a gold answer, an option index, a list of references, or test code."""
    meta: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    """Split key: examples sharing it land in the same split (defaults to `id`)."""

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True)
class Split:
    """Disjoint train/dev/test lists of one task."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]


class Task(ABC):
    """A benchmark task: subclasses set `name`, `family`, `source`; implement `_load`, `messages`, `extract`, `score`.

    `split(seed)` assigns each example by a SHA-256 of `"{seed}:{task}:{group}"`: deterministic, disjoint,
    and stable when examples are added or removed. Fractions default to 80/10/10.

    `score_group(example, texts)` scores the replies one configuration gave one input: the mean of `score`, or, for
    an open-ended task (`diversity_weight` > 0), that mean combined with the replies' diversity.
    """

    name: ClassVar[str]
    family: ClassVar[Family]
    source: ClassVar[str]
    """Where the data comes from (package, path, license) for documentation and provenance."""
    fractions: ClassVar[tuple[float, float, float]] = (0.8, 0.1, 0.1)
    diversity_weight: ClassVar[float] = 0.0
    """Share of a group's score that rewards diversity among its replies, in [0, 1]; 0 for a closed task.

    An open-ended task (several good replies per input) sets it above 0; see :meth:`score_group`.
    """
    chance: ClassVar[float] = 0.0
    """The expected score of guessing (1/options for a choice, 1/2 for yes/no, 0 for open answers): the task's
    floor in ``hag-train room``."""

    def __init__(self) -> None:
        self._examples: list[Example] | None = None

    def load(self) -> list[Example]:
        """All examples, in source order (cached after the first call)."""
        if self._examples is None:
            examples = self._load()
            ids = [e.id for e in examples]
            if len(set(ids)) != len(ids):
                raise ValueError(f"task {self.name!r}: example ids are not unique")
            self._examples = examples
        return list(self._examples)

    @abstractmethod
    def _load(self) -> list[Example]: ...

    @abstractmethod
    def messages(self, example: Example) -> list[dict[str, str]]:
        """Chat messages (`role`, `content`) asking the model for this example."""

    @abstractmethod
    def extract(self, example: Example, text: str) -> Any:
        """The answer found in a model reply, in the form `score` compares (None when none is found)."""

    @abstractmethod
    def score(self, example: Example, text: str) -> float:
        """Quality of a model reply in [0, 1]."""

    @property
    def open_ended(self) -> bool:
        """Whether the task rewards diversity among the replies to one input (`diversity_weight` > 0)."""
        return self.diversity_weight > 0

    def score_group(self, example: Example, texts: Sequence[str]) -> float:
        """Score of the `k` replies one decoding configuration gave one input, in [0, 1].

        A closed task (`diversity_weight` 0) returns the mean of `score`: the configuration's expected score on
        the input. An open-ended task returns `quality * (1 - w + w * diversity)`, where `quality` is that mean,
        `w` is `diversity_weight`, and `diversity` is :func:`~hag_training.metrics.group_diversity` of the scored
        parts of the replies (`extract`, which such a task defines to return the text it scores): 1 - Self-BLEU,
        0 when all `k` replies are the same. So `k` identical replies keep `1 - w` of their quality and `k`
        replies with nothing in common keep all of it; quality still comes first, since no amount of diversity
        lifts a group above its mean quality.

        One reply carries no evidence of diversity: with `k` = 1 the score is the reply's quality alone, for every
        task (so at `k` = 1 an open-ended task ranks configurations by quality, and greedy and sampled decoding
        are told apart only with `k` >= 2). Greedy decoding gives `k` identical replies, hence diversity 0.

        Raises:
            ValueError: `texts` is empty.

        """
        if not texts:
            raise ValueError(f"task {self.name!r}: score_group needs at least one reply, got none")
        quality = statistics.fmean(self.score(example, t) for t in texts)
        if len(texts) == 1 or not self.open_ended:
            return quality
        w = self.diversity_weight
        diversity = group_diversity([str(self.extract(example, t) or "") for t in texts])
        return quality * (1 - w + w * diversity)

    def split(self, seed: int = 0) -> Split:
        """Deterministic, disjoint train/dev/test split of `load()`, each part in a seeded random order.

        An example's hash picks its part and its place in that part, so the first n of a part are a random sample:
        the search and the evaluation take prefixes, and source order (sorted by operation, language or length)
        would otherwise hand them one corner of the task. The part follows the hash of an example's group (examples
        of one group share a part), the place the hash of the example itself.
        """
        parts: tuple[list[Example], ...] = ([], [], [])
        cut1, cut2 = self.fractions[0], self.fractions[0] + self.fractions[1]
        for ex in self.load():
            u = _uniform(f"{seed}:{self.name}:{ex.group or ex.id}")
            parts[0 if u < cut1 else 1 if u < cut2 else 2].append(ex)
        train, dev, test = (
            sorted(part, key=lambda ex: _uniform(f"{seed}:{self.name}:order:{ex.id}")) for part in parts
        )
        return Split(train, dev, test)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, family={self.family!r})"


def _uniform(key: str) -> float:
    """A number in [0, 1) fixed by ``key``: the first 8 bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def user(content: str) -> list[dict[str, str]]:
    """A one-message chat."""
    return [{"role": "user", "content": content}]
