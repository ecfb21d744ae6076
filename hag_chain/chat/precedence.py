"""Which value each knob gets: call argument, then constructor pin, then the model's choice, then the default.

Under a structured-output grammar the default is the knob's ``grammar_default`` where it has one
(:class:`~hag_chain.knobs.KnobTraits`): the penalties ``ChatHAG.defaults`` hold for free text are not the ones
that keep JSON from looping. Bounds cap every value except an explicit call argument, which is the caller's final
word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hag_chain.knobs import KNOBS, DecodingConfig

if TYPE_CHECKING:  # the planner resolves its choice here: a runtime import would be a cycle
    from hag_chain.chat.planner import PlannerResult

__all__ = ["Bounds", "ResolvedConfig", "Source", "default_value", "resolve_config"]

Source = Literal["call", "init", "model", "default", "bound", "grammar"]
"""Who set a knob: the call, a constructor pin (``init``), the planner (``model``), ``ChatHAG.defaults``, a bound, or
the knob's default under a grammar (``grammar``)."""
Bounds = Mapping[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class ResolvedConfig:
    """The configuration phase 2 runs with, where each knob's value came from, and what the planner did."""

    config: DecodingConfig
    sources: dict[str, Source]
    planner: PlannerResult | None = field(default=None, compare=False)
    """Phase 1's line and cost (not part of equality: two equal choices may take different times); ``None`` when
    every knob of the search space was pinned."""

    def metadata(self) -> dict[str, Any]:
        """The ``response_metadata["hag"]`` entry (and ``hag_config`` event payload) for this configuration."""
        planned = self.planner
        return {
            "config": self.config.model_dump(),
            "sources": dict(self.sources),
            "line": planned.line if planned else None,
            "planner_tokens": {
                "input": planned.prompt_tokens if planned else 0,
                "output": planned.output_tokens if planned else 0,
            },
            "planner_ms": round(planned.milliseconds, 2) if planned else 0.0,
        }


def resolve_config(
    *,
    call: Mapping[str, float],
    init: Mapping[str, float],
    model: Mapping[str, float],
    defaults: DecodingConfig,
    bounds: Bounds,
    planner: PlannerResult | None = None,
    grammar: bool = False,
) -> ResolvedConfig:
    """Merge the layers knob by knob.

    Args:
        call: Knobs passed to ``invoke``/``stream``/``bind``.
        init: Knobs pinned on the chat model's constructor.
        model: The model's choice from phase 1 (empty when the planner did not run).
        defaults: Values for knobs nobody set.
        bounds: ``{knob: (low, high)}`` caps; ``None`` leaves a side open.
        planner: What phase 1 did, kept on the result for its metadata.
        grammar: The answer is structured output under its schema's grammar: a knob nobody set takes its
            ``grammar_default`` (source ``grammar``) where it has one, instead of its value in ``defaults``.

    """
    values: dict[str, float] = {}
    sources: dict[str, Source] = {}
    for name in KNOBS:
        source: Source
        if name in call:
            values[name], sources[name] = call[name], "call"
            continue
        if name in init:
            value, source = init[name], "init"
        elif name in model:
            value, source = model[name], "model"
        else:
            value, source = default_value(name, defaults, grammar=grammar)
        low, high = bounds.get(name, (None, None))
        if low is not None and value < low:
            value, source = low, "bound"
        if high is not None and value > high:
            value, source = high, "bound"
        values[name], sources[name] = value, source
    return ResolvedConfig(DecodingConfig.from_values(values), sources, planner)


def default_value(name: str, defaults: DecodingConfig, *, grammar: bool = False) -> tuple[float, Source]:
    """The value knob ``name`` gets when nobody sets it, and its source.

    Its ``grammar_default`` under a grammar, where it has one (source ``grammar``); else its value in ``defaults``.
    """
    value = KNOBS[name].grammar_default if grammar else None
    return (value, "grammar") if value is not None else (getattr(defaults, name), "default")
