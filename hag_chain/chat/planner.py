"""Phase 1 of a ``ChatHAG`` call: the planner asks the model for its configuration, merged with pins and bounds.

:func:`plan` is the whole phase: it renders the planner turn (:mod:`hag_chain.protocol`), switches the adapter
(for an activated LoRA, only the planner turn is the adapter's), reads the model's choice on the search space's grid
and resolves it against the call's knobs, the pins, the defaults and the bounds (:mod:`~hag_chain.chat.precedence`).

The model's choice comes in one of two reply formats (:class:`~hag_chain.protocol.PlannerPrompt`):

- ``"line"``: the model writes the configuration line (:meth:`SearchSpace.line`) knob by knob. Keys and
  punctuation are forced, so they are evaluated in one batch; only where the allowed values diverge does the model
  decide, by the highest logit among the tokens that keep the line on the grid. This is llama.cpp
  grammar-constrained greedy decoding, except that forced tokens cost a batch slot instead of a decode step each.
- ``"code"``: the model answers with one token, a configuration's code (:meth:`SearchSpace.code`); its choice is
  the highest logit among the grid's codes after the prompt. One llama.cpp call, whatever the number of knobs.

Either way the choice is on the grid by construction, so there is nothing to parse or to fall back from.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hag_chain.chat.precedence import Bounds, ResolvedConfig, default_value, resolve_config
from hag_chain.chat.request import Request
from hag_chain.errors import AdapterMismatchError, InvalidConfigError
from hag_chain.knobs import KNOBS, DecodingConfig
from hag_chain.llama.model import LoadedModel
from hag_chain.protocol import PLANNER_PROMPTS, HAGProfile, invocation_text, planner_messages, planner_suffix
from hag_chain.space import SearchSpace

__all__ = ["PLANNER_ROOM", "PlannerResult", "code_tokens", "invocation_start", "plan", "with_planner_suffix"]

#: Tokens the planner's reply needs beyond its prompt (the longest default line is 34 tokens; a code is one).
PLANNER_ROOM = 64


@dataclass(frozen=True)
class PlannerResult:
    """What the model chose in phase 1 and what it cost."""

    values: dict[str, float]
    """The chosen value of each knob of the search space, in the space's order."""
    line: str
    """The configuration line of the choice (for a code reply: the line the code stands for)."""
    prompt_tokens: int
    output_tokens: int
    milliseconds: float


def plan(
    model: LoadedModel,
    request: Request,
    *,
    search_space: SearchSpace | None,
    defaults: DecodingConfig,
    bounds: Bounds,
) -> ResolvedConfig:
    """The configuration ``request`` is answered with. The caller holds ``model.lock``.

    The planner runs unless the call and the constructor pin every knob of the search space: ``search_space``,
    else the one the model's metadata carries. It reads the conversation the answer is asked with
    (:attr:`Request.chat`: the tool or schema instructions included), so it can tell a structured request from free
    text, and its choice stands under a grammar as anywhere; only knobs nobody set take their defaults under a
    structured-output grammar (:attr:`Request.structured_output`, :func:`~hag_chain.chat.precedence.resolve_config`).
    """
    profile = HAGProfile.from_metadata(model.metadata, model.adapter_metadata)
    space = search_space or profile.search_space
    pinned = {**request.init_knobs, **request.call_knobs}
    planned = None
    if any(k not in pinned for k in space.knobs):
        model.fit_threads()
        version = profile.prompt_version
        prompt = with_planner_suffix(model, request.prompt(model, planner_messages(request.chat, version)), version)
        model.check_fits(len(prompt) + PLANNER_ROOM, "planner prompt")
        reply = PLANNER_PROMPTS[version].reply
        tuned = profile.search_space
        # What the answer uses whatever the planner says: a code choice must agree with it (:func:`_best_code`).
        unset = {
            k: default_value(k, defaults, grammar=request.structured_output)[0]
            for k in tuned.knobs
            if k not in space.values
        }
        fixed = {**unset, **pinned}

        def run() -> PlannerResult:
            return _read_choice(model, prompt, space, reply, tuned, fixed, profile.code_tokens)

        planned = _plan_alora(model, prompt, profile, run) if model.is_alora else _plan_lora(model, run)
    return resolve_config(
        call=request.call_knobs,
        init=request.init_knobs,
        model=planned.values if planned else {},
        defaults=defaults,
        bounds=bounds,
        planner=planned,
        grammar=request.structured_output,
    )


