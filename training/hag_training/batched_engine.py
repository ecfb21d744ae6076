"""Batched llama.cpp generation: many sequences decoded together in one context.

:class:`BatchedLlamaCppEngine` answers the same :class:`~hag_training.engines.GenerationRequest` as
:class:`~hag_training.engines.LlamaCppEngine` and has the same :attr:`~BatchedLlamaCppEngine.engine_id`, so the two
share one generation cache and are interchangeable. Instead of one ``create_completion`` after another, it keeps up to
:attr:`~BatchedLlamaCppEngine.concurrency` sequences in one llama.cpp context (one KV stream and one sampler chain
each) and decodes the next token of all of them in a single ``llama_decode`` call. On a CPU the matrix products are
compute-bound either way; what batching saves is the per-call overhead (thread start-up and synchronisation, graph
building, reading the weights once per step instead of once per sequence).

What it does the same way as the single-sequence engine, step by step:

- the prompt: ``LoadedModel.prompt_tokens`` of the single engine's own loaded model (same chat template, same
  tokens), the same :meth:`~hag_chain.llama.model.LoadedModel.check_fits` error, the same ``max_tokens`` cap
  (``n_ctx`` minus the prompt), a prompt prefilled in one batch of up to ``n_batch`` tokens with one output;
- the sampler: the chain llama-cpp-python 0.3.36's ``Llama._init_sampler`` builds for ``create_completion``
  (:func:`sampler_chain`), seeded with the request's seed; the prompt is not fed to the penalties;
- the stop: an end-of-generation token (``llama_vocab_is_eog``), else ``max_tokens``;
- the text: what ``create_completion(stream=True, stop=[])`` streams for those tokens (:class:`_StreamedText`),
  including how it holds back and finally drops incomplete UTF-8.

Sequences whose prompts are token-for-token identical (the ``k`` seeds of one input that the search asks for) are
prefilled once and their KV copied to the others with ``llama_memory_seq_cp``.

What keeps a decoding step one forward pass (measured on SmolLM2, two threads, 200 positions per sequence):

- the batch lists the live sequences by increasing, consecutive sequence id. With one KV stream per sequence,
  llama.cpp's ``split_equal(..., sequential=true)`` cuts a batch wherever the next token's sequence id is not the
  previous one's plus one, and each piece is its own forward pass: 8 sequences in slots 0, 2, 4, ... decoded in
  91 ms, the same 8 in slots 0-7 in 47 ms. Free slots are refilled lowest first, and once nothing waits, the
  sequence in the highest slot moves into the lowest hole (a stream copy). Together with the batch in slot order,
  this took the GSM8K workload of ``bench/engine_throughput.py`` from 124 to 167 generated tokens per second;
- each KV stream holds what the call's requests can use (prompt plus ``max_tokens`` plus 16, rounded up), not the whole
  ``n_ctx``, so those copies, and the copies to a prompt's twins, move megabytes instead of ~94 MB each.

llama.cpp's batched kernels are not bit-exact with its single-sequence ones: a logit can differ in its last bits, so
a greedy reply can (rarely) take another token where two candidates are nearly tied. ``bench/engine_throughput.py``
measures the agreement.
"""

from __future__ import annotations

import ctypes
import heapq
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from hag_chain import DecodingConfig
from hag_training.engines import GenerationRequest, LlamaCppEngine

__all__ = ["BatchedLlamaCppEngine", "sampler_chain"]

_MAX_SEQUENCES = 256  # LLAMA_MAX_SEQ in llama.cpp (llama_max_parallel_sequences())
_FIT_EVERY_S = 1.0
_WINDOW_MARGIN = 16
"""Positions a stream keeps past a request's prompt and ``max_tokens``: a reply can run a token or two further to
finish a UTF-8 character (:class:`_StreamedText`). One that outgrows even this is generated again by the single
engine, so the margin only decides how rare that is."""
_WINDOW_STEP = 256
"""Stream windows are rounded up to a multiple of this, so that calls of similar requests reuse one context."""


