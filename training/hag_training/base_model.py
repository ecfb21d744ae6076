"""The base model a ``hag-train`` command runs: a supported model's name, a GGUF file, or the default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hag_chain import SupportedModel

__all__ = ["resolve_base"]


def resolve_base(model: str | Path | None) -> tuple[SupportedModel | None, str | None]:
    """The supported model ``model`` is (by name, or as its file) and the GGUF to run (``None``: the default's).

    Raises:
        FileNotFoundError: ``model`` is neither a supported model's name nor an existing file.

    """
    from hag_chain import DEFAULT_MODEL, MODELS

    if model is None or str(model) in MODELS:
        supported = MODELS[str(model or DEFAULT_MODEL)]
        # The default model keeps `None` (the engines' and the tuning's own default); others run from their file.
        return supported, None if supported.name == DEFAULT_MODEL else supported.path()
    path = Path(model)
    if not path.is_file():
        known = ", ".join(MODELS)
        msg = f"base model {path} does not exist; pass a GGUF file or a supported model's name ({known})"
        raise FileNotFoundError(msg)
    # Its file, by name and size: resolving every installed model's path could mean joining a gigabyte of parts.
    size = path.stat().st_size
    by_file = next((m for m in MODELS.values() if (m.file_name, m.size) == (path.name, size)), None)
    return by_file, str(path)
