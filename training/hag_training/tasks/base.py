"""The `Task` contract: real data, phrasings, answer extraction, a score in [0, 1] and a fixed split.

A task asks for each example in one of its :class:`Phrasing` s (instruction wording, answer-format demand, with or
without a system message), picked per example by a seeded rule when the task is split; the phrasings marked
``test_only`` are only ever used in the test split, so an evaluation can ask how a planner does on wordings it was
never tuned on. A reply is scored alone (`Task.score`); the `k` replies one decoding configuration gives one input
are scored together (`Task.score_group`): their mean, or for an open-ended task their mean quality discounted for
sameness.
"""

from __future__ import annotations

import hashlib
import statistics
import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from ..metrics import group_diversity

__all__ = ["Example", "Family", "Phrasing", "Split", "Task"]

Family = Literal["mathematics", "reasoning", "creativity", "translation", "code", "structured"]
"""A task's kind of request; "structured" asks for a JSON object under a grammar (structured output, tool arguments)."""


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
    phrasing: str = ""
    """Name of the :class:`Phrasing` the example is asked in, set by :meth:`Task.split` ("": the task's first)."""

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True)
class Phrasing:
    """One way of asking for a task's examples: a user message and an optional system message.

    Both are :meth:`str.format` templates over :meth:`Task.fields` (``{input}`` and the example's ``meta``).
    """

    name: str
    """Unique within the task; recorded on each example asked this way."""
    user: str
    system: str | None = None
    test_only: bool = False
    """Used only in the test split: a wording no tuning ever sees."""

    def fields(self) -> set[str]:
        """The template fields both messages use."""
        texts = [self.user] if self.system is None else [self.user, self.system]
        return {f for t in texts for _, f, _, _ in string.Formatter().parse(t) if f}


@dataclass(frozen=True)
class Split:
    """Disjoint train/dev/test lists of one task."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]


class Task(ABC):
    """A benchmark task: subclasses set `name`, `family`, `source`, `phrasings`; implement `_load`, `extract`, `score`.

    `split(seed)` assigns each example by a SHA-256 of `"{seed}:{task}:{group}"`: deterministic, disjoint,
    and stable when examples are added or removed. Fractions default to 80/10/10. It also picks each example's
    phrasing (see :meth:`split`); `messages(example)` renders it.

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
    phrasings: ClassVar[tuple[Phrasing, ...]]
    """The ways the task asks; the first is the canonical one (used for an example that carries no phrasing)."""
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

    def fields(self, example: Example) -> dict[str, Any]:
        """What a phrasing's templates may use: ``input`` and the example's ``meta`` (override to add more)."""
        return {"input": example.input, **example.meta}

    def phrasing(self, example: Example) -> Phrasing:
        """The phrasing ``example`` is asked in: the one it names, else the task's first.

        Raises:
            KeyError: The example names a phrasing the task does not have.

        """
        if not example.phrasing:
            return self.phrasings[0]
        for p in self.phrasings:
            if p.name == example.phrasing:
                return p
        known = ", ".join(p.name for p in self.phrasings)
        raise KeyError(f"task {self.name!r} has no phrasing {example.phrasing!r}; it has {known}")

    def messages(self, example: Example) -> list[dict[str, str]]:
        """Chat messages (`role`, `content`) asking for ``example`` in its phrasing."""
        p, values = self.phrasing(example), self.fields(example)
        out = [] if p.system is None else [{"role": "system", "content": p.system.format(**values)}]
        return [*out, {"role": "user", "content": p.user.format(**values)}]

    def tools(self, example: Example) -> list[dict[str, Any]] | None:
        """The tools the reply to ``example`` must call one of (OpenAI tool definitions), ``None`` for none (default).

        They are offered as ``ChatHAG`` offers a forced call's tools to the model that answers
        (:func:`hag_chain.tool_prompt`): in its chat template's own slot where it has one, else as instructions in
        the system message, so :meth:`messages` leaves them out.
        """
        return None

    def grammar(self, example: Example) -> str | None:
        """The llama.cpp grammar (GBNF) the reply to ``example`` is generated under, ``None`` for free text (default).

        A structured task returns what ``ChatHAG`` would constrain the answer with (e.g. :func:`hag_chain.json_grammar`
        of the request's schema), so that its replies, and the configurations they rank, are the runtime's.
        """
        return None

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

        Each example is given a phrasing by the hash of ``"{seed}:{task}:phrasing:{id}"``: in train and dev, one of
        the phrasings not marked ``test_only``, uniformly; in test, with probability 1/2 one of the ``test_only``
        ones and otherwise one of the others, so that the test split measures seen and unseen wordings side by side
        (a task without ``test_only`` phrasings uses its phrasings everywhere).
        """
        parts: tuple[list[Example], ...] = ([], [], [])
        cut1, cut2 = self.fractions[0], self.fractions[0] + self.fractions[1]
        for ex in self.load():
            u = _uniform(f"{seed}:{self.name}:{ex.group or ex.id}")
            parts[0 if u < cut1 else 1 if u < cut2 else 2].append(ex)
        seen = [p.name for p in self.phrasings if not p.test_only]
        unseen = [p.name for p in self.phrasings if p.test_only]

        def phrased(ex: Example, test: bool) -> Example:
            u = _uniform(f"{seed}:{self.name}:phrasing:{ex.id}")
            if test and unseen:
                pool, u = (unseen, 2 * u) if u < 0.5 else (seen, 2 * u - 1)
            else:
                pool = seen
            return replace(ex, phrasing=pool[int(u * len(pool))])

        train, dev, test = (
            [phrased(ex, i == 2) for ex in sorted(part, key=lambda ex: _uniform(f"{seed}:{self.name}:order:{ex.id}"))]
            for i, part in enumerate(parts)
        )
        return Split(train, dev, test)

    def check_phrasings(self, min_phrasings: int = 1, min_test_only: int = 0) -> None:
        """Check the phrasings: unique names, at least the given counts, every template field known.

        Raises:
            ValueError: What is wrong, and with which phrasing.

        """
        names = [p.name for p in self.phrasings]
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.name!r}: phrasing names are not unique: {names}")
        n_test = sum(p.test_only for p in self.phrasings)
        if len(names) < min_phrasings or n_test < min_test_only or n_test == len(names):
            raise ValueError(
                f"task {self.name!r} has {len(names)} phrasings ({n_test} test-only); it needs at least "
                f"{min_phrasings}, at least {min_test_only} of them test-only and one seen in tuning"
            )
        example = self.load()[0]
        known = set(self.fields(example))
        for p in self.phrasings:
            if missing := p.fields() - known:
                raise ValueError(f"task {self.name!r}, phrasing {p.name!r}: unknown fields {sorted(missing)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, family={self.family!r})"


def _uniform(key: str) -> float:
    """A number in [0, 1) fixed by ``key``: the first 8 bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
