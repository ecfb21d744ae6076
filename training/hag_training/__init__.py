"""hag-training: build HAG models — benchmark tasks, the racing configuration search, LoRA tuning, evaluation.

The ``hag-train`` command runs each step (``search``, ``sft``, ``eval``) or all of them (``recipe``). The public API,
by step:

- tasks: :data:`TASKS`, :func:`get_task`, :func:`register_task` (the class decorator that adds one),
  :class:`Task`, :class:`Example`, :class:`Split`;
- generation: :class:`GenerationRequest`, the :class:`Engine` protocol, :class:`LlamaCppEngine` (and
  :class:`BatchedLlamaCppEngine`, the same generations many at a time), :class:`OpenAICompatibleEngine`; the
  persistent cache :class:`GenerationCache`, :class:`CachedEngine`, :func:`default_cache_path`;
- scoring (shared by the search, the evaluation and the room): :class:`Scorer` (``k`` replies per input and
  configuration, scored as a group), :class:`GroupScore`, :exc:`BudgetExhausted`, :func:`answer_tokens`;
- the search: :func:`run_search`, :class:`SearchConfig`, :class:`SearchResult`, :class:`Label`,
  :func:`write_outputs`, :data:`LLAMA_CPP_DEFAULT`;
- tuning: :func:`train_adapter`, :class:`SFTConfig`, :class:`SFTResult`, :func:`write_model_card`;
- evaluation: :func:`evaluate_adapter`, :class:`EvalConfig`, :class:`EvalReport`, :func:`write_report`,
  :data:`METHODS`;
- the room (how much decoding moves each task's score): :func:`run_room`, :class:`RoomConfig`,
  :class:`RoomReport`, :func:`write_room`;
- recipes: :data:`RECIPES`, :class:`Recipe`, :func:`run_recipe`.

Names are imported on first use (PEP 562), so ``import hag_training`` loads neither torch, transformers, peft,
datasets nor llama.cpp; each is loaded only by the step that needs it.

Example:
    >>> from hag_training import get_task
    >>> get_task("coinflip").family
    'reasoning'

"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public name -> (module, attribute).
_EXPORTS: dict[str, tuple[str, str]] = {
    "TASKS": ("tasks", "TASKS"),
    "Example": ("tasks", "Example"),
    "Split": ("tasks", "Split"),
    "Task": ("tasks", "Task"),
    "get_task": ("tasks", "get_task"),
    "register_task": ("tasks", "register"),
    "Engine": ("engines", "Engine"),
    "GenerationRequest": ("engines", "GenerationRequest"),
    "LlamaCppEngine": ("engines", "LlamaCppEngine"),
    "BatchedLlamaCppEngine": ("batched_engine", "BatchedLlamaCppEngine"),
    "OpenAICompatibleEngine": ("engines", "OpenAICompatibleEngine"),
    "CachedEngine": ("cache", "CachedEngine"),
    "GenerationCache": ("cache", "GenerationCache"),
    "default_cache_path": ("cache", "default_cache_path"),
    "BudgetExhausted": ("scoring", "BudgetExhausted"),
    "GroupScore": ("scoring", "GroupScore"),
    "Scorer": ("scoring", "Scorer"),
    "Label": ("search", "Label"),
    "LLAMA_CPP_DEFAULT": ("search", "LLAMA_CPP_DEFAULT"),
    "SearchConfig": ("search", "SearchConfig"),
    "SearchResult": ("search", "SearchResult"),
    "answer_tokens": ("scoring", "answer_tokens"),
    "run_search": ("search", "run_search"),
    "write_outputs": ("search", "write_outputs"),
    "SFTConfig": ("sft", "SFTConfig"),
    "SFTResult": ("sft", "SFTResult"),
    "train_adapter": ("sft", "train_adapter"),
    "write_model_card": ("model_card", "write_model_card"),
    "METHODS": ("evaluate", "METHODS"),
    "EvalConfig": ("evaluate", "EvalConfig"),
    "EvalReport": ("evaluate", "EvalReport"),
    "evaluate_adapter": ("evaluate", "evaluate_adapter"),
    "write_report": ("evaluate", "write_report"),
    "RECIPES": ("recipe", "RECIPES"),
    "Recipe": ("recipe", "Recipe"),
    "run_recipe": ("recipe", "run_recipe"),
    "RoomConfig": ("room", "RoomConfig"),
    "RoomReport": ("room", "RoomReport"),
    "run_room": ("room", "run_room"),
    "write_room": ("room", "write_room"),
}

__all__ = [
    "BatchedLlamaCppEngine",
    "BudgetExhausted",
    "CachedEngine",
    "Engine",
    "EvalConfig",
    "EvalReport",
    "Example",
    "GenerationCache",
    "GenerationRequest",
    "GroupScore",
    "LLAMA_CPP_DEFAULT",
    "Label",
    "LlamaCppEngine",
    "METHODS",
    "OpenAICompatibleEngine",
    "RECIPES",
    "Recipe",
    "RoomConfig",
    "RoomReport",
    "SFTConfig",
    "SFTResult",
    "Scorer",
    "SearchConfig",
    "SearchResult",
    "Split",
    "TASKS",
    "Task",
    "answer_tokens",
    "default_cache_path",
    "evaluate_adapter",
    "get_task",
    "register_task",
    "run_recipe",
    "run_room",
    "run_search",
    "train_adapter",
    "write_model_card",
    "write_outputs",
    "write_report",
    "write_room",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hag_training' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(import_module(f"hag_training.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from hag_training.batched_engine import BatchedLlamaCppEngine
    from hag_training.cache import CachedEngine, GenerationCache, default_cache_path
    from hag_training.engines import Engine, GenerationRequest, LlamaCppEngine, OpenAICompatibleEngine
    from hag_training.evaluate import METHODS, EvalConfig, EvalReport, evaluate_adapter, write_report
    from hag_training.model_card import write_model_card
    from hag_training.recipe import RECIPES, Recipe, run_recipe
    from hag_training.room import RoomConfig, RoomReport, run_room, write_room
    from hag_training.scoring import BudgetExhausted, GroupScore, Scorer, answer_tokens
    from hag_training.search import LLAMA_CPP_DEFAULT, Label, SearchConfig, SearchResult, run_search, write_outputs
    from hag_training.sft import SFTConfig, SFTResult, train_adapter
    from hag_training.tasks import TASKS, Example, Split, Task, get_task
    from hag_training.tasks import register as register_task
