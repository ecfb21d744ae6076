"""In-process llama.cpp backend: one loaded model per (model, adapter) per process, shared behind a lock.

llama.cpp contexts are not thread-safe, so every use of a :class:`LoadedModel` happens inside
``with model.lock:``. Loading happens on first use, never when a chat model is constructed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hag_chain.errors import ContextLengthError, ModelLoadError
from hag_chain.llama.adapter import LoraAdapter
from hag_chain.llama.files import check_gguf_file
from hag_chain.llama.templates import ChatRenderer
from hag_chain.llama.threads import CpuMeter, available_cpus
from hag_chain.protocol import HAGKeys

__all__ = ["LoadedModel", "ModelKey", "load_model"]


@dataclass(frozen=True)
class ModelKey:
    """What identifies a loaded model: two chat models with equal keys share one llama.cpp context."""

    model_path: str
    adapter_path: str | None = None
    n_ctx: int = 4096
    n_threads: int | None = None
    """llama.cpp's threads; ``None`` follows the machine's load call by call (:mod:`hag_chain.llama.threads`)."""


@dataclass
class LoadedModel:
    """A llama.cpp model, its optional LoRA adapter and the lock that serialises their use."""

    key: ModelKey
    llm: Any  # llama_cpp.Llama; typed loosely so that importing this module stays cheap
    metadata: dict[str, str]
    adapter: LoraAdapter | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _adapter_on: bool = False
    _adapted_from: int = 0
    _renderer: ChatRenderer | None = None
    _meter: CpuMeter | None = None
    _threads: int = 0

    @property
    def has_adapter(self) -> bool:
        """Whether a LoRA adapter was loaded with this model."""
        return self.adapter is not None

    @property
    def adapter_metadata(self) -> dict[str, str]:
        """The adapter's GGUF metadata (empty without an adapter)."""
        return self.adapter.metadata if self.adapter is not None else {}

    @property
    def invocation(self) -> tuple[int, ...]:
        """The adapter's aLoRA invocation tokens; empty for a plain LoRA or none."""
        return self.adapter.invocation if self.adapter is not None else ()

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        return int(self.llm.n_ctx())

    @property
    def is_alora(self) -> bool:
        """Whether the adapter is an activated LoRA: active only from its invocation tokens on."""
        return bool(self.invocation)

    def use_adapter(self, on: bool) -> None:
        """Switch the LoRA adapter on or off, never reusing a KV entry computed under the other state.

        A plain LoRA changes every position, so switching drops the KV cache. An aLoRA leaves the positions before
        its invocation to the base model: switching on keeps the cache (the adapted part starts at the current
        end), switching off removes only the entries computed with the adapter on.
        """
        if self.adapter is None or on == self._adapter_on:
            return
        self.adapter.switch(self.llm.ctx, on)
        self._adapter_on = on
        if not self.is_alora:
            self.llm.reset()
        elif on:
            self._adapted_from = self.llm.n_tokens
        else:
            self._truncate(self._adapted_from)

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        """``messages`` as the model's chat template writes them (with the assistant header when asked).

        ``tools`` (OpenAI tool dicts) go to the template: for one that :meth:`takes_tools`.
        """
        return self._chat_renderer().render(messages, add_generation_prompt, tools)

    def takes_tools(self, call_marker: str) -> bool:
        """Whether the model's chat template writes a request's tools itself, asking for ``call_marker`` calls."""
        return self._chat_renderer().takes_tools(call_marker)

    def _chat_renderer(self) -> ChatRenderer:
        if self._renderer is None:
            bos, eos = self.llm.token_bos(), self.llm.token_eos()
            self._renderer = ChatRenderer(
                self.metadata,
                bos_text=self.token_text(bos) if bos >= 0 else "",
                eos_text=self.token_text(eos) if eos >= 0 else "",
            )
        return self._renderer

    def fit_threads(self) -> int:
        """Set llama.cpp's threads for the next call (see :mod:`hag_chain.llama.threads`) and return how many."""
        if self._meter is not None:
            threads = self._meter.threads(self._threads)
            if threads != self._threads:
                import llama_cpp

                llama_cpp.llama_set_n_threads(self.llm.ctx, threads, threads)
                self._threads = threads
        return self._threads

    def prompt_tokens(self, messages: list[dict[str, str]], tools: list[dict[str, Any]] | None = None) -> list[int]:
        """Render ``messages`` with the model's chat template, ending where the assistant's reply begins.

        ``tools`` go to the template (:meth:`render`).
        """
        text = self.render(messages, tools=tools)
        bos_text = self._chat_renderer().bos_text
        return self.tokenize(text, add_bos=not (bos_text and text.startswith(bos_text)))

    def tokenize(self, text: str, *, special: bool = True, add_bos: bool = False) -> list[int]:
        """Token ids of ``text``; special tokens such as ``<|im_start|>`` are parsed when ``special``."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def token_text(self, token: int) -> str:
        """The text of one token, special tokens included."""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def check_fits(self, n_prompt: int, what: str) -> None:
        """Raise :class:`ContextLengthError` unless a prompt of ``n_prompt`` tokens leaves room to generate."""
        if n_prompt >= self.n_ctx - 1:
            arch = self.metadata.get("general.architecture", "llama")
            msg = (
                f"The {what} has {n_prompt} tokens but the model's context holds {self.n_ctx}. "
                "Shorten the conversation, or pass a larger `n_ctx=` to ChatHAG (the model was trained "
                f"for {self.metadata.get(f'{arch}.context_length', 'an unknown number of')} tokens)."
            )
            raise ContextLengthError(msg)

    def logits_after(self, tokens: Sequence[int]) -> np.ndarray:
        """Evaluate ``tokens`` and return the next-token logits, reusing the longest cached prefix.

        llama-cpp-python's ``generate`` reuses the cache too but decodes forced text one token at a time; the
        planner needs forced text (keys, punctuation) evaluated in one batch, hence this small routine.
        """
        import llama_cpp

        llm = self.llm
        n = min(self._cached_prefix(tokens), len(tokens) - 1)  # the last token's logits are not kept: evaluate it
        self._truncate(n)
        llm.eval(list(tokens[llm.n_tokens :]))
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()

    def prefill(self, tokens: Sequence[int]) -> None:
        """Make the KV cache hold exactly ``tokens``, reusing its longest matching prefix."""
        self._truncate(self._cached_prefix(tokens))
        if len(tokens) > self.llm.n_tokens:
            self.llm.eval(list(tokens[self.llm.n_tokens :]))

    def _cached_prefix(self, tokens: Sequence[int]) -> int:
        n = 0
        for a, b in zip(self.llm.input_ids[: self.llm.n_tokens], tokens):
            if a != b:
                break
            n += 1
        return n

    def _truncate(self, n: int) -> None:
        """Drop the KV entries from position ``n`` on (everything, if llama.cpp cannot remove a tail)."""
        import llama_cpp

        llm = self.llm
        if n >= llm.n_tokens:
            return
        if not llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm.ctx), -1, n, -1):
            llm.reset()
            return
        llm.n_tokens = n
        # The context's logits are those of the last token evaluated, now cut off. llama-cpp-python (0.3.36) samples
        # a fully cached prompt from them unless told they are stale: its own truncations set this flag, which has no
        # public setter. Without it an answer whose prompt is the cache exactly (hag-v4, after the planner's word)
        # would start from the planner's logits.
        llm._requires_eval = True

    def complete(
        self,
        prompt_tokens: list[int],
        *,
        sampling: dict[str, Any],
        max_tokens: int | None,
        stop: list[str],
        grammar: Any = None,
        seed: int | None = None,
        logit_bias: dict[int, float] | None = None,
    ) -> Generator[dict[str, Any], None, None]:
        """Stream a completion of ``prompt_tokens`` with llama-cpp-python's sampler chain."""
        self.check_fits(len(prompt_tokens), "prompt")
        self.fit_threads()
        room = self.n_ctx - len(prompt_tokens)
        max_tokens = room if max_tokens is None else min(max_tokens, room)
        return self.llm.create_completion(
            prompt=prompt_tokens,
            max_tokens=max_tokens,
            stop=stop,
            grammar=grammar,
            seed=seed,
            logit_bias=logit_bias,
            stream=True,
            **sampling,
        )


