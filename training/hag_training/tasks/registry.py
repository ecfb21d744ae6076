"""The one place where tasks are registered and looked up by name."""

from __future__ import annotations

from .base import Task

__all__ = ["TASKS", "get_task", "register"]

TASKS: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator adding a task to `TASKS` under its `name` (lower case, unique)."""
    name = cls.name
    if name != name.lower() or not name.replace("_", "").isalnum():
        raise ValueError(f"task names are lower-case snake_case, got {name!r}")
    if name in TASKS:
        raise KeyError(f"task {name!r} is already registered by {TASKS[name].__qualname__}")
    TASKS[name] = cls
    return cls


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as `name`."""
    try:
        return TASKS[name]()
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known: {sorted(TASKS)}") from None
