"""The `Task` contract: real data, chat prompt, answer extraction, a score in [0, 1] and a fixed split."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

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
    """

    name: ClassVar[str]
    family: ClassVar[Family]
    source: ClassVar[str]
    """Where the data comes from (package, path, license) for documentation and provenance."""
    fractions: ClassVar[tuple[float, float, float]] = (0.8, 0.1, 0.1)
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

    def score_group(self, example: Example, texts: Sequence[str]) -> float:
        """Quality of ``k`` replies one configuration gave ``example``, in [0, 1]: by default their mean score."""
        return sum(self.score(example, t) for t in texts) / len(texts)

    def split(self, seed: int = 0) -> Split:
        """Deterministic, disjoint train/dev/test split of `load()`."""
        train, dev, test = [], [], []
        cut1, cut2 = self.fractions[0], self.fractions[0] + self.fractions[1]
        for ex in self.load():
            key = f"{seed}:{self.name}:{ex.group or ex.id}".encode()
            u = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
            (train if u < cut1 else dev if u < cut2 else test).append(ex)
        return Split(train, dev, test)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, family={self.family!r})"


def user(content: str) -> list[dict[str, str]]:
    """A one-message chat."""
    return [{"role": "user", "content": content}]
