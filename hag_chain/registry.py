"""The one registry shape used for tasks, self-tuning targets and GGUF architectures.

A :class:`Registry` is a read-only mapping from a name to an entry with a single way in, :meth:`Registry.register`,
which rejects a name that is already taken (peft's ``register_peft_method`` does the same), and a single way to
look an entry up with an error that lists what is known, :meth:`Registry.lookup`.

Example:
    >>> from hag_chain.registry import Registry
    >>> COLORS: Registry[int] = Registry("color")
    >>> COLORS.register("red", 0xFF0000)
    16711680
    >>> COLORS.lookup("red")
    16711680
    >>> COLORS.lookup("blue")
    Traceback (most recent call last):
    ...
    hag_chain.errors.UnknownEntryError: Unknown color 'blue'. Known: red.

"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from hag_chain.errors import DuplicateEntryError, UnknownEntryError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one kind; a name can be registered once.

    Args:
        kind: What an entry is, for messages ("task", "architecture").
        hint: Appended to the unknown-name error, e.g. how to register one.

    """

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it.

        Raises:
            DuplicateEntryError: ``name`` is already registered.

        """
        if name in self._entries:
            article = "An" if self.kind[:1].lower() in "aeiou" else "A"
            msg = (
                f"{article} {self.kind} named {name!r} is already registered ({self._entries[name]!r}). "
                f"Pick another name, or `unregister({name!r})` first to replace it on purpose."
            )
            raise DuplicateEntryError(msg)
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove and return the entry under ``name`` (a plugin's teardown, or a test's)."""
        return self._entries.pop(name)

    def lookup(self, name: str) -> T:
        """The entry under ``name``.

        Raises:
            UnknownEntryError: No such entry; the message lists the known names.

        """
        try:
            return self._entries[name]
        except KeyError:
            msg = f"Unknown {self.kind} {name!r}. Known: {', '.join(self._entries) or 'none'}."
            if self.hint:
                msg += f" {self.hint}"
            raise UnknownEntryError(msg) from None

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
