"""Phase 1's decoding: let the model pick a configuration on the grid of a :class:`SearchSpace`.

The model writes the configuration line (:meth:`SearchSpace.line`) knob by knob. Keys and punctuation are forced,
so they are evaluated in one batch; only where the allowed values diverge does the model decide, by the highest
logit among the tokens that keep the line on the grid. This is llama.cpp grammar-constrained greedy decoding,
except that forced tokens cost a batch slot instead of a decode step each (see ``bench/runtime.py`` for what that
saves). The line is on the grid by construction, so there is nothing to parse or to fall back from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hag_chain.config import KNOBS

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
    """The configuration line the model wrote."""
    prompt_tokens: int
    output_tokens: int
    milliseconds: float


def plan(model: LoadedModel, prompt_tokens: list[int], space: SearchSpace) -> PlannerResult:
    """Ask ``model`` for a configuration; ``prompt_tokens`` ends where the assistant's reply begins.

    The caller holds ``model.lock`` and has checked that the prompt and the line fit the context.
    """
    start = time.perf_counter()
    chosen: dict[str, float] = {}
    for name, options in space.values.items():
        candidates = [space.line({**chosen, name: v}) for v in options]
        sequences = [prompt_tokens + model.tokenize(c, special=False) for c in candidates]
        chosen[name] = KNOBS[name].kind(options[_choose(model, sequences)])
    line = space.line(chosen)
    return PlannerResult(
        values=chosen,
        line=line,
        prompt_tokens=len(prompt_tokens),
        output_tokens=len(model.tokenize(line, special=False)),
        milliseconds=(time.perf_counter() - start) * 1000.0,
    )


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
