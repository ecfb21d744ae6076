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

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` as this engine's model is asked it (a request without tools as it is).

        Tools go where ``ChatHAG`` puts them for the same model (:func:`hag_chain.tool_prompt`): a chat template that
        writes tools keeps them in :attr:`~GenerationRequest.tools`, another gets them as instructions in the
        messages. :meth:`generate` resolves each request itself; the cache keys requests resolved.
        """
        ...

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Reply texts, in request order; ``on_reply(i, text)`` as soon as request ``i``'s reply is complete."""
        ...
