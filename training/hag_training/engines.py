"""Generation engines for the search: llama.cpp in-process, or any OpenAI-compatible server.

Both take the same :class:`GenerationRequest` (chat messages, a :class:`~hag_chain.DecodingConfig`, a seed and a
token limit) and return the reply text, so a search can move from a laptop to a llama-server or vLLM cluster
without changing its labels' meaning.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from hag_chain import KNOBS, DecodingConfig

__all__ = [
    "KEY_VERSION",
    "Engine",
    "GenerationRequest",
    "LlamaCppEngine",
    "OpenAICompatibleEngine",
    "effective_knobs",
    "key_digest",
    "local_engine",
]

KEY_VERSION = 3
"""Version of :meth:`GenerationRequest.key`'s format; bumped whenever the same generation would get a new key.

1 (unversioned) serialised every knob; 2 writes only the knobs off their defaults; 3 leaves out the seed of a
greedy request (greedy decoding draws nothing, so the k samples of a greedy configuration are one generation).
"""


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

        The configuration is written as its knobs off their defaults (:meth:`~hag_chain.DecodingConfig.non_default`),
        so a knob added to :data:`~hag_chain.KNOBS` later, at its default, leaves every existing key unchanged. At
        temperature 0 decoding is greedy (llama.cpp's greedy sampler, which draws no random number): the knobs marked
        ``greedy_irrelevant`` and the seed cannot change the output, so they are left out and such requests share
        one key. ``"v"`` is :data:`KEY_VERSION`.
        """
        fields: dict[str, Any] = {"v": KEY_VERSION, "engine": engine_id, "messages": self.messages}
        if self.config.temperature != 0:
            fields["seed"] = self.seed
        fields |= {"config": effective_knobs(self.config), "max_tokens": self.max_tokens}
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def digest(self, engine_id: str) -> str:
        """The cache key: the SHA-256 (hex) of :meth:`key`."""
        return key_digest(self.key(engine_id))

    @classmethod
    def from_key(cls, key: str) -> tuple[str, GenerationRequest]:
        """The engine id and the request a :meth:`key` preimage describes, in any format version so far.

        Version 1 keys (no ``"v"``) hold the whole configuration, later ones the knobs off their defaults; all
        rebuild the same :class:`~hag_chain.DecodingConfig`, since left-out knobs are at their defaults or, greedy,
        do not matter. A greedy version 3 key has no seed (it does not matter either): the request gets seed 0.
        """
        data = json.loads(key)
        messages = tuple((role, content) for role, content in data["messages"])
        config = DecodingConfig.from_values(data["config"])
        return data["engine"], cls(messages, config, data.get("seed", 0), data["max_tokens"])


def effective_knobs(config: DecodingConfig) -> dict[str, Any]:
    """The knobs of ``config`` that can change a generation.

    Those off their defaults, less, at temperature 0 (greedy decoding), the ones marked ``greedy_irrelevant``.
    Configurations with equal effective knobs ("greedy twins") generate the same text.
    """
    knobs = config.non_default()
    if config.temperature == 0:
        knobs = {k: v for k, v in knobs.items() if not KNOBS[k].greedy_irrelevant}
    return knobs


def key_digest(preimage: str) -> str:
    """The cache key of a :meth:`GenerationRequest.key` preimage already at hand: its SHA-256 (hex)."""
    return hashlib.sha256(preimage.encode()).hexdigest()


class Engine(Protocol):
    """Something that turns generation requests into reply texts."""

    @property
    def engine_id(self) -> str:
        """Identifies the model behind the engine; part of every cache key."""
        ...

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Reply texts, in request order; ``on_reply(i, text)`` as soon as request ``i``'s reply is complete."""
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
    def answering_adapter(self) -> str | None:
        """The adapter that shapes this engine's answers: ``adapter_path``, unless it is an activated LoRA.

        An aLoRA is active only from its invocation (the planner turn) on, which no answer prompt contains, so an
        engine with one answers exactly as the base model: it generates without it and shares the base's cache.
        """
        if not self.adapter_path:
            return None
        from gguf import GGUFReader, Keys

        alora = Keys.Adapter.ALORA_INVOCATION_TOKENS in GGUFReader(self.adapter_path).fields
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
        digest = hashlib.sha256(Path(self.adapter_path).read_bytes()).hexdigest()[:12]
        return f"llama.cpp:{name}+{Path(self.adapter_path).name}@{digest}"

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Generate each request with llama.cpp's sampler chain, one after another."""
        from hag_chain import ModelKey, default_model_path, load_model

        path = str(self.model_path or default_model_path())
        model = load_model(ModelKey(path, self.answering_adapter, n_ctx=self.n_ctx))
        out = []
        for req in requests:
            with model.lock:
                prompt = model.prompt_tokens([{"role": r, "content": c} for r, c in req.messages])
                stream = model.complete(
                    prompt, sampling=req.config.to_llama_kwargs(), max_tokens=req.max_tokens, stop=[], seed=req.seed
                )
                out.append("".join(chunk["choices"][0]["text"] for chunk in stream))
            if on_reply:
                on_reply(len(out) - 1, out[-1])
        return out


def local_engine(model_path: str | None = None, adapter_path: str | None = None) -> Engine:
    """The in-process llama.cpp engine the search, the evaluation and the room use by default.

    :class:`~hag_training.batched_engine.BatchedLlamaCppEngine` (many sequences per llama.cpp call), unless a plain
    LoRA must shape the answers, which only :class:`LlamaCppEngine` applies. Both have the same ``engine_id`` for
    the same model, so they share cache entries.
    """
    single = LlamaCppEngine(model_path=model_path, adapter_path=adapter_path)
    if single.answering_adapter is not None:
        return single
    from hag_training.batched_engine import BatchedLlamaCppEngine

    return BatchedLlamaCppEngine(model_path=model_path, adapter_path=adapter_path)


@dataclass
class OpenAICompatibleEngine:
    """A server speaking the OpenAI chat-completions protocol (llama-server, vLLM, llama-cpp-python's server).

    Requests run concurrently. Every knob of :data:`~hag_chain.KNOBS` is sent under each of its
    :attr:`~hag_chain.Knob.server_names` (ours, which vLLM reads, and llama-server's: ``repetition_penalty`` and
    ``repeat_penalty``); servers ignore names they do not use.

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

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """POST each request to ``/chat/completions``, ``concurrency`` at a time (``on_reply`` from the workers)."""

        def one(i: int) -> str:
            text = self._one(requests[i])
            if on_reply:
                on_reply(i, text)
            return text

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, range(len(requests))))

    def request_body(self, req: GenerationRequest) -> dict[str, Any]:
        """The JSON body posted for ``req``: model, messages, token limit, seed and every knob by its server names."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in req.messages],
            "max_tokens": req.max_tokens,
            "seed": req.seed,
        }
        for name, knob in KNOBS.items():
            body.update(dict.fromkeys(knob.server_names, getattr(req.config, name)))
        return body

    def _one(self, req: GenerationRequest) -> str:
        import httpx

        body = self.request_body(req)
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout)
        response = client.post("/chat/completions", json=body)
        if response.status_code != 200:
            msg = f"{self.base_url}/chat/completions answered {response.status_code}: {response.text[:500]}"
            raise RuntimeError(msg)
        return response.json()["choices"][0]["message"]["content"] or ""
