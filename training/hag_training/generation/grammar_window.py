"""Grammar-constrained sampling that checks the likeliest tokens first: the same tokens, a fraction of the checks.

``create_completion``'s chain runs llama.cpp's grammar sampler after the penalties and before top-k: at every step it
checks every token of the vocabulary against the grammar (49,152 for SmolLM2), and the samplers after it only ever
keep the top-k tokens that pass (greedy: the first one). In the batched engine this check was more than half of a
structured reply's cost (measured: 12.9 ms per sequence-token with a JSON schema's grammar, 5.9 without).

:class:`GrammarWindowSampler` first checks the :data:`WINDOW` tokens with the highest penalised logits. When at least
as many pass as the rest of the chain keeps (1 for greedy, ``top_k`` otherwise), they are exactly the tokens the full
check would have let through to top-k, the highest ones, and the rest of the chain (the same samplers with the same
seed) picks the same token from them. Under sampling with fewer that pass (a position the grammar narrows to a few
tokens), the window still decides when min-p would cut every token outside it and top-p cannot cut differently
(:meth:`GrammarWindowSampler._decides`). Otherwise (and for ties, and ``top_k`` 0, which keeps everything) it checks
the whole vocabulary, as ``create_completion`` does. Either way the penalties, the grammar and the rest of the chain
accept the token, as the chain does.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from hag_chain import DecodingConfig
from hag_training.generation.llama_port import add_penalties, add_sampling, grammar_sampler

__all__ = ["WINDOW", "GrammarWindowSampler"]

_MARGIN = 1e-3
"""Logits this close to min-p's cut are left to the full check (float32 rounding of the cut)."""

WINDOW = 128
"""Tokens checked first: above the largest ``top_k`` of the default search space (50) and the defaults' 40, so that
inside a JSON string, where most tokens fit, the window alone decides."""