def with_planner_suffix(model: LoadedModel, prompt: list[int], version: str) -> list[int]:
    """``prompt`` (the rendered :func:`~hag_chain.planner_messages`) and then the tokens of the planner suffix.

    The suffix (:func:`~hag_chain.planner_suffix`: the planner's word where it opens the reply) is tokenised on its
    own, as training does, so it never merges with the generation prompt's last token.
    """
    suffix = planner_suffix(version)
    return prompt + model.tokenize(suffix, special=False) if suffix else prompt


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


def _read_choice(
    model: LoadedModel,
    prompt_tokens: list[int],
    space: SearchSpace,
    reply: Literal["line", "code"] = "line",
    tuned: SearchSpace | None = None,
    fixed: Mapping[str, float] | None = None,
    tuned_codes: Sequence[int] | None = None,
) -> PlannerResult:
    """Ask ``model`` for a configuration on ``space``; ``prompt_tokens`` ends where the assistant's reply begins.

    ``tuned`` is the grid a code-reply model was tuned on (default: ``space``), whose configurations its codes name;
    ``fixed`` are the values the answer will use whatever the planner says (pins, and the defaults of tuned knobs
    that ``space`` leaves out). See :func:`_best_code` for how both shape a code choice; a line reply writes
    every knob of ``space`` and the caller applies the pins. ``tuned_codes`` are the code token ids the model was
    tuned on, checked against this model's tokenizer where given. The caller holds ``model.lock`` and has checked that
    the prompt and the line fit the context.

    Raises:
        AdapterMismatchError: ``reply`` is ``"code"`` and a code is not the token the model was tuned on.
        InvalidConfigError: ``reply`` is ``"code"`` and ``space`` has a knob the tuned grid lacks and nobody pinned.

    """
    start = time.perf_counter()
    if reply == "code":
        ids = code_tokens(model, tuned or space, tuned_codes)
        chosen, output_tokens = _best_code(model, prompt_tokens, space, tuned or space, fixed or {}, ids), 1
    else:
        chosen = {}
        for name, options in space.values.items():
            candidates = [space.line({**chosen, name: v}) for v in options]
            sequences = [prompt_tokens + model.tokenize(c, special=False) for c in candidates]
            chosen[name] = KNOBS[name].kind(options[_preferred(model, sequences)])
        output_tokens = len(model.tokenize(space.line(chosen), special=False))
    return PlannerResult(
        values=chosen,
        line=space.line(chosen),
        prompt_tokens=len(prompt_tokens),
        output_tokens=output_tokens,
        milliseconds=(time.perf_counter() - start) * 1000.0,
    )


def code_tokens(model: LoadedModel, space: SearchSpace, tuned_on: Sequence[int] | None = None) -> list[int]:
    """The token id of each configuration code of ``space``, as this model tokenizes it.

    Raises:
        AdapterMismatchError: A code is not one token of the model's vocabulary, or not the token the adapter was
            tuned on (``tuned_on``, from ``hag.code_tokens``: another tokenizer, e.g. one that adds a word prefix).

    """
    ids = []
    for code in space.codes():
        tokens = model.tokenize(code, special=False)
        if len(tokens) != 1:
            msg = (
                f"The configuration code {code!r} is {len(tokens)} tokens in this model's vocabulary, not one: "
                "the adapter answers with one-token codes (prompt versions hag-v3 and hag-v4) and cannot have been "
                "tuned on this base model. Use the base it was trained on, or retune it."
            )
            raise AdapterMismatchError(msg)
        ids.append(tokens[0])
    if tuned_on is not None and list(tuned_on) != ids:
        msg = (
            f"The adapter was tuned on the code tokens {list(tuned_on)}, but this model tokenizes its codes as {ids}: "
            "another tokenizer than the one it was trained with. Use the base it was trained on, or retune it."
        )
        raise AdapterMismatchError(msg)
    return ids


