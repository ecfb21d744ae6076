"""Phase 1 of a ``ChatHAG`` call: the planner's choice, merged with pins, defaults and bounds."""

from __future__ import annotations

from collections.abc import Callable

from hag_chain.config import DecodingConfig
from hag_chain.errors import AdapterMismatchError
from hag_chain.llama_backend import LoadedModel
from hag_chain.metadata import HAGProfile
from hag_chain.planner import PlannerResult, plan
from hag_chain.precedence import Bounds, ResolvedConfig, resolve_config, without_penalties_under_grammar
from hag_chain.protocol import PLANNER_PROMPTS, invocation_text, planner_messages
from hag_chain.request import Request
from hag_chain.space import SearchSpace

__all__ = ["PLANNER_ROOM", "choose", "invocation_start"]

#: Tokens the planner's reply needs beyond its prompt (the longest default line is 34 tokens; a code is one).
PLANNER_ROOM = 64


def choose(
    model: LoadedModel,
    request: Request,
    *,
    search_space: SearchSpace | None,
    defaults: DecodingConfig,
    bounds: Bounds,
) -> ResolvedConfig:
    """The configuration ``request`` is answered with. The caller holds ``model.lock``.

    The planner runs unless the call and the constructor pin every knob of the search space: ``search_space``,
    else the one the model's metadata carries. Under a grammar, penalties nobody set are neutralised
    (:func:`~hag_chain.precedence.without_penalties_under_grammar`).
    """
    profile = HAGProfile.from_metadata(model.metadata, model.adapter_metadata)
    space = search_space or profile.search_space
    pinned = {**request.init_knobs, **request.call_knobs}
    planned = None
    if any(k not in pinned for k in space.knobs):
        model.fit_threads()
        prompt = model.prompt_tokens(planner_messages(request.chat, profile.prompt_version))
        model.check_fits(len(prompt) + PLANNER_ROOM, "planner prompt")
        reply = PLANNER_PROMPTS[profile.prompt_version].reply
        tuned = profile.search_space
        # What the answer uses whatever the planner says: a code choice must agree with it (planner._choose_code).
        fixed = {**{k: getattr(defaults, k) for k in tuned.knobs if k not in space.values}, **pinned}

        def run() -> PlannerResult:
            return plan(model, prompt, space, reply, tuned, fixed, profile.code_tokens)

        planned = _plan_alora(model, prompt, profile, run) if model.is_alora else _plan_lora(model, run)
    resolved = resolve_config(
        call=request.call_knobs,
        init=request.init_knobs,
        model=planned.values if planned else {},
        defaults=defaults,
        bounds=bounds,
        planner=planned,
    )
    return without_penalties_under_grammar(resolved) if request.constrained else resolved


def _plan_lora(model: LoadedModel, run: Callable[[], PlannerResult]) -> PlannerResult:
    """A plain LoRA (or none): the adapter is on for the whole planner prompt."""
    model.use_adapter(True)
    return run()


def _plan_alora(
    model: LoadedModel, prompt: list[int], profile: HAGProfile, run: Callable[[], PlannerResult]
) -> PlannerResult:
    """An aLoRA: the conversation is the base model's (shared with the answer), the planner turn the adapter's.

    The KV entries of the planner turn are removed afterwards, and the adapter is left off, so the answer's
    prompt continues the base model's own cache of the conversation.
    """
    start = invocation_start(model, prompt, profile.prompt_version)
    model.use_adapter(False)
    model.prefill(prompt[:start])
    model.use_adapter(True)
    try:
        return run()
    finally:
        model.use_adapter(False)


def invocation_start(model: LoadedModel, prompt: list[int], prompt_version: str) -> int:
    """Where the aLoRA invocation, which ends the planner prompt, starts.

    Raises:
        AdapterMismatchError: The adapter's invocation tokens are not how this model's chat template and
            tokenizer render the planner turn of ``prompt_version`` (another base model, template or version).

    """
    invocation = model.invocation
    if tuple(prompt[-len(invocation) :]) != invocation:
        text = invocation_text(model.render, prompt_version)
        ours = model.tokenize(text)
        msg = (
            f"The adapter's aLoRA invocation tokens {list(invocation)} are not how this model renders the planner "
            f"turn of prompt version {prompt_version!r} ({text!r} -> {ours}). The adapter was tuned on another base "
            "model, chat template or prompt version; use the base it was trained on, or retune it."
        )
        raise AdapterMismatchError(msg)
    return len(prompt) - len(invocation)