class GrammarWindowSampler:
    """``sampler_chain(config, seed, grammar=...)`` that checks the grammar on the top :data:`WINDOW` tokens first.

    Args:
        config: The decoding configuration.
        seed: Seed of the final draw.
        n_vocab: The model's vocabulary size.
        penalty_last_n: Generated tokens the penalties look back on.
        grammar: GBNF text (start rule ``root``).
        vocab: The model's ``llama_vocab`` pointer.
        window: Tokens checked first (``None``: :data:`WINDOW`, read when the sampler is made; 0: none, the whole
            vocabulary is checked at every step, as ``create_completion`` does).

    Attributes:
        full_checks: Steps on which the window did not decide and the whole vocabulary was checked.

    Raises:
        ValueError: llama.cpp cannot parse ``grammar``.

    """

    def __init__(
        self,
        config: DecodingConfig,
        seed: int,
        *,
        n_vocab: int,
        penalty_last_n: int,
        grammar: str,
        vocab: Any,
        window: int | None = None,
    ) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaSampler, LlamaTokenDataArray

        self._lib = llama_cpp
        self.n_vocab, self.window = n_vocab, min(WINDOW if window is None else window, n_vocab)
        self.grammar = grammar_sampler(vocab, grammar)
        kw = config.to_llama_kwargs()
        self.penalties = LlamaSampler()
        add_penalties(self.penalties, kw, n_vocab=n_vocab, penalty_last_n=penalty_last_n)
        self.rest = LlamaSampler()
        add_sampling(self.rest, kw, seed)
        top_k, temp = kw["top_k"], kw["temperature"]
        # How many tokens must pass the grammar in the window for it to decide: what the chain after it keeps.
        self.needed = 1 if temp == 0.0 else top_k if temp > 0.0 and 0 < top_k <= self.window else None
        # Or, sampling with top-k (which sorts), typical off and min-p on: min-p's cut, in logits below the best token
        # (log(min_p) as llama.cpp computes it, in float32).
        cuts = temp > 0.0 and top_k > 0 and kw["typical_p"] >= 1.0 and kw["min_p"] > 0.0
        self.min_p_cut = np.log(np.float32(kw["min_p"])) if cuts else None
        self.top_p = kw["top_p"]
        self.windowed = self.window > 0 and (self.needed is not None or self.min_p_cut is not None)
        self.full = LlamaTokenDataArray(n_vocab=n_vocab)
        self.top = LlamaTokenDataArray(n_vocab=max(self.window, 1))
        self.full_checks = 0

    def sample(self, ctx: Any, idx: int) -> int:
        """The next token from the context's logits of batch output ``idx`` (as ``LlamaSampler.sample``)."""
        ptr = self._lib.llama_get_logits_ith(ctx.ctx, idx)
        return self.sample_logits(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)))

    def sample_logits(self, logits: np.ndarray) -> int:
        """The next token from next-token ``logits`` (the vocabulary's, in token order); every sampler accepts it."""
        lib, full = self._lib, self.full
        full.copy_logits(logits)
        lib.llama_sampler_apply(self.penalties.sampler, ctypes.byref(full.candidates))
        token = None
        if self.windowed:
            penalised = full.candidates_data.logit
            best = np.argpartition(penalised, -self.window)[-self.window :]
            top = self.top
            top.candidates_data.id[:] = best  # copy_logits numbered the candidates by token id
            top.candidates_data.logit[:] = penalised[best]
            top.candidates_data.p[:] = 0.0
            top.candidates.size, top.candidates.sorted = self.window, False
            lowest = top.candidates_data.logit.min()
            lib.llama_sampler_apply(self.grammar, ctypes.byref(top.candidates))
            if self._decides(top.candidates_data.logit, lowest):
                token = self._draw(top)
        if token is None:
            self.full_checks += 1
            lib.llama_sampler_apply(self.grammar, ctypes.byref(full.candidates))
            token = self._draw(full)
        for sampler in (self.penalties.sampler, self.grammar, self.rest.sampler):
            lib.llama_sampler_accept(sampler, token)
        return token

    def _decides(self, checked: np.ndarray, lowest: np.float32) -> bool:
        """Whether the window's tokens after the grammar (``checked``, -inf where it failed) give the full check's.

        Every token outside the window has a logit of at most ``lowest``, the window's lowest. The window decides
        when the tokens that reach the final draw are the same, in the same order, as with the whole vocabulary
        checked:

        - enough tokens fit for what the chain keeps (:attr:`needed`: 1 for greedy, top-k): the best ones, above
          ``lowest``, are the best of the vocabulary;
        - or fewer fit, but min-p cuts every token outside the window. Top-k may keep some of those beside the ones
          that fit, but min-p keeps only logits at least the best one's plus log(min_p). Top-p, which comes before
          min-p, sees them only as probability mass after the tokens min-p keeps: it changes nothing when its
          cumulative sum over the window's tokens alone is still below ``top_p`` one token before the last of those
          (more mass only lowers that sum; 1e-4 covers float32 rounding).

        Two equal logits among those tokens, or at the edge of what is kept, would be ordered by their place in the
        array (by token id in the full one), so they leave it to the full check; so does a logit within
        :data:`_MARGIN` of min-p's cut, which llama.cpp's float32 ``logf`` may round differently.
        """
        ranked = np.sort(checked[np.isfinite(checked)])[::-1]
        n_fit = len(ranked)
        if self.needed is not None and n_fit >= self.needed:
            kept = self.needed
        elif self.min_p_cut is not None and n_fit > 0:
            cut = ranked[0] + self.min_p_cut
            kept = int(np.count_nonzero(ranked >= cut))
            edge = ranked[kept] if kept < n_fit else lowest
            if not (lowest < cut - _MARGIN and ranked[kept - 1] > cut + _MARGIN and edge < cut - _MARGIN):
                return False
            if self.top_p < 1.0:
                probs = np.exp(ranked.astype(np.float64) - float(ranked[0]))
                if probs[: kept - 1].sum() / probs.sum() >= self.top_p - 1e-4:
                    return False
        else:
            return False
        head = ranked[: kept + 1]  # the kept ones and the next, if any
        return bool(ranked[kept - 1] > lowest and np.all(head[:-1] > head[1:]))

    def _draw(self, candidates: Any) -> int:
        """The rest of the chain's token from ``candidates`` (read through the array's pointer: samplers sort it)."""
        array = candidates.candidates
        array.selected = -1
        self._lib.llama_sampler_apply(self.rest.sampler, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise RuntimeError(f"llama.cpp's sampler chain selected no candidate ({array.selected} of {array.size})")
        return int(array.data[array.selected].id)

    def close(self) -> None:
        """Free the samplers (the grammar is not part of a chain here, so it is freed on its own); idempotent."""
        self.penalties.close()
        self.rest.close()
        if self.grammar:
            self._lib.llama_sampler_free(self.grammar)
            self.grammar = None

    def __del__(self) -> None:
        if getattr(self, "grammar", None):
            self.close()