def _best_code(
    model: LoadedModel,
    prompt_tokens: list[int],
    space: SearchSpace,
    tuned: SearchSpace,
    fixed: Mapping[str, float],
    ids: Sequence[int],
) -> dict[str, float]:
    """The configuration of ``space`` whose nearest ``tuned`` configurations' codes have the highest logit.

    One llama.cpp call: the logits after the prompt, read at the grid's code tokens ``ids``. When ``space`` is the tuned
    grid and nothing is pinned (the usual case) this is the model's own choice exactly. Otherwise only the tuned
    configurations that agree with ``fixed`` (at the tuned value nearest each fixed value) compete; on a sub-grid
    the choice is the model's best among those allowed; a value off the tuned grid stands for its nearest tuned
    value (of several values nearest to the same tuned one, the first listed wins); and a tuned knob that ``space``
    leaves out and nothing fixes goes to whichever value scores highest.
    """

    def nearest(knob: str, value: float) -> float:
        return min(tuned.values[knob], key=lambda t: abs(t - value))

    missing = [k for k in space.knobs if k not in tuned.values and k not in fixed]
    if missing:
        msg = (
            f"The model answers with codes of the grid it was tuned on ({', '.join(tuned.knobs)}), which cannot "
            f"choose {', '.join(missing)}: pin {'it' if len(missing) == 1 else 'them'} or leave "
            f"{'it' if len(missing) == 1 else 'them'} out of `search_space`."
        )
        raise InvalidConfigError(msg, field=missing[0])
    required = {k: nearest(k, v) for k, v in fixed.items() if k in tuned.values}
    chosen_knobs = [k for k in space.knobs if k in tuned.values]
    logits = model.logits_after(prompt_tokens)
    best_by_key: dict[tuple[float, ...], float] = {}  # tuned values of the chosen knobs -> best logit among them
    for combo, token in zip(itertools.product(*tuned.values.values()), ids, strict=True):  # the codes' order
        values = dict(zip(tuned.knobs, combo, strict=True))
        if all(values[k] == v for k, v in required.items()):
            key = tuple(values[k] for k in chosen_knobs)
            best_by_key[key] = max(best_by_key.get(key, -np.inf), float(logits[token]))

    def score(combo: tuple[float, ...]) -> float:
        key = tuple(nearest(k, v) for k, v in zip(space.knobs, combo, strict=True) if k in tuned.values)
        return best_by_key.get(key, -np.inf)

    best = max(itertools.product(*space.values.values()), key=score)
    return dict(zip(space.knobs, best, strict=True))


def _preferred(model: LoadedModel, sequences: Sequence[list[int]]) -> int:
    """Index of the sequence the model prefers, deciding greedily at each token where the sequences diverge."""
    alive = list(range(len(sequences)))
    pos = 0
    while len(alive) > 1:
        while all(pos < len(sequences[i]) for i in alive) and len({sequences[i][pos] for i in alive}) == 1:
            pos += 1
        logits = model.logits_after(sequences[alive[0]][:pos])
        options = sorted({sequences[i][pos] for i in alive if pos < len(sequences[i])})
        best = max(options, key=lambda t: logits[t])
        alive = [i for i in alive if pos < len(sequences[i]) and sequences[i][pos] == best]
        pos += 1
    return alive[0]
