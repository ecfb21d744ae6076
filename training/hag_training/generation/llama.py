"""llama.cpp in-process, one generation at a time: the runtime's own backend."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING

from hag_training.generation.request import GenerationRequest

if TYPE_CHECKING:
    from hag_chain import LoadedModel

__all__ = ["LlamaCppEngine"]


@dataclass
class LlamaCppEngine:
    """The runtime's own llama.cpp backend, in-process (one generation at a time: llama.cpp is not thread-safe).

    Args:
        model_path: GGUF file; ``None`` means hag-chain's default SmolLM2 model.
        adapter_path: Optional GGUF LoRA adapter.
        n_ctx: Context window.

    """

    model_path: str | None = None
    adapter_path: str | None = None
    n_ctx: int = 4096

    @cached_property
    def answering_adapter(self) -> str | None:
        """The adapter that shapes this engine's answers: ``adapter_path``, unless it is an activated LoRA.

        An aLoRA is active only from its invocation (the planner turn) on, which no answer prompt contains, so an
        engine with one answers exactly as the base model: it generates without it and shares the base's cache.
        """
        if not self.adapter_path:
            return None
        from gguf import Keys

        from hag_chain import read_gguf_metadata

        alora = Keys.Adapter.ALORA_INVOCATION_TOKENS in read_gguf_metadata(self.adapter_path, arrays=True)
        return None if alora else self.adapter_path

    @cached_property
    def engine_id(self) -> str:
        """``llama.cpp:<model file name>[+<adapter file name>@<sha256 prefix>]``.

        An adapter is identified by its content too: retraining rewrites the same file name with new weights,
        and its generations must not come back from the cache. An activated LoRA does not change answers
        (:attr:`answering_adapter`), so it is not part of the id.
        """
        from hag_chain import default_model_path

        name = Path(self.model_path or default_model_path()).name
        if not self.answering_adapter:
            return f"llama.cpp:{name}"
        adapter = Path(self.answering_adapter)
        digest = hashlib.sha256(adapter.read_bytes()).hexdigest()[:12]
        return f"llama.cpp:{name}+{adapter.name}@{digest}"

    def model(self) -> LoadedModel:
        """The loaded model this engine generates with (loaded once per process, shared with ``ChatHAG``)."""
        from hag_chain import ModelKey, default_model_path, load_model

        path = str(self.model_path or default_model_path())
        return load_model(ModelKey(path, self.answering_adapter, n_ctx=self.n_ctx))

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` with its tools where ``ChatHAG`` puts them for this model (:func:`hag_chain.tool_prompt`)."""
        if request.tools is None:
            return request
        from hag_chain import tool_prompt

        model = self.model()
        with model.lock:  # the template's first render reads the vocabulary
            return request.asked(*tool_prompt(model, request.chat, request.tool_list))

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Generate each request with llama.cpp's sampler chain (and its grammar, if any), one after another.

        Raises:
            ValueError: llama.cpp cannot parse a request's grammar (checked before anything is generated).

        """
        from llama_cpp import LlamaGrammar

        from hag_chain import iterate_on_compute_thread
        from hag_training.generation.llama_port import check_grammar

        model = self.model()
        requests = [self.resolve(r) for r in requests]
        grammars = {g: LlamaGrammar.from_string(g, verbose=False) for g in {r.grammar for r in requests if r.grammar}}
        for text in grammars:
            check_grammar(model.llm._model.vocab, text)  # llama-cpp-python would crash on one it cannot parse

        def reply(req: GenerationRequest) -> Iterator[str]:
            with model.lock:
                prompt = model.prompt_tokens(req.chat, tools=req.tool_list)
                stream = model.complete(
                    prompt,
                    sampling=req.config.to_llama_kwargs(),
                    max_tokens=req.max_tokens,
                    stop=[],
                    grammar=None if req.grammar is None else grammars[req.grammar],
                    seed=req.seed,
                )
                for chunk in stream:
                    yield chunk["choices"][0]["text"]

        out: list[str] = []
        for req in requests:  # on llama.cpp's thread, relayed here: Ctrl-C stops it at the next token
            out.append("".join(iterate_on_compute_thread(partial(reply, req))))
            if on_reply:
                on_reply(len(out) - 1, out[-1])
        return out
