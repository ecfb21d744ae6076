"""Which value each knob gets: call argument, then constructor pin, then the model's choice, then the default.

Bounds cap every value except an explicit call argument, which is the caller's final word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hag_chain.config import KNOBS, DecodingConfig

__all__ = ["Bounds", "ResolvedConfig", "Source", "resolve_config", "without_penalties_under_grammar"]

Source = Literal["call", "init", "model", "default", "fallback", "bound", "grammar"]
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


#: Penalties that a JSON grammar's output cannot bear: quotes, braces and key names repeat by design, so a penalty
#: on repeated tokens makes the model avoid closing a string (measured: a greedy forced tool call with
#: repetition_penalty 1.15 never closed its argument; with 1.0 it wrote {"location": "Lisbon"}).
_GRAMMAR_NEUTRAL = {"repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}


def without_penalties_under_grammar(resolved: ResolvedConfig) -> ResolvedConfig:
    """Neutral repetition penalties for grammar-constrained answers (tool calls, structured output).

    Only values the model chose or the defaults supplied are replaced (source ``grammar``); a call argument, a
    constructor pin or a bound stands.
    """
    values = resolved.config.model_dump()
    sources = dict(resolved.sources)
    for name, neutral in _GRAMMAR_NEUTRAL.items():
        if sources[name] in ("model", "default", "fallback") and values[name] != neutral:
            values[name], sources[name] = neutral, "grammar"
    return ResolvedConfig(DecodingConfig.from_values(values), sources)
