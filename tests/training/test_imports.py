"""The public API of `hag_training`: pinned, resolvable, and light to import."""

import hag_training
import pytest

from ..conftest import MAY_LOAD, heavy_modules_after

pytestmark = pytest.mark.unit

EXPECTED_ALL = [
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
    "Phrasing",
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
    "leave_one_task_out",
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


def test_all_is_pinned_and_every_name_resolves():
    assert hag_training.__all__ == EXPECTED_ALL
    assert dir(hag_training) == EXPECTED_ALL
    for name in EXPECTED_ALL:
        assert getattr(hag_training, name) is not None
    from hag_training.tasks import register_task

    assert hag_training.register_task is register_task


def test_import_loads_no_heavy_dependency():
    assert heavy_modules_after("import hag_training") <= MAY_LOAD["hag_training"]
    # Nor do the steps' entry points: each imports its heavy dependencies when it runs.
    code = "from hag_training import get_task, run_search, train_adapter, GenerationRequest"
    assert heavy_modules_after(code) <= MAY_LOAD["hag_training"]
