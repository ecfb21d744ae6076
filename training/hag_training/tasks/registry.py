"""The one place where tasks are registered and looked up by name."""

from __future__ import annotations

from hag_chain import Registry

from .base import Task

__all__ = ["TASKS", "get_task", "register_task"]

TASKS: Registry[type[Task]] = Registry(
    "task", hint="Add one: a module in hag_training/tasks/ defining a `Task` subclass decorated with `@register_task`."
)
"""Every task class by name (read-only: :func:`register_task` is the one way in)."""


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator adding a task to :data:`TASKS` under its ``name``.

    Raises:
        ValueError: The name is not lower-case snake_case.
        hag_chain.DuplicateEntryError: The name is taken (a ``ValueError`` too).

    """
    name = cls.name
    if name != name.lower() or not name.replace("_", "").isalnum():
        msg = f"Task names are lower-case snake_case; got {name!r} ({cls.__qualname__})."
        raise ValueError(msg)
    return TASKS.register(name, cls)


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as ``name``.

    Raises:
        hag_chain.UnknownEntryError: No such task; the message lists the known ones.

    """
    return TASKS.lookup(name)()