def sampler_chain(config: DecodingConfig, seed: int, *, n_vocab: int, penalty_last_n: int = 64) -> Any:
    """The llama.cpp sampler chain ``create_completion`` samples ``config`` with, as a ``LlamaSampler``.

    It mirrors llama-cpp-python 0.3.36's ``Llama._init_sampler`` (which reads the seed from shared ``Llama`` state,
    so it cannot build one chain per sequence): the penalties over the last ``penalty_last_n`` generated tokens
    (``Llama.last_n_tokens_size``, 64 by default) first; then, at temperature 0, the greedy sampler; else top-k,
    typical, top-p and min-p (each keeping at least one token), the temperature and a draw seeded with ``seed``.
    """
    from llama_cpp._internals import LlamaSampler

    kw = config.to_llama_kwargs()
    chain = LlamaSampler()
    chain.add_penalties(
        n_vocab=n_vocab,
        penalty_last_n=penalty_last_n,
        penalty_repeat=kw["repeat_penalty"],
        penalty_freq=kw["frequency_penalty"],
        penalty_present=kw["presence_penalty"],
    )
    temp = kw["temperature"]
    if temp == 0.0:
        chain.add_greedy()
        return chain
    if temp > 0.0:  # a negative temperature samples the raw distribution (not reachable: DecodingConfig has ge=0)
        min_keep = 1
        chain.add_top_k(kw["top_k"])
        chain.add_typical(kw["typical_p"], min_keep)
        chain.add_top_p(kw["top_p"], min_keep)
        chain.add_min_p(kw["min_p"], min_keep)
        chain.add_temp(temp)
    chain.add_dist(seed)
    return chain


def _reply_room(max_tokens: int, room: int) -> int:
    """Tokens a reply may have, as the single engine counts them.

    ``LoadedModel.complete`` caps ``max_tokens`` at the ``room`` the context has left, and ``create_completion`` reads
    ``max_tokens <= 0`` as all of it.
    """
    capped = min(max_tokens, room)
    return capped if capped > 0 else room


class _Pieces:
    """``Llama.detokenize`` (special tokens as empty text), with each token's bytes looked up once.

    llama-cpp-python's ``LlamaModel.detokenize`` concatenates ``llama_token_to_piece`` of each token and drops a
    leading space when the first token is BOS; the streaming text below detokenizes the whole completion after every
    token, so the pieces are cached, and any list holding a BOS goes to the library itself.
    """

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._bos = llm.token_bos()
        self._cache: dict[int, bytes] = {}

    def __call__(self, tokens: Sequence[int]) -> bytes:
        if self._bos in tokens:
            return bytes(self._llm.detokenize(list(tokens)))
        cache = self._cache
        for t in tokens:
            if t not in cache:
                cache[t] = bytes(self._llm.detokenize([t]))
        return b"".join(cache[t] for t in tokens)


