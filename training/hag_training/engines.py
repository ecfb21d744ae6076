"""Generation engines for the search: llama.cpp in-process, or any OpenAI-compatible server.

Both take the same :class:`GenerationRequest` (chat messages, a :class:`~hag_chain.DecodingConfig`, a seed and a
token limit) and return the reply text, so a search can move from a laptop to a llama-server or vLLM cluster
without changing its labels' meaning.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from hag_chain import DecodingConfig

__all__ = ["Engine", "GenerationRequest", "LlamaCppEngine", "OpenAICompatibleEngine"]

# llama.cpp's greedy sampler runs after the penalties only; these knobs never matter at temperature 0.
_IGNORED_WHEN_GREEDY = ("top_p", "top_k", "min_p", "typical_p")


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: what to answer, and exactly how to sample it."""

    messages: tuple[tuple[str, str], ...]
    """``(role, content)`` pairs."""
    config: DecodingConfig
    seed: int
    max_tokens: int

    @classmethod
    def build(cls, messages: Sequence[dict[str, str]], config: DecodingConfig, seed: int, max_tokens: int):
        """Build from role/content dicts."""
        return cls(tuple((m["role"], m["content"]) for m in messages), config, seed, max_tokens)

    def key(self, engine_id: str) -> str:
        """Canonical JSON identifying this generation on ``engine_id`` (the cache key's preimage).

        At temperature 0 decoding is greedy: the truncation knobs cannot change the output, so they are left
        out and such requests share one key.
        """
        config = self.config.model_dump()
        if self.config.temperature == 0:
            for knob in _IGNORED_WHEN_GREEDY:
                config.pop(knob)
        return json.dumps(
            {
                "engine": engine_id,
                "messages": self.messages,
                "config": config,
                "seed": self.seed,
                "max_tokens": self.max_tokens,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


class Engine(Protocol):
    """Something that turns generation requests into reply texts."""

    @property
    def engine_id(self) -> str:
        """Identifies the model behind the engine; part of every cache key."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Reply texts, in request order."""
        ...


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
    def engine_id(self) -> str:
        """``llama.cpp:<model file name>[+<adapter file name>@<sha256 prefix>]``.

        An adapter is identified by its content too: retraining rewrites the same file name with new weights,
        and its generations must not come back from the cache.
        """
        from hag_chain._default_model import default_model_path

        name = Path(self.model_path or default_model_path()).name
        if not self.adapter_path:
            return f"llama.cpp:{name}"
        digest = hashlib.sha256(Path(self.adapter_path).read_bytes()).hexdigest()[:12]
        return f"llama.cpp:{name}+{Path(self.adapter_path).name}@{digest}"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Generate each request with llama.cpp's sampler chain."""
        from hag_chain._default_model import default_model_path
        from hag_chain.llama_backend import ModelKey, load_model

        model = load_model(ModelKey(str(self.model_path or default_model_path()), self.adapter_path, n_ctx=self.n_ctx))
        out = []
        for req in requests:
            with model.lock:
                prompt = model.prompt_tokens([{"role": r, "content": c} for r, c in req.messages])
                stream = model.complete(
                    prompt, sampling=req.config.to_llama_kwargs(), max_tokens=req.max_tokens, stop=[], seed=req.seed
                )
                out.append("".join(chunk["choices"][0]["text"] for chunk in stream))
        return out


@dataclass
class OpenAICompatibleEngine:
    """A server speaking the OpenAI chat-completions protocol (llama-server, vLLM, llama-cpp-python's server).

    Requests run concurrently. The sampling fields beyond OpenAI's (``top_k``, ``min_p``, ``typical_p``, the
    repetition penalty) are sent under both llama.cpp's and vLLM's names; servers ignore names they do not use.

    Args:
        base_url: E.g. ``http://127.0.0.1:8080/v1``.
        model: The ``model`` field sent with each request.
        concurrency: Requests in flight at once.
        timeout: Seconds per request.

    """

    base_url: str
    model: str = "default"
    concurrency: int = 4
    timeout: float = 300.0
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def engine_id(self) -> str:
        """``openai:<model>``: the cache assumes one model name means one set of weights."""
        return f"openai:{self.model}"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """POST each request to ``/chat/completions``, ``concurrency`` at a time."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, req: GenerationRequest) -> str:
        import httpx

        cfg = req.config
        body = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in req.messages],
            "max_tokens": req.max_tokens,
            "seed": req.seed,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "top_k": cfg.top_k,
            "min_p": cfg.min_p,
            "typical_p": cfg.typical_p,
            "presence_penalty": cfg.presence_penalty,
            "frequency_penalty": cfg.frequency_penalty,
            "repeat_penalty": cfg.repetition_penalty,
            "repetition_penalty": cfg.repetition_penalty,
        }
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout)
        response = client.post("/chat/completions", json=body)
        if response.status_code != 200:
            msg = f"{self.base_url}/chat/completions answered {response.status_code}: {response.text[:500]}"
            raise RuntimeError(msg)
        return response.json()["choices"][0]["message"]["content"] or ""
