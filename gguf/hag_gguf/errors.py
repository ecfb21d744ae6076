"""Exceptions raised by ``hag_gguf``.

Every message says what was wrong with the input and what to do about it.
"""

from __future__ import annotations

from hag_chain import HAGError

__all__ = ["GGUFExportError", "UnsupportedModelError"]


class GGUFExportError(HAGError, ValueError):
    """An input checkpoint, adapter or option cannot be exported to GGUF."""


class UnsupportedModelError(GGUFExportError):
    """The checkpoint or adapter uses a feature llama.cpp cannot load (another architecture, DoRA, ...)."""
