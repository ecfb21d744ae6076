"""Benchmark tasks with real data: `get_task(name)` returns one, `TASKS` lists them all.

Each task has a `name`, a `family`, `load()` (real examples), `messages(example)` (the chat prompt),
`extract(example, text)`, `score(example, text)` in [0, 1] and `split(seed)` (deterministic train/dev/test).
To add a task, subclass `Task` in a module here, decorate it with `@register` and import the module below.
"""

from . import code, coinflip, commongen, gsm8k, multiple_choice, piglatin, translation, yes_no  # noqa: F401
from .base import Example, Family, Split, Task
from .registry import TASKS, get_task, register

__all__ = ["TASKS", "Example", "Family", "Split", "Task", "get_task", "register"]
