"""The batched engine's llama.cpp context: one KV stream per sequence slot, sized to what a call can use.

Each KV stream holds what the call's requests can use (prompt plus ``max_tokens`` plus a margin, rounded up), not
the whole ``n_ctx``, so that moving a sequence to another slot, and copying a prompt to its twins, moves megabytes
instead of ~94 MB each.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["KVStreams"]

_FIT_EVERY_S = 1.0
_WINDOW_MARGIN = 16
"""Positions a stream keeps past a request's prompt and ``max_tokens``: a reply can run a token or two further to
finish a UTF-8 character (:class:`~hag_training.generation.llama_port.StreamedText`). One that outgrows even this is
generated again by the single engine, so the margin only decides how rare that is."""
_WINDOW_STEP = 256
"""Stream windows are rounded up to a multiple of this, so that calls of similar requests reuse one context."""


class KVStreams:
    """A llama.cpp context of ``concurrency`` KV streams on a loaded model's weights, and its token batch.

    Args:
        concurrency: Streams, one per sequence slot (llama.cpp's ``n_seq_max``).
        n_threads: llama.cpp's threads; ``None`` follows the machine's load, as the runtime does
            (:class:`~hag_chain.CpuMeter`).
        flash_attn: Flash attention, as the runtime's context uses.

    Attributes:
        ctx: The ``LlamaContext`` (``None`` before :meth:`fit`).
        batch: A ``LlamaBatch`` of the context's ``n_batch`` tokens.
        window: Positions each stream holds (0 before :meth:`fit`).

    """

    def __init__(self, concurrency: int, n_threads: int | None, flash_attn: bool) -> None:
        self.concurrency, self.n_threads, self.flash_attn = concurrency, n_threads, flash_attn
        self.ctx: Any = None
        self.batch: Any = None
        self.window = 0
        self._meter: Any = None
        self._threads = 0
        self._fitted_at = 0.0

    def fit(self, model: Any, need: int) -> None:
        """Streams for requests of up to ``need`` positions, on ``model``'s weights (a ``LoadedModel``).

        ``need`` plus a margin, rounded up, at most the model's ``n_ctx``. The context of the previous call is kept
        when its streams have that size; otherwise one of the new size replaces it (a few tens of milliseconds), so
        that a call of short requests never copies long streams.
        """
        window = min(model.n_ctx, -(-(need + _WINDOW_MARGIN) // _WINDOW_STEP) * _WINDOW_STEP)
        if self.ctx is not None and self.window == window:
            return
        if self.ctx is not None:
            self.ctx.close()
            self.ctx, self.window = None, 0
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext

        from hag_chain import CpuMeter, available_cpus

        llm = model.llm
        # The single engine's own context parameters (flash attention, rope, batch sizes...), widened.
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = window * self.concurrency
        params.n_seq_max = self.concurrency
        params.kv_unified = False  # one KV stream per sequence: attention never scans the other sequences' cells
        params.n_batch = max(int(params.n_batch), self.concurrency)
        self._threads = self.n_threads or available_cpus()
        params.n_threads = params.n_threads_batch = self._threads
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        ctx = LlamaContext(model=llm._model, params=params, verbose=False)
        if llama_cpp.llama_n_ctx_seq(ctx.ctx) < window:
            msg = f"llama.cpp gave each sequence {llama_cpp.llama_n_ctx_seq(ctx.ctx)} positions, not {window}."
            ctx.close()
            raise RuntimeError(msg)
        self.window = min(model.n_ctx, llama_cpp.llama_n_ctx_seq(ctx.ctx))
        self._meter = CpuMeter() if self.n_threads is None else None
        self.batch = LlamaBatch(n_tokens=int(params.n_batch), embd=0, n_seq_max=1, verbose=False)
        self.ctx = ctx

    def fit_threads(self) -> None:
        """Follow the machine's load, as ``LoadedModel.fit_threads`` does for the single engine, once a second.

        The meter reads CPU time in clock ticks (10 ms); over one decoding step (0.1 s) that noise alone can make
        an idle core look half busy and halve the threads (measured: 27 of 458 steps ran on one thread, each
        about twice as slow), so the reading waits until a second has passed, about one single-engine request.
        """
        if self._meter is None or time.monotonic() - self._fitted_at < _FIT_EVERY_S:
            return
        self._fitted_at = time.monotonic()
        threads = self._meter.threads(self._threads)
        if threads != self._threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.ctx.ctx, threads, threads)
            self._threads = threads
