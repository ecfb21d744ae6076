"""Exceptions raised by hag-chain.

Every error derives from :class:`HAGError`, so a chain can catch them all at once. Each message says what was
wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AdapterMismatchError",
    "ContextLengthError",
    "DuplicateEntryError",
    "HAGError",
    "InvalidConfigError",
    "ModelLoadError",
    "UnknownEntryError",
]


class HAGError(Exception):
    """Base class of every hag-chain error."""


class ModelLoadError(HAGError):
    """A model or adapter file is missing, is not a GGUF, or llama.cpp could not load it."""


class AdapterMismatchError(ModelLoadError):
    """A LoRA adapter was trained for a different base model than the one it is applied to."""


class ContextLengthError(HAGError, ValueError):
    """The prompt does not fit the model's context window."""


class InvalidConfigError(HAGError, ValueError):
    """A decoding configuration is malformed or uses a value outside the search space.

    Attributes:
        field: Name of the offending knob, or ``None`` when the line as a whole is malformed.
        text: The text that failed to parse, when the error comes from parsing.

    """

    def __init__(self, message: str, *, field: str | None = None, text: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.text = text


class DuplicateEntryError(HAGError, ValueError):
    """A name is registered twice in a :class:`~hag_chain.Registry`."""


class UnknownEntryError(HAGError, LookupError):
    """A name has no entry in a :class:`~hag_chain.Registry`."""
