"""Batched llama.cpp generation: many sequences decoded together in one context.

:class:`BatchedLlamaCppEngine` answers the same :class:`~hag_training.generation.request.GenerationRequest` as
:class:`~hag_training.generation.llama.LlamaCppEngine` and has the same :attr:`~BatchedLlamaCppEngine.engine_id`, so
the two share one generation cache and are interchangeable. Instead of one ``create_completion`` after another, it
keeps up to :attr:`~BatchedLlamaCppEngine.concurrency` sequences in one llama.cpp context (one KV stream and one
sampler chain each, :mod:`~hag_training.generation.streams`) and decodes the next token of all of them in a single
``llama_decode`` call (:mod:`~hag_training.generation.scheduler`). On a CPU the matrix products are compute-bound
either way; what batching saves is the per-call overhead (thread start-up and synchronisation, graph building,
reading the weights once per step instead of once per sequence).

What it does the same way as the single-sequence engine, step by step (:mod:`~hag_training.generation.llama_port`):

- the prompt: ``LoadedModel.prompt_tokens`` of the single engine's own loaded model (same chat template, same
  tokens), the same :meth:`~hag_chain.LoadedModel.check_fits` error, the same ``max_tokens`` cap (``n_ctx`` minus
  the prompt), a prompt prefilled in one batch of up to ``n_batch`` tokens with one output;
- the sampler: the chain llama-cpp-python 0.3.36's ``Llama._init_sampler`` builds for ``create_completion``, seeded
  with the request's seed, with the request's grammar (llama.cpp's grammar sampler, after the penalties) where it
  has one, checked on the likeliest tokens first where that gives the same token
  (:mod:`~hag_training.generation.grammar_window`); the prompt is not fed to the penalties;
- the stop: an end-of-generation token (``llama_vocab_is_eog``), else ``max_tokens``;
- the text: what ``create_completion(stream=True, stop=[])`` streams for those tokens, including how it holds back
  and finally drops incomplete UTF-8.

llama.cpp's batched kernels are not bit-exact with its single-sequence ones: a logit can differ in its last bits, so
a greedy reply can (rarely) take another token where two candidates are nearly tied. ``bench/engine_throughput.py``
measures the agreement.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from hag_training.generation.llama import LlamaCppEngine
from hag_training.generation.llama_port import check_grammar, reply_room
from hag_training.generation.request import GenerationRequest
from hag_training.generation.scheduler import SlotScheduler
from hag_training.generation.streams import KVStreams

__all__ = ["BatchedLlamaCppEngine"]

_MAX_SEQUENCES = 256  # LLAMA_MAX_SEQ in llama.cpp (llama_max_parallel_sequences())


@dataclass
class BatchedLlamaCppEngine:
    """llama.cpp in-process, generating up to ``concurrency`` requests at once in one context.

    A drop-in replacement for :class:`~hag_training.generation.llama.LlamaCppEngine` (same :attr:`engine_id`, so the
    same cache entries; same prompts, sampler chains and stopping rule): see the module docstring for what is done
    the same way and how exact it is. A call keeps every slot busy, admitting the next request as soon as a sequence
    ends, and reports each reply as it ends (``on_reply``), so :class:`~hag_training.generation.cache.CachedEngine`
    hands it a whole round of the search at once and still caches every reply the moment it exists.

    Args:
        model_path: GGUF file; ``None`` means hag-chain's default SmolLM2 model.
        adapter_path: ``None``, or an activated LoRA, which never changes answers (see
            :attr:`~hag_training.generation.llama.LlamaCppEngine.answering_adapter`): the engine then answers as the
            base model, as the single engine does. A plain LoRA is refused (batched LoRA is not implemented; use
            :class:`~hag_training.generation.llama.LlamaCppEngine`).
        n_ctx: Context window of each sequence (the single engine's ``n_ctx``). The KV cache holds ``concurrency``
            streams of what each call's requests can use (the longest prompt plus reply cap, plus 16, rounded up to
            256, at most ``n_ctx``): about 23 KB a position for SmolLM2-135M, so 16 streams of 512 take 190 MB.
        concurrency: Sequences decoded together (llama.cpp's ``n_seq_max``), at most 256.
        n_threads: llama.cpp's threads; ``None`` follows the machine's load step by step, as the runtime does
            (:class:`~hag_chain.CpuMeter`).
        flash_attn: Flash attention, as the runtime's (and so the single engine's) context uses.

    Attributes:
        stats: Counts since construction: ``steps`` (decoding steps), ``decoded`` (sequence-tokens they decoded;
            ``decoded / steps`` is the mean batch), ``prefills`` (prompts evaluated), ``moved`` (sequences moved
            down to keep the slots consecutive), ``outgrown`` (replies handed to the single engine),
            ``grammar_full_checks`` (tokens of grammar-constrained replies for which the whole vocabulary was checked
            against the grammar).

    """

    model_path: str | None = None
    adapter_path: str | None = None
    n_ctx: int = 4096
    concurrency: int = 16
    n_threads: int | None = None
    flash_attn: bool = True
    stats: Counter = field(default_factory=Counter, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _streams: KVStreams = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= _MAX_SEQUENCES:
            msg = f"`concurrency` must be between 1 and {_MAX_SEQUENCES} (llama.cpp's limit), got {self.concurrency}."
            raise ValueError(msg)
        if self.n_threads is not None and self.n_threads < 1:
            raise ValueError(f"`n_threads` must be >= 1 or None (follow the machine's load), got {self.n_threads}.")
        self._streams = KVStreams(self.concurrency, self.n_threads, self.flash_attn)

    @cached_property
    def _single(self) -> LlamaCppEngine:
        """The single-sequence engine this one stands in for: its id, its adapter rule, its loaded model."""
        single = LlamaCppEngine(self.model_path, self.adapter_path, self.n_ctx)
        if single.answering_adapter is not None:
            msg = (
                f"BatchedLlamaCppEngine cannot apply the LoRA adapter {self.adapter_path!r}: only an activated LoRA "
                "(which leaves answers to the base model) or no adapter is supported. Use `LlamaCppEngine` for "
                "a plain LoRA."
            )
            raise NotImplementedError(msg)
        return single

    @property
    def engine_id(self) -> str:
        """The single engine's id, ``llama.cpp:<model file name>``: both engines share cache entries."""
        return self._single.engine_id

    @property
    def kv_window(self) -> int:
        """Positions each sequence's KV stream holds now (0 before the first call): see ``n_ctx``."""
        return self._streams.window

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """The single engine's: the same model, its tools where ``ChatHAG`` puts them."""
        return self._single.resolve(request)

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Reply texts, in request order, decoding up to :attr:`concurrency` sequences per step.

        ``on_reply(i, text)`` is called as soon as request ``i``'s reply is complete (in order of completion).

        Raises:
            ValueError: llama.cpp cannot parse a request's grammar (nothing is generated).

        """
        if not requests:
            return []
        single = self._single
        model = single.model()
        requests = [single.resolve(r) for r in requests]
        with model.lock:  # the chat formatter and tokenizer are the single engine's; keep to its rules
            prompts = [tuple(model.prompt_tokens(req.chat, tools=req.tool_list)) for req in requests]
        for prompt in prompts:
            model.check_fits(len(prompt), "prompt")
        for grammar in {r.grammar for r in requests if r.grammar}:
            check_grammar(model.llm._model.vocab, grammar)  # before any slot holds a sequence
        need = max(len(p) + reply_room(r.max_tokens, model.n_ctx - len(p)) for r, p in zip(requests, prompts))
        with self._lock:
            self._streams.fit(model, need)
            run = SlotScheduler(self._streams, model, requests, prompts, self.stats, on_reply)
            out = run.run()
        if run.outgrown:
            # Replies that ran past their stream's window: the single engine has the whole context for them, so
            # they end exactly where its reply would.
            self.stats["outgrown"] += len(run.outgrown)

            def done(j: int, text: str) -> None:
                out[run.outgrown[j]] = text
                if on_reply:
                    on_reply(run.outgrown[j], text)

            single.generate([requests[i] for i in run.outgrown], on_reply=done)
        return out
