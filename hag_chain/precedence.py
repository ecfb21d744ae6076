"""Which value each knob gets: call argument, then constructor pin, then the model's choice, then the default.

Bounds cap every value except an explicit call argument, which is the caller's final word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hag_chain.config import KNOBS, DecodingConfig

__all__ = ["Bounds", "ResolvedConfig", "Source", "resolve_config"]

Source = Literal["call", "init", "model", "default", "fallback", "bound"]
Bounds = Mapping[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class ResolvedConfig:
    """The configuration phase 2 runs with, and where each knob's value came from."""

    config: DecodingConfig
    sources: dict[str, Source]


def resolve_config(
    *,
    call: Mapping[str, float],
    init: Mapping[str, float],
    model: Mapping[str, float] | None,
    defaults: DecodingConfig,
    bounds: Bounds,
) -> ResolvedConfig:
    """Merge the layers knob by knob.

    Args:
        call: Knobs passed to ``invoke``/``stream``/``bind``.
        init: Knobs pinned on the chat model's constructor.
        model: The model's choice from phase 1, or ``None`` when it failed and defaults stand in (``fallback``).
        defaults: Values for knobs nobody set.
        bounds: ``{knob: (low, high)}`` caps; ``None`` leaves a side open.

    """
    values: dict[str, float] = {}
    sources: dict[str, Source] = {}
    for name in KNOBS:
        if name in call:
            values[name], sources[name] = call[name], "call"
            continue
        if name in init:
            value, source = init[name], "init"
        elif model is not None and name in model:
            value, source = model[name], "model"
        else:
            value, source = getattr(defaults, name), ("fallback" if model is None else "default")
        low, high = bounds.get(name, (None, None))
        if low is not None and value < low:
            value, source = low, "bound"
        if high is not None and value > high:
            value, source = high, "bound"
        values[name], sources[name] = value, source
    return ResolvedConfig(DecodingConfig.from_values(values), sources)
