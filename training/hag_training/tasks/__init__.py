"""Benchmark tasks with real data: ``get_task(name)`` returns one, ``TASKS`` lists them all.

Each task has a ``name``, a ``family``, ``load()`` (real examples), ``messages(example)`` (the chat prompt),
``extract(example, text)``, ``score(example, text)`` in [0, 1] and ``split(seed)`` (deterministic train/dev/test).
To add a task, write one module in this package with a ``Task`` subclass decorated with ``@register_task``: every
module here is imported when the package is, so nothing else needs editing.
"""

from importlib import import_module
from pkgutil import iter_modules

from .base import Example, Family, Phrasing, Split, Task
from .registry import TASKS, get_task, register_task

__all__ = ["TASKS", "Example", "Family", "Phrasing", "Split", "Task", "get_task", "register_task"]


def _import_task_modules() -> None:
    """Import every module of this package but the infrastructure, registering the tasks they define.

    Sorted, so that ``TASKS`` lists the tasks in the same order on every machine.
    """
    for module in sorted(m.name for m in iter_modules(__path__)):
        if module not in ("base", "registry") and not module.startswith("_"):
            import_module(f"{__name__}.{module}")


_import_task_modules()
