"""The public API of `hag_training`: pinned, resolvable, and light to import."""

import json
import subprocess
import sys

import hag_training

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
HEAVY = ["torch", "transformers", "peft", "datasets", "llama_cpp", "langchain_core"]


def test_all_is_pinned_and_every_name_resolves():
    assert hag_training.__all__ == EXPECTED_ALL
    assert dir(hag_training) == EXPECTED_ALL
    for name in EXPECTED_ALL:
        assert getattr(hag_training, name) is not None
    from hag_training.tasks import register

    assert hag_training.register_task is register


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_no_heavy_dependency():
    assert _loaded_after("import hag_training") == []
    # Nor do the steps' entry points: each imports its heavy dependencies when it runs.
    assert _loaded_after("from hag_training import get_task, run_search, train_adapter, GenerationRequest") == []
