"""Phase 1 of a ``ChatHAG`` call: the planner's choice, merged with pins, defaults and bounds."""

from __future__ import annotations

from hag_chain.config import DecodingConfig
from hag_chain.llama_backend import LoadedModel
from hag_chain.metadata import HAGProfile
from hag_chain.planner import plan
from hag_chain.precedence import Bounds, ResolvedConfig, resolve_config, without_penalties_under_grammar
from hag_chain.protocol import planner_messages
from hag_chain.request import Request
from hag_chain.space import SearchSpace

__all__ = ["choose"]


def choose(
    model: LoadedModel,
    request: Request,
    *,
    search_space: SearchSpace | None,
    defaults: DecodingConfig,
    bounds: Bounds,
) -> ResolvedConfig:
    """The configuration ``request`` is answered with. The caller holds ``model.lock``.

    The planner runs (with the adapter on) unless the call and the constructor pin every knob of the search
    space: ``search_space``, else the one the model's metadata carries. Under a grammar, penalties nobody set are
    neutralised (:func:`~hag_chain.precedence.without_penalties_under_grammar`).
    """
    profile = HAGProfile.from_metadata(model.metadata, model.adapter_metadata)
    space = search_space or profile.search_space
    pinned = {**request.init_knobs, **request.call_knobs}
    planned = None
    if any(k not in pinned for k in space.knobs):
        model.use_adapter(True)
        planned = plan(model, model.prompt_tokens(planner_messages(request.chat, profile.prompt_version)), space)
    resolved = resolve_config(
        call=request.call_knobs,
        init=request.init_knobs,
        model=planned.values if planned else {},
        defaults=defaults,
        bounds=bounds,
        planner=planned,
    )
    return without_penalties_under_grammar(resolved) if request.constrained else resolved
