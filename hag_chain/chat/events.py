"""The ``hag_config`` callback event: the configuration a call runs with, as LangChain custom events carry it.

``ChatHAG`` and ``SelfTuning`` dispatch it once per call, before the answer, with the same dict that later lands
in ``response_metadata["hag"]``. Listen with ``astream_events`` (``event == "on_custom_event"``) or a callback
handler's ``on_custom_event``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event

__all__ = ["CONFIG_EVENT", "aemit_config_event", "emit_config_event"]

#: Name of the custom callback event that carries the chosen configuration (see ``astream_events``).
CONFIG_EVENT = "hag_config"


def emit_config_event(run_manager: CallbackManagerForLLMRun | None, data: dict[str, Any]) -> None:
    """Dispatch :data:`CONFIG_EVENT` on the chat model's run, or on the enclosing run when there is none."""
    if run_manager is not None:
        _event_manager(CallbackManager, run_manager).on_custom_event(CONFIG_EVENT, data, run_id=run_manager.run_id)
    else:  # ``stream()`` passes no run manager; the event goes to the enclosing run, if any
        with contextlib.suppress(RuntimeError):
            dispatch_custom_event(CONFIG_EVENT, data)


async def aemit_config_event(run_manager: AsyncCallbackManagerForLLMRun | None, data: dict[str, Any]) -> None:
    """Async :func:`emit_config_event`."""
    if run_manager is not None:
        await _event_manager(AsyncCallbackManager, run_manager).on_custom_event(
            CONFIG_EVENT, data, run_id=run_manager.run_id
        )
    else:
        with contextlib.suppress(RuntimeError):
            await adispatch_custom_event(CONFIG_EVENT, data)


def _event_manager(cls: type, run_manager: Any) -> Any:
    """A callback manager whose custom events belong to the chat model's own run."""
    return cls(
        handlers=run_manager.handlers,
        inheritable_handlers=run_manager.inheritable_handlers,
        parent_run_id=run_manager.run_id,
        tags=run_manager.tags,
        metadata=run_manager.metadata,
    )
