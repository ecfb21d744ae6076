"""The in-process llama.cpp engine the search, the evaluation and the room use by default."""

from __future__ import annotations

from hag_training.generation.batched import BatchedLlamaCppEngine
from hag_training.generation.engine import Engine
from hag_training.generation.llama import LlamaCppEngine

__all__ = ["local_engine"]


def local_engine(model_path: str | None = None, adapter_path: str | None = None) -> Engine:
    """:class:`BatchedLlamaCppEngine` (many sequences per llama.cpp call), or :class:`LlamaCppEngine` for a LoRA.

    The batched engine, unless a plain LoRA must shape the answers, which only the single engine applies. Both have
    the same ``engine_id`` for the same model, so they share cache entries.
    """
    single = LlamaCppEngine(model_path=model_path, adapter_path=adapter_path)
    if single.answering_adapter is not None:
        return single
    return BatchedLlamaCppEngine(model_path=model_path, adapter_path=adapter_path)
