"""The batched engine's slot scheduler: admit requests into free sequence slots, decode all live ones a step at a time.

What keeps a decoding step one forward pass (measured on SmolLM2, two threads, 200 positions per sequence): the
batch lists the live sequences by increasing, consecutive sequence id. With one KV stream per sequence, llama.cpp's
``split_equal(..., sequential=true)`` cuts a batch wherever the next token's sequence id is not the previous one's plus
one, and each piece is its own forward pass: 8 sequences in slots 0, 2, 4, ... decoded in 91 ms, the same 8 in slots
0-7 in 47 ms. Free slots are refilled lowest first, and once nothing waits, the sequence in the highest slot moves
into the lowest hole (a stream copy). Together with the batch in slot order, this took the GSM8K workload of
``bench/engine_throughput.py`` from 124 to 167 generated tokens per second.

Sequences whose prompts are token-for-token identical (every configuration and seed the search asks one input with)
are prefilled once and their KV copied to the others with ``llama_memory_seq_cp``. The requests of one prompt are
admitted together, wherever they stand in the call: the search and the evaluation list them configuration by
configuration, so in call order a prompt's twins were mostly gone by the time the next configuration asked it again
(a stage-1 rung of 8 inputs by 8 configurations, 4 seeds each: 64 prefills in call order, 8 grouped).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hag_training.generation.grammar_window import GrammarWindowSampler
from hag_training.generation.llama_port import (
    Detokenizer,
    StreamedText,
    add_token,
    reply_room,
    sample_from_logits,
    sampler_chain,
)
from hag_training.generation.request import GenerationRequest
from hag_training.generation.streams import KVStreams

__all__ = ["SlotScheduler"]


@dataclass
class _Sequence:
    """One request being generated in one of the context's sequence slots."""

    index: int
    """Position of the request in the ``generate`` call."""
    slot: int
    """llama.cpp sequence id (and KV stream)."""
    prompt: tuple[int, ...]
    sampler: Any
    text: StreamedText
    n_pos: int
    """Tokens in this sequence's KV so far."""
    limit: int
    """Positions the sequence may use: its KV stream's window (at most the single engine's context)."""
    last: int = -1
    """The token sampled last, to be decoded next."""


