"""Fixtures of the hag_gguf tests: the tiny llama (tied and untied) saved once a session, and its sample ids.

The builders and the logits of both runtimes are plain functions in ``tests/tiny_models.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..tiny_models import SAMPLE_TEXT, build_tiny_llama


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds (real SmolLM2 conversions)")


@pytest.fixture(scope="session", autouse=True)
def _torch_beside_llama_cpp(single_threaded_torch: None) -> None:
    """The tests here run torch and llama.cpp in one process: torch on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_untied_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama-untied", tie=False, seed=1)


@pytest.fixture(scope="session")
def sample_ids(tiny_model_dir: Path) -> list[int]:
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(tiny_model_dir).encode(SAMPLE_TEXT, add_special_tokens=False)
    assert len(ids) >= 16
    return ids
