"""The protocol every generation engine follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from hag_training.generation.request import GenerationRequest

__all__ = ["Engine"]


class Engine(Protocol):
    """Something that turns generation requests into reply texts."""

    @property
    def engine_id(self) -> str:
        """Identifies the model behind the engine; part of every cache key."""
        ...

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Reply texts, in request order; ``on_reply(i, text)`` as soon as request ``i``'s reply is complete."""
        ...
