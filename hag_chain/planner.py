"""Phase 1's decoding: let the model pick a configuration on the grid of a :class:`SearchSpace`.

Two reply formats (:class:`~hag_chain.protocol.PlannerPrompt`):

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from hag_chain.config import KNOBS
from hag_chain.errors import AdapterMismatchError, InvalidConfigError

if TYPE_CHECKING:
    from hag_chain.llama_backend import LoadedModel
    from hag_chain.space import SearchSpace

__all__ = ["PlannerResult", "plan"]


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
    prompt_tokens: list[int],
    space: SearchSpace,
    reply: Literal["line", "code"] = "line",
    tuned: SearchSpace | None = None,
) -> PlannerResult:
    """Ask ``model`` for a configuration on ``space``; ``prompt_tokens`` ends where the assistant's reply begins.

    ``tuned`` is the grid a code-reply model was tuned on (default: ``space``); its codes name that grid's
    configurations (see :func:`_choose_code` for a ``space`` that differs from it). The caller holds
    ``model.lock`` and has checked that the prompt and the line fit the context.

    Raises:
        AdapterMismatchError: ``reply`` is ``"code"`` and a code is not one token of this model's vocabulary.
        InvalidConfigError: ``reply`` is ``"code"`` and ``space`` has a knob the tuned grid lacks.

    """
    start = time.perf_counter()
    if reply == "code":
        chosen, output_tokens = _choose_code(model, prompt_tokens, space, tuned or space), 1
    else:
        chosen = {}
        for name, options in space.values.items():
            candidates = [space.line({**chosen, name: v}) for v in options]
            sequences = [prompt_tokens + model.tokenize(c, special=False) for c in candidates]
            chosen[name] = KNOBS[name].kind(options[_choose(model, sequences)])
        output_tokens = len(model.tokenize(space.line(chosen), special=False))
    return PlannerResult(
        values=chosen,
        line=space.line(chosen),
        prompt_tokens=len(prompt_tokens),
        output_tokens=output_tokens,
        milliseconds=(time.perf_counter() - start) * 1000.0,
    )


def _choose_code(
    model: LoadedModel, prompt_tokens: list[int], space: SearchSpace, tuned: SearchSpace
) -> dict[str, float]:
    """The configuration of ``space`` whose nearest ``tuned`` configurations' codes have the highest logit.

    One llama.cpp call: the logits after the prompt, read at the grid's code tokens. When ``space`` is the tuned
    grid (the usual case) this is the model's own choice exactly; on a sub-grid (some values of each knob) it is
    the model's best configuration among those allowed; a value off the tuned grid stands for its nearest tuned
    value, and a tuned knob that ``space`` leaves out (it keeps its default) for whichever value scores highest.
    """
    missing = [k for k in space.knobs if k not in tuned.values]
    if missing:
        msg = (
            f"The model answers with codes of the grid it was tuned on ({', '.join(tuned.knobs)}), which cannot "
            f"choose {', '.join(missing)}: pin {'it' if len(missing) == 1 else 'them'} or leave "
            f"{'it' if len(missing) == 1 else 'them'} out of `search_space`."
        )
        raise InvalidConfigError(msg, field=missing[0])
    codes, ids = tuned.codes(), []
    for code in codes:
        tokens = model.tokenize(code, special=False)
        if len(tokens) != 1:
            msg = (
                f"The configuration code {code!r} is {len(tokens)} tokens in this model's vocabulary, not one: "
                "the adapter answers with one-token codes (prompt version hag-v3) and cannot have been tuned on "
                "this base model. Use the base it was trained on, or retune it."
            )
            raise AdapterMismatchError(msg)
        ids.append(tokens[0])
    logits = model.logits_after(prompt_tokens)
    best_by_key: dict[tuple[float, ...], float] = {}  # tuned values of space's knobs -> best logit among them
    for code, token in zip(codes, ids, strict=True):
        values = tuned.from_code(code)
        key = tuple(values[k] for k in space.knobs)
        best_by_key[key] = max(best_by_key.get(key, -np.inf), float(logits[token]))

    def nearest(knob: str, value: float) -> float:
        return min(tuned.values[knob], key=lambda t: abs(t - value))

    grid = list(itertools.product(*space.values.values()))
    best = max(grid, key=lambda combo: best_by_key[tuple(nearest(k, v) for k, v in zip(space.knobs, combo))])
    return dict(zip(space.knobs, best, strict=True))


def _choose(model: LoadedModel, sequences: Sequence[list[int]]) -> int:
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
