"""Shared by every test directory: what each package may load on import, the tiny search space, torch's threads,
and the miniature search output that both the hag_gguf and the hag_training tests train adapters on.

Test modules import the constants and helpers relatively (``from ..conftest import TINY_SPACE``); the fixtures are
requested by name. The tiny models' builders and the other shared helpers are in ``tiny_models.py`` beside this file.
Loaded by ``make unit`` too (no torch, transformers, peft or datasets there): those are imported inside functions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hag_chain import SearchSpace

from .tiny_models import ANSWERS, COOL, MATH, POEMS, WARM, label_record

ROOT = Path(__file__).resolve().parents[1]
"""The repository root."""

HEAVY = frozenset({"datasets", "langchain_core", "llama_cpp", "matplotlib", "numpy", "peft", "torch", "transformers"})
"""The modules that make an import slow."""

MAY_LOAD: dict[str, frozenset[str]] = {
    "hag_chain": frozenset(),  # LangChain comes with ChatHAG, llama.cpp with the first model loaded
    "hag_gguf": frozenset({"numpy"}),  # gguf-py reads and writes numpy arrays
    "hag_training": frozenset(),  # each step imports what it needs when it runs
}
"""Which :data:`HEAVY` modules importing each package, or any of its public names, may load."""


def heavy_modules_after(code: str) -> frozenset[str]:
    """The :data:`HEAVY` modules a fresh interpreter has loaded after running ``code`` at the repository root."""
    script = f"import sys\n{code}\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return HEAVY & set(out.stdout.splitlines()[-1].split())


TINY_SPACE = SearchSpace(values={"temperature": (0.0, 0.7), "top_k": (10, 50)})
"""Four configurations (two of them greedy twins): the search space of the end-to-end runs on real tasks."""


@pytest.fixture(scope="session")
def single_threaded_torch() -> None:
    """One torch thread: idle OpenMP workers spinning beside llama.cpp's threads slow both down by 10-100x.

    Nothing to do where torch is not installed (``make unit``).
    """
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A search output in miniature: math inputs labelled cool, writing inputs labelled warm."""
    records = [label_record("math", q, COOL, {COOL: 1.0, WARM: 0.0}, ANSWERS[q]) for q in MATH]
    records += [label_record("poem", q, WARM, {COOL: 0.2, WARM: 0.9}, ANSWERS[q]) for q in POEMS]
    out = tmp_path_factory.mktemp("search")
    (out / "labels.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    return out
