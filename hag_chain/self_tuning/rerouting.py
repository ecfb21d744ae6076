"""Rewire a runnable a chat model built around itself (``bind_tools``, ``with_structured_output``) to another model.

``SelfTuning`` lets the target build these runnables its own way (its tool formats, its parsers), then puts itself
where the target was, so that every call through them is self-tuned.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable
from pydantic import BaseModel

__all__ = ["reroute"]


def reroute(runnable: Runnable, old: Runnable, new: Runnable) -> Runnable:
    """A copy of ``runnable`` (as the target's ``bind_tools`` etc. build it) calling ``new`` wherever it calls ``old``.

    Raises:
        TypeError: ``old`` appears nowhere in ``runnable``'s fields (e.g. it is hidden in a function).

    """
    rerouted = _replace(runnable, old, new)
    if rerouted is runnable:
        msg = (
            f"SelfTuning could not find the `{type(old).__name__}` inside the runnable its method returned "
            f"(`{type(runnable).__name__}`), so calls through it would not be self-tuned."
        )
        raise TypeError(msg)
    return rerouted


def _replace(value: Any, old: Any, new: Any) -> Any:
    """``value`` with ``old`` replaced by ``new`` in runnables' fields and in lists, tuples and dicts of them."""
    if value is old:
        return new
    if isinstance(value, Runnable) and isinstance(value, BaseModel):
        updates = {}
        for name in type(value).model_fields:
            item = getattr(value, name)
            replaced = _replace(item, old, new)
            if replaced is not item:
                updates[name] = replaced
        return value.model_copy(update=updates) if updates else value
    if type(value) in (list, tuple):
        items = [_replace(v, old, new) for v in value]
        return type(value)(items) if any(a is not b for a, b in zip(items, value)) else value
    if type(value) is dict:
        mapped = {k: _replace(v, old, new) for k, v in value.items()}
        return mapped if any(mapped[k] is not value[k] for k in value) else value
    return value