_LOADED: dict[ModelKey, LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


def load_model(key: ModelKey) -> LoadedModel:
    """Return the process-wide :class:`LoadedModel` for ``key``, loading it on first use."""
    with _LOADED_LOCK:
        model = _LOADED.get(key)
        if model is None:
            model = _load(key)
            _LOADED[key] = model
        return model


def _load(key: ModelKey) -> LoadedModel:
    import llama_cpp

    check_gguf_file(
        key.model_path, "model", "Pass `model_path=` a GGUF file, or omit it to use the default SmolLM2 model."
    )
    n_threads = key.n_threads or available_cpus()
    kwargs: dict[str, Any] = {
        "n_ctx": key.n_ctx,
        "n_threads": n_threads,
        "n_threads_batch": n_threads,
        "flash_attn": True,
        "verbose": False,
    }
    try:
        llm = llama_cpp.Llama(model_path=key.model_path, **kwargs)
    except (ValueError, RuntimeError) as e:
        msg = (
            f"llama.cpp could not load {key.model_path!r} ({e}). The file may be truncated, or use an "
            "architecture or quantisation this llama.cpp build does not support; re-download or re-convert it."
        )
        raise ModelLoadError(msg) from e
    model = LoadedModel(key=key, llm=llm, metadata=dict(llm.metadata), _threads=n_threads)
    if key.n_threads is None:
        model._meter = CpuMeter()
    if key.adapter_path is not None:
        model.adapter = LoraAdapter.load(llm, key.adapter_path)
        model.use_adapter(True)
        _warn_other_base(model)
    return model


def _warn_other_base(model: LoadedModel) -> None:
    """Warn when the adapter records another base model than the one loaded (llama.cpp checks only shapes)."""
    expected = model.adapter_metadata.get(HAGKeys.BASE_MODEL)
    actual = model.metadata.get("general.name")
    if expected and actual and expected != actual:
        warnings.warn(
            f"The adapter {Path(model.key.adapter_path or '').name} was trained on base model {expected!r} but is "
            f"applied to {actual!r}. Shapes match, so llama.cpp accepted it; check that this is the same base.",
            stacklevel=4,
        )