class _StreamedText:
    """The text ``Llama.create_completion(stream=True, stop=[])`` yields for the tokens pushed, chunk by chunk.

    A port of that loop (llama-cpp-python 0.3.36) for an empty stop list and no logprobs, kept literal so that the
    batched engine's replies equal the single engine's ``"".join`` of the streamed chunks:

    - after each token, if the last three bytes of the whole completion look like the start of an unfinished UTF-8
      character, the token is held back, and the ``max_tokens`` check is skipped for it (so a reply can run a token
      or two past ``max_tokens`` to finish a character);
    - otherwise the longest prefixes of the unreturned tokens that decode as UTF-8 are emitted;
    - at the end, unreturned tokens are emitted one by one with undecodable bytes dropped.
    """

    def __init__(self, detokenize: Callable[[Sequence[int]], bytes], max_tokens: int) -> None:
        self._detok = detokenize
        self.max_tokens = max_tokens
        self.tokens: list[int] = []
        self._chunks: list[str] = []
        self._returned = 0
        self._multibyte_fix = 0

    def push(self, token: int) -> bool:
        """Add a generated token (not an end-of-generation one); ``True`` when ``create_completion`` stops here."""
        self.tokens.append(token)
        all_text = self._detok(self.tokens)
        for k, char in enumerate(all_text[-3:]):
            k = 3 - k
            for num, pattern in ((2, 192), (3, 224), (4, 240)):
                if num > k and pattern & char == pattern:
                    self._multibyte_fix = num - k
        if self._multibyte_fix > 0:
            self._multibyte_fix -= 1
            return False
        self._emit_decodable()
        return len(self.tokens) >= self.max_tokens

    def _emit_decodable(self) -> None:
        remaining = self.tokens[self._returned :]
        remaining_length = len(self._detok(remaining))
        end_position = 0
        while remaining:
            for i in range(1, len(remaining) + 1):
                try:
                    head = self._detok(remaining[:i])
                    text = head.decode("utf-8")
                    break
                except UnicodeError:
                    pass
            else:
                break
            end_position += len(head)
            if end_position > remaining_length:
                break
            remaining = remaining[i:]
            self._returned += i
            self._chunks.append(text)

    def finish(self) -> str:
        """The whole reply: the chunks so far, then the unreturned tokens' text."""
        remaining = self.tokens[self._returned :]
        end = len(self._detok(remaining))
        end_position = 0
        for token in remaining:
            piece = self._detok([token])
            end_position += len(piece)
            if end_position >= end:
                self._chunks.append(piece[: len(piece) - (end_position - end)].decode("utf-8", errors="ignore"))
                break
            self._chunks.append(piece.decode("utf-8", errors="ignore"))
        self._returned = len(self.tokens)
        return "".join(self._chunks)


@dataclass
class _Sequence:
    """One request being generated in one of the context's sequence slots."""

    index: int
    """Position of the request in the ``generate`` call."""
    slot: int
    """llama.cpp sequence id (and KV stream)."""
    prompt: tuple[int, ...]
    sampler: Any
    text: _StreamedText
    n_pos: int
    """Tokens in this sequence's KV so far."""
    limit: int
    """Positions the sequence may use: its KV stream's window (at most the single engine's context)."""
    last: int = -1
    """The token sampled last, to be decoded next."""