class SlotScheduler:
    """One ``generate`` call of the batched engine, on its fitted :class:`KVStreams`.

    Args:
        streams: The context, fitted to the call's requests.
        model: The single engine's ``LoadedModel`` (its weights, tokenizer and ``n_ctx``).
        requests: The call's requests.
        prompts: Their prompt tokens.
        stats: The engine's counters (``steps``, ``decoded``, ``prefills``, ``moved``, ``grammar_full_checks``),
            updated in place.
        on_reply: Called with ``(index, text)`` as each reply ends.

    Attributes:
        outgrown: Requests whose reply ran past the stream's window, left to the single engine.

    """

    def __init__(
        self,
        streams: KVStreams,
        model: Any,
        requests: Sequence[GenerationRequest],
        prompts: list[tuple[int, ...]],
        stats: Counter,
        on_reply: Callable[[int, str], None] | None,
    ) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        self.lib = llama_cpp
        self.streams, self.model, self.requests, self.prompts = streams, model, requests, prompts
        self.stats, self.on_reply = stats, on_reply
        self.llm = model.llm
        self.ctx = streams.ctx
        self.batch = streams.batch
        self.n_batch = self.batch._n_tokens
        self.n_vocab = self.llm.n_vocab()
        self.vocab = self.llm._model.vocab
        self.detok = Detokenizer(self.llm)
        self.candidates = LlamaTokenDataArray(n_vocab=self.n_vocab)
        self.waiting = Counter(prompts)
        """Requests not yet admitted, per prompt."""
        self.first_logits: dict[tuple[int, ...], np.ndarray] = {}
        """The next-token logits after a prompt, kept while twins of it wait for a slot."""
        self.out: list[str | None] = [None] * len(requests)
        first = {prompt: i for i, prompt in reversed(list(enumerate(prompts)))}
        self.pending = deque(sorted(range(len(requests)), key=lambda i: first[prompts[i]]))
        """Requests not yet admitted, those of one prompt together (in order of first appearance; stable within)."""
        self.free = list(range(streams.concurrency))
        """Free sequence slots, a heap: the lowest is taken first."""
        self.live: list[_Sequence] = []
        self.outgrown: list[int] = []
        self.finished: deque[tuple[int, str]] = deque()
        """Replies complete but not yet reported to ``on_reply``."""

    def run(self) -> list[str]:
        """Every request's reply, in request order (``""`` for an outgrown one, left to the single engine)."""
        from hag_chain import run_on_compute_thread

        self.ctx.kv_cache_clear()
        try:
            while self.pending or self.live:
                # One step at a time on llama.cpp's thread; replies are reported here, on the caller's (its cache).
                run_on_compute_thread(self._advance)
                while self.finished:
                    index, text = self.finished.popleft()
                    if self.on_reply:
                        self.on_reply(index, text)
        finally:
            for seq in self.live:
                seq.sampler.close()
            self.ctx.kv_cache_clear()
        return [text if text is not None else "" for text in self.out]

    def _advance(self) -> None:
        """Admit waiting requests or compact the live ones, then decode one step."""
        if self.pending and self.free:
            self._admit()
        elif not self.pending:
            self._compact()
        if self.live:
            self._step()

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
                    self._accept(seq, self._sample_kept(seq, logits))
            if not self.waiting[prompt]:
                self.first_logits.pop(prompt, None)

    def _sample_kept(self, seq: _Sequence, logits: np.ndarray) -> int:
        """``seq``'s first token, sampled from its prompt's kept logits."""
        if isinstance(seq.sampler, GrammarWindowSampler):
            return seq.sampler.sample_logits(logits)
        return sample_from_logits(self.lib, seq.sampler, self.candidates, logits)

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
            self.stats["moved"] += 1
            self.ctx.kv_cache_seq_cp(top.slot, hole, -1, -1)
            self.lib.llama_memory_seq_rm(self.ctx.memory, top.slot, -1, -1)
            top.slot = hole

    def _logits(self, idx: int) -> np.ndarray:
        ptr = self.lib.llama_get_logits_ith(self.ctx.ctx, idx)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _prefill(self, tokens: Sequence[int], slot: int) -> None:
        """Evaluate a prompt into ``slot`` in chunks of ``n_batch``, as ``Llama.eval`` does (logits of the last)."""
        self.streams.fit_threads()
        self.stats["prefills"] += 1
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            self.batch.reset()
            for j, token in enumerate(chunk):
                add_token(self.batch, token, start + j, slot, logits=j == len(chunk) - 1)
            self.ctx.decode(self.batch)

    def _start(self, i: int, slot: int, prompt: tuple[int, ...]) -> _Sequence:
        req = self.requests[i]
        n_prompt = len(prompt)
        max_tokens = reply_room(req.max_tokens, self.model.n_ctx - n_prompt)
        penalty_last_n = self.llm.last_n_tokens_size
        chain: Any
        if req.grammar is None:
            chain = sampler_chain(req.config, req.seed, n_vocab=self.n_vocab, penalty_last_n=penalty_last_n)
        else:
            chain = GrammarWindowSampler(
                req.config,
                req.seed,
                n_vocab=self.n_vocab,
                penalty_last_n=penalty_last_n,
                grammar=req.grammar,
                vocab=self.vocab,
            )
        seq = _Sequence(i, slot, prompt, chain, StreamedText(self.detok, max_tokens), n_prompt, self.streams.window)
        self.live.append(seq)
        return seq

    def _step(self) -> None:
        """Decode every live sequence's last token in one batch and sample each one's next."""
        self.streams.fit_threads()
        self.batch.reset()
        live = sorted(self.live, key=lambda seq: seq.slot)  # see _compact: in slot order, or llama.cpp splits it
        for seq in live:
            add_token(self.batch, seq.last, seq.n_pos, seq.slot, logits=True)
        self.ctx.decode(self.batch)
        self.stats.update(steps=1, decoded=len(live))
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
            self.finished.append((seq.index, text))
        else:
            self.outgrown.append(seq.index)
        if isinstance(seq.sampler, GrammarWindowSampler):
            self.stats["grammar_full_checks"] += seq.sampler.full_checks
        seq.sampler.close()
        self.live.remove(seq)
        # (LlamaContext.kv_cache_seq_rm would read a negative id as 0: call llama.cpp.)
        self.lib.llama_memory_seq_rm(self.ctx.memory, seq.slot, -1, -1)
        heapq.heappush(self.free, seq.slot)
