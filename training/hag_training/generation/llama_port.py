"""What llama-cpp-python 0.3.36 does inside ``Llama.create_completion``, ported for many sequences at once.

``create_completion`` keeps its sampler and its detokenizing stream in shared ``Llama`` state, one sequence at a time;
the batched engine needs one of each per sequence, equal to the library's. Each function here names the library
code it follows, and is kept literal so that the batched engine's replies equal the single engine's.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hag_chain import DecodingConfig

__all__ = [
    "Detokenizer",
    "StreamedText",
    "add_penalties",
    "add_sampling",
    "add_token",
    "check_grammar",
    "grammar_sampler",
    "reply_room",
    "sample_from_logits",
    "sampler_chain",
]


def grammar_sampler(vocab: Any, grammar: str) -> Any:
    """llama.cpp's grammar sampler for the GBNF text ``grammar`` (start rule ``root``), as ``LlamaSampler.add_grammar``.

    ``vocab`` is the model's ``llama_vocab`` pointer (``LlamaModel.vocab``).

    Raises:
        ValueError: llama.cpp cannot parse ``grammar`` (its parser's message goes to stderr). llama-cpp-python would
            add the null sampler to the chain, which crashes the process at the first token.

    """
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        raise ValueError(f"llama.cpp could not parse the grammar (GBNF with a `root` rule): {grammar[:200]!r}")
    return sampler


def check_grammar(vocab: Any, grammar: str) -> None:
    """Raise :class:`ValueError` if llama.cpp cannot parse ``grammar`` (see :func:`grammar_sampler`)."""
    import llama_cpp

    llama_cpp.llama_sampler_free(grammar_sampler(vocab, grammar))


def sampler_chain(config: DecodingConfig, seed: int, *, n_vocab: int, penalty_last_n: int = 64) -> Any:
    """The llama.cpp sampler chain ``create_completion`` samples ``config`` with, as a ``LlamaSampler``.

    It mirrors llama-cpp-python 0.3.36's ``Llama._init_sampler`` (which reads the seed from shared ``Llama`` state,
    so it cannot build one chain per sequence): the penalties over the last ``penalty_last_n`` generated tokens
    (``Llama.last_n_tokens_size``, 64 by default, :func:`add_penalties`), then :func:`add_sampling`. With a grammar,
    ``create_completion`` puts llama.cpp's grammar sampler between the two:
    :class:`~hag_training.generation.grammar_window.GrammarWindowSampler` samples that chain.
    """
    from llama_cpp._internals import LlamaSampler

    kw = config.to_llama_kwargs()
    chain = LlamaSampler()
    add_penalties(chain, kw, n_vocab=n_vocab, penalty_last_n=penalty_last_n)
    add_sampling(chain, kw, seed)
    return chain


def add_penalties(chain: Any, kw: dict[str, Any], *, n_vocab: int, penalty_last_n: int) -> None:
    """Add ``Llama._init_sampler``'s first sampler to ``chain``: the penalties (``kw``: ``to_llama_kwargs()``)."""
    chain.add_penalties(
        n_vocab=n_vocab,
        penalty_last_n=penalty_last_n,
        penalty_repeat=kw["repeat_penalty"],
        penalty_freq=kw["frequency_penalty"],
        penalty_present=kw["presence_penalty"],
    )


def add_sampling(chain: Any, kw: dict[str, Any], seed: int) -> None:
    """Add what follows the penalties and the grammar in ``Llama._init_sampler``'s chain to ``chain``.

    ``kw`` is :meth:`~hag_chain.DecodingConfig.to_llama_kwargs`: at temperature 0 the greedy sampler; else top-k,
    typical, top-p and min-p (each keeping at least one token), the temperature and a draw seeded with ``seed``.
    """
    temp = kw["temperature"]
    if temp == 0.0:
        chain.add_greedy()
        return
    if temp > 0.0:  # a negative temperature samples the raw distribution (not reachable: DecodingConfig has ge=0)
        min_keep = 1
        chain.add_top_k(kw["top_k"])
        chain.add_typical(kw["typical_p"], min_keep)
        chain.add_top_p(kw["top_p"], min_keep)
        chain.add_min_p(kw["min_p"], min_keep)
        chain.add_temp(temp)
    chain.add_dist(seed)


def sample_from_logits(lib: Any, sampler: Any, candidates: Any, logits: np.ndarray) -> int:
    """What ``llama_sampler_sample`` does with the context's logits, on a kept copy: apply, select, accept.

    ``lib`` is the ``llama_cpp`` module, ``candidates`` a ``LlamaTokenDataArray`` of the vocabulary's size.
    """
    candidates.copy_logits(logits)
    candidates.candidates.selected = -1
    lib.llama_sampler_apply(sampler.sampler, ctypes.byref(candidates.candidates))
    token = int(candidates.candidates_data.id[candidates.candidates.selected])
    lib.llama_sampler_accept(sampler.sampler, token)
    return token


def add_token(batch: Any, token: int, pos: int, seq_id: int, logits: bool) -> None:
    """Append one token of sequence ``seq_id`` at position ``pos`` to a ``LlamaBatch``.

    ``LlamaBatch`` only fills whole sequences from position 0 (``add_sequence``) or sequence 0 (``set_batch``); a
    decoding step needs one token per sequence at its own position, so the fields are written here.
    """
    b = batch.batch
    n = b.n_tokens
    b.token[n] = token
    b.pos[n] = pos
    b.n_seq_id[n] = 1
    b.seq_id[n][0] = seq_id
    b.logits[n] = logits
    b.n_tokens = n + 1


def reply_room(max_tokens: int, room: int) -> int:
    """Tokens a reply may have, as the single engine counts them.

    ``LoadedModel.complete`` caps ``max_tokens`` at the ``room`` the context has left, and ``create_completion`` reads
    ``max_tokens <= 0`` as all of it.
    """
    capped = min(max_tokens, room)
    return capped if capped > 0 else room


class Detokenizer:
    """``Llama.detokenize`` (special tokens as empty text), with each token's bytes looked up once.

    llama-cpp-python's ``LlamaModel.detokenize`` concatenates ``llama_token_to_piece`` of each token and drops a
    leading space when the first token is BOS; :class:`StreamedText` detokenizes the whole completion after every
    token, so the pieces are cached, and any list holding a BOS goes to the library itself.
    """

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._bos = llm.token_bos()
        self._cache: dict[int, bytes] = {}

    def __call__(self, tokens: Sequence[int]) -> bytes:
        """The bytes of ``tokens``."""
        if self._bos in tokens:
            return bytes(self._llm.detokenize(list(tokens)))
        cache = self._cache
        for t in tokens:
            if t not in cache:
                cache[t] = bytes(self._llm.detokenize([t]))
        return b"".join(cache[t] for t in tokens)


class StreamedText:
    """The text ``Llama.create_completion(stream=True, stop=[])`` yields for the tokens pushed, chunk by chunk.

    A port of that loop (llama-cpp-python 0.3.36) for an empty stop list and no logprobs:

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