@dataclass
class BatchedLlamaCppEngine:
    """llama.cpp in-process, generating up to ``concurrency`` requests at once in one context.

    A drop-in replacement for :class:`~hag_training.engines.LlamaCppEngine` (same :attr:`engine_id`, so the same
    cache entries; same prompts, sampler chains and stopping rule): see the module docstring for what is done the
    same way and how exact it is. A call keeps every slot busy, admitting the next request as soon as a sequence
    ends, and reports each reply as it ends (``on_reply``), so :class:`~hag_training.cache.CachedEngine` hands it a
    whole round of the search at once and still caches every reply the moment it exists.

    Args:
        model_path: GGUF file; ``None`` means hag-chain's default SmolLM2 model.
        adapter_path: ``None``, or an activated LoRA, which never changes answers (see
            :attr:`~hag_training.engines.LlamaCppEngine.answering_adapter`): the engine then answers as the base
            model, as the single engine does. A plain LoRA is refused (batched LoRA is not implemented; use
            :class:`~hag_training.engines.LlamaCppEngine`).
        n_ctx: Context window of each sequence (the single engine's ``n_ctx``). The KV cache holds ``concurrency``
            streams of what each call's requests can use (the longest prompt plus reply cap, plus 16, rounded up to
            256, at most ``n_ctx``): about 23 KB a position for SmolLM2-135M, so 16 streams of 512 take 190 MB.
        concurrency: Sequences decoded together (llama.cpp's ``n_seq_max``), at most 256.
        n_threads: llama.cpp's threads; ``None`` follows the machine's load step by step, as the runtime does
            (:mod:`hag_chain.llama.threads`).
        flash_attn: Flash attention, as the runtime's (and so the single engine's) context uses.

    Attributes:
        stats: Counts since construction: ``steps`` (decoding steps), ``decoded`` (sequence-tokens they decoded;
            ``decoded / steps`` is the mean batch), ``prefills`` (prompts evaluated), ``moved`` (sequences moved
            down to keep the slots consecutive), ``outgrown`` (replies handed to the single engine).

    """

    model_path: str | None = None
    adapter_path: str | None = None
    n_ctx: int = 4096
    concurrency: int = 16
    n_threads: int | None = None
    flash_attn: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _ctx: Any = field(default=None, init=False, repr=False)
    _batch: Any = field(default=None, init=False, repr=False)
    _meter: Any = field(default=None, init=False, repr=False)
    stats: Counter = field(default_factory=Counter, init=False)
    _window: int = field(default=0, init=False, repr=False)
    _threads: int = field(default=0, init=False, repr=False)
    _fitted_at: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= _MAX_SEQUENCES:
            msg = f"`concurrency` must be between 1 and {_MAX_SEQUENCES} (llama.cpp's limit), got {self.concurrency}."
            raise ValueError(msg)
        if self.n_threads is not None and self.n_threads < 1:
            raise ValueError(f"`n_threads` must be >= 1 or None (follow the machine's load), got {self.n_threads}.")

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
        return self._window

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Reply texts, in request order, decoding up to :attr:`concurrency` sequences per step.

        ``on_reply(i, text)`` is called as soon as request ``i``'s reply is complete (in order of completion).
        """
        if not requests:
            return []
        from hag_chain import ModelKey, default_model_path, load_model

        single = self._single
        path = str(self.model_path or default_model_path())
        model = load_model(ModelKey(path, None, n_ctx=single.n_ctx))
        with model.lock:  # the chat formatter and tokenizer are the single engine's; keep to its rules
            prompts = [
                tuple(model.prompt_tokens([{"role": r, "content": c} for r, c in req.messages])) for req in requests
            ]
        for prompt in prompts:
            model.check_fits(len(prompt), "prompt")
        window = max(len(p) + _reply_room(r.max_tokens, model.n_ctx - len(p)) for r, p in zip(requests, prompts))
        with self._lock:
            run = _Run(self, model, requests, prompts, self._context(model, window + _WINDOW_MARGIN), on_reply)
            out = run.run()
        if run.outgrown:
            # Replies that ran past their stream's window (see _WINDOW_MARGIN): the single engine has the whole
            # context for them, so they end exactly where its reply would.
            self.stats["outgrown"] += len(run.outgrown)

            def done(j: int, text: str) -> None:
                out[run.outgrown[j]] = text
                if on_reply:
                    on_reply(run.outgrown[j], text)

            single.generate([requests[i] for i in run.outgrown], on_reply=done)
        return out

    # -- the llama.cpp context ---------------------------------------------------------------------------------------

    def _context(self, model: Any, window: int) -> Any:
        """The engine's own context on the loaded model's weights: ``concurrency`` KV streams of ``window`` rounded up.

        The context of the previous call is reused when its streams have that size; otherwise one of the new size
        replaces it (a few tens of milliseconds), so that a call of short requests never copies long streams.
        """
        window = min(model.n_ctx, -(-window // _WINDOW_STEP) * _WINDOW_STEP)
        if self._ctx is not None and self._window == window:
            return self._ctx
        if self._ctx is not None:
            self._ctx.close()
            self._ctx, self._window = None, 0
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext

        from hag_chain.llama.threads import CpuMeter, available_cpus

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
        self._window = min(model.n_ctx, llama_cpp.llama_n_ctx_seq(ctx.ctx))
        self._meter = CpuMeter() if self.n_threads is None else None
        self._batch = LlamaBatch(n_tokens=int(params.n_batch), embd=0, n_seq_max=1, verbose=False)
        self._ctx = ctx
        return ctx

    def _fit_threads(self) -> None:
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

            llama_cpp.llama_set_n_threads(self._ctx.ctx, threads, threads)
            self._threads = threads


class _Run:
    """One ``generate`` call: admit requests into free slots, decode all live sequences a step at a time."""

    def __init__(
        self,
        engine: BatchedLlamaCppEngine,
        model: Any,
        requests: Sequence[GenerationRequest],
        prompts: list[tuple[int, ...]],
        ctx: Any,
        on_reply: Callable[[int, str], None] | None,
    ) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        self.lib = llama_cpp
        self.engine, self.model, self.requests, self.prompts = engine, model, requests, prompts
        self.on_reply = on_reply
        self.llm = model.llm
        self.ctx = ctx
        self.window = engine._window
        self.batch = engine._batch
        self.n_batch = self.batch._n_tokens
        self.n_vocab = self.llm.n_vocab()
        self.vocab = self.llm._model.vocab
        self.detok = _Pieces(self.llm)
        self.candidates = LlamaTokenDataArray(n_vocab=self.n_vocab)
        self.waiting = Counter(prompts)
        """Requests not yet admitted, per prompt."""
        self.first_logits: dict[tuple[int, ...], np.ndarray] = {}
        """The next-token logits after a prompt, kept while twins of it wait for a slot."""
        self.out: list[str | None] = [None] * len(requests)
        self.pending = deque(range(len(requests)))
        self.free = list(range(engine.concurrency))
        """Free sequence slots, a heap: the lowest is taken first."""
        self.live: list[_Sequence] = []
        self.outgrown: list[int] = []
        """Requests whose reply ran past the stream's window, left to the single engine."""

    def run(self) -> list[str]:
        self.ctx.kv_cache_clear()
        try:
            while self.pending or self.live:
                if self.pending and self.free:
                    self._admit()
                elif not self.pending:
                    self._compact()
                if self.live:
                    self._step()
        finally:
            for seq in self.live:
                seq.sampler.close()
            self.ctx.kv_cache_clear()
        return [text if text is not None else "" for text in self.out]

    def _admit(self) -> None:
        """Fill free slots, each distinct prompt evaluated once, and sample the new sequences' first tokens.

        A prompt no live sequence holds is prefilled into one slot and its KV copied to its twins; one a live
        sequence holds (twins admitted later, as slots free up) is copied from that sequence and cut back to the
        prompt, and the first token is sampled from the prompt's logits kept from its prefill.
        """
        groups: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        while self.pending and self.free:
            i = self.pending.popleft()
            groups.setdefault(self.prompts[i], []).append((i, heapq.heappop(self.free)))
        for prompt, members in groups.items():
            self.waiting[prompt] -= len(members)
            donor = next((seq for seq in self.live if seq.prompt == prompt), None)
            if donor is None:
                leader = members[0][1]
                self._prefill(prompt, leader)
                if self.waiting[prompt]:
                    self.first_logits[prompt] = self._logits(-1).copy()
                for _, slot in members[1:]:
                    # Across KV streams llama.cpp copies the whole stream, before the next decode.
                    self.ctx.kv_cache_seq_cp(leader, slot, -1, -1)
                for i, slot in members:
                    seq = self._start(i, slot, prompt)
                    self._accept(seq, seq.sampler.sample(self.ctx, -1))
            else:
                logits = self.first_logits[prompt]
                for i, slot in members:
                    self.ctx.kv_cache_seq_cp(donor.slot, slot, -1, -1)
                    self.lib.llama_memory_seq_rm(self.ctx.memory, slot, len(prompt), -1)
                    seq = self._start(i, slot, prompt)
                    self._accept(seq, self._sample_saved(seq.sampler, logits))
            if not self.waiting[prompt]:
                self.first_logits.pop(prompt, None)

    def _compact(self) -> None:
        """Move the sequences in the highest slots into the lowest free ones, so the live slots are consecutive.

        With one KV stream per sequence, llama.cpp decodes each run of consecutive sequence ids as its own forward
        pass; a stream copy (the whole window) costs far less than the passes it saves.
        """
        while self.free and self.live:
            top = max(self.live, key=lambda seq: seq.slot)
            if self.free[0] > top.slot:
                return
            hole = heapq.heapreplace(self.free, top.slot)
            self.engine.stats["moved"] += 1
            self.ctx.kv_cache_seq_cp(top.slot, hole, -1, -1)
            self.lib.llama_memory_seq_rm(self.ctx.memory, top.slot, -1, -1)
            top.slot = hole

    def _logits(self, idx: int) -> np.ndarray:
        ptr = self.lib.llama_get_logits_ith(self.ctx.ctx, idx)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _sample_saved(self, sampler: Any, logits: np.ndarray) -> int:
        """What ``llama_sampler_sample`` does with the context's logits, on a kept copy: apply, select, accept."""
        cur = self.candidates
        cur.copy_logits(logits)
        cur.candidates.selected = -1
        self.lib.llama_sampler_apply(sampler.sampler, ctypes.byref(cur.candidates))
        token = int(cur.candidates_data.id[cur.candidates.selected])
        self.lib.llama_sampler_accept(sampler.sampler, token)
        return token

    def _prefill(self, tokens: Sequence[int], slot: int) -> None:
        """Evaluate a prompt into ``slot`` in chunks of ``n_batch``, as ``Llama.eval`` does (logits of the last)."""
        self.engine._fit_threads()
        self.engine.stats["prefills"] += 1
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            self.batch.reset()
            for j, token in enumerate(chunk):
                self._add(token, start + j, slot, logits=j == len(chunk) - 1)
            self.ctx.decode(self.batch)

    def _start(self, i: int, slot: int, prompt: tuple[int, ...]) -> _Sequence:
        req = self.requests[i]
        n_prompt = len(prompt)
        limit = self.window
        max_tokens = _reply_room(req.max_tokens, self.model.n_ctx - n_prompt)
        chain = sampler_chain(req.config, req.seed, n_vocab=self.n_vocab, penalty_last_n=self.llm.last_n_tokens_size)
        seq = _Sequence(i, slot, prompt, chain, _StreamedText(self.detok, max_tokens), n_prompt, limit)
        self.live.append(seq)
        return seq

    def _step(self) -> None:
        """Decode every live sequence's last token in one batch and sample each one's next."""
        self.engine._fit_threads()
        self.batch.reset()
        live = sorted(self.live, key=lambda seq: seq.slot)  # see _compact: in slot order, or llama.cpp splits it
        for seq in live:
            self._add(seq.last, seq.n_pos, seq.slot, logits=True)
        self.ctx.decode(self.batch)
        self.engine.stats.update(steps=1, decoded=len(live))
        for j, seq in enumerate(live):
            seq.n_pos += 1
            self._accept(seq, seq.sampler.sample(self.ctx, j))

    def _accept(self, seq: _Sequence, token: int) -> None:
        """Record a sampled token, or end the sequence (end of generation, ``max_tokens``, window full)."""
        complete = True
        if not self.lib.llama_vocab_is_eog(self.vocab, token):
            if not seq.text.push(token):
                if seq.n_pos < seq.limit:
                    seq.last = token
                    return
                complete = seq.limit == self.model.n_ctx  # else the single engine's context would go on
        if complete:
            self.out[seq.index] = text = seq.text.finish()
            if self.on_reply:
                self.on_reply(seq.index, text)
        else:
            self.outgrown.append(seq.index)
        seq.sampler.close()
        self.live.remove(seq)
        # (LlamaContext.kv_cache_seq_rm would read a negative id as 0: call llama.cpp.)
        self.lib.llama_memory_seq_rm(self.ctx.memory, seq.slot, -1, -1)
        heapq.heappush(self.free, seq.slot)

    def _add(self, token: int, pos: int, slot: int, logits: bool) -> None:
        # LlamaBatch only fills whole sequences from position 0 (add_sequence) or sequence 0 (set_batch); a decoding
        # step needs one token per sequence at its own position, so the fields are written here.
        b = self.batch.batch
        n = b.n_tokens
        b.token[n] = token
        b.pos[n] = pos
        b.n_seq_id[n] = 1
        b.seq_id[n][0] = slot
        b.logits[n] = logits
        b.n_tokens = n + 1
