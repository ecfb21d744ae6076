"""One generation request, and the cache key that identifies it across runs and engines."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hag_chain import KNOBS, DecodingConfig

__all__ = ["KEY_VERSION", "GenerationRequest", "effective_knobs", "key_digest"]

KEY_VERSION = 3
"""Version of :meth:`GenerationRequest.key`'s format; bumped whenever the same generation would get a new key.

1 (unversioned) serialised every knob; 2 writes only the knobs off their defaults; 3 leaves out the seed of a
greedy request (greedy decoding draws nothing, so the k samples of a greedy configuration are one generation).

A request generated under a grammar (:attr:`GenerationRequest.grammar`) has a ``"grammar"`` field in its key; one
without has none, so adding grammars changed no existing key and needed no new version. Tools a chat template writes
(:attr:`GenerationRequest.tools`) are a ``"tools"`` field the same way.
"""


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: what to answer, and exactly how to sample it."""

    messages: tuple[tuple[str, str], ...]
    """``(role, content)`` pairs."""
    config: DecodingConfig
    seed: int
    max_tokens: int
    grammar: str | None = None
    """A llama.cpp GBNF grammar the reply must follow (e.g. :func:`hag_chain.json_grammar` of a JSON schema, as
    ``ChatHAG`` constrains structured output), or ``None`` for free text."""
    tools: str | None = None
    """The tools offered with the request, as JSON (a list of OpenAI tool definitions, in their own key order, as the
    chat template writes them), or ``None``. An engine asks its model for them as ``ChatHAG`` does
    (:meth:`~hag_training.generation.engine.Engine.resolve`): a template that writes tools keeps them here, another gets
    them as instructions in the messages and none here."""

    def __post_init__(self) -> None:
        if self.grammar == "":
            raise ValueError("`grammar` is GBNF text or None (no grammar), not an empty string")
        if self.tools is not None and not isinstance(json.loads(self.tools), list):
            raise ValueError("`tools` is the JSON of a list of tool definitions, or None")

    @classmethod
    def build(
        cls,
        messages: Sequence[dict[str, str]],
        config: DecodingConfig,
        seed: int,
        max_tokens: int,
        grammar: str | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> GenerationRequest:
        """Build from role/content dicts and tool definitions (``None`` or empty: no tools)."""
        text = json.dumps(list(tools), ensure_ascii=False, separators=(",", ":")) if tools else None
        return cls(tuple((m["role"], m["content"]) for m in messages), config, seed, max_tokens, grammar, text)

    @property
    def chat(self) -> list[dict[str, str]]:
        """The messages as role/content dicts."""
        return [{"role": role, "content": content} for role, content in self.messages]

    @property
    def tool_list(self) -> list[dict[str, Any]] | None:
        """:attr:`tools` as a list of tool definitions, ``None`` when there are none."""
        return None if self.tools is None else json.loads(self.tools)

    def asked(self, messages: Sequence[dict[str, str]], tools: Sequence[dict[str, Any]] | None) -> GenerationRequest:
        """The same request with ``messages`` and ``tools`` as a model is asked them (``Engine.resolve``)."""
        return GenerationRequest.build(messages, self.config, self.seed, self.max_tokens, self.grammar, tools)

    def key(self, engine_id: str) -> str:
        """Canonical JSON identifying this generation on ``engine_id`` (the cache key's preimage).

        The configuration is written as its knobs off their defaults (:meth:`~hag_chain.DecodingConfig.non_default`),
        so a knob added to :data:`~hag_chain.KNOBS` later, at its default, leaves every existing key unchanged. At
        temperature 0 decoding is greedy (llama.cpp's greedy sampler, which draws no random number): the knobs marked
        ``greedy_irrelevant`` and the seed cannot change the output, so they are left out and such requests share
        one key. A grammar is written as ``"grammar"`` (its GBNF text) only when there is one, so a free-text
        request's key is what it was before grammars existed; tools (:attr:`tools`) as ``"tools"`` likewise. Key a
        request as its engine asks it (:meth:`~hag_training.generation.engine.Engine.resolve`): one whose tools went
        into its messages has no ``"tools"``, and its key is what it was before requests carried tools. ``"v"`` is
        :data:`KEY_VERSION`.
        """
        fields: dict[str, Any] = {"v": KEY_VERSION, "engine": engine_id, "messages": self.messages}
        if self.config.temperature != 0:
            fields["seed"] = self.seed
        fields |= {"config": effective_knobs(self.config), "max_tokens": self.max_tokens}
        if self.grammar is not None:
            fields["grammar"] = self.grammar
        if self.tools is not None:
            fields["tools"] = self.tools
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
        request = cls(messages, config, data.get("seed", 0), data["max_tokens"], data.get("grammar"), data.get("tools"))
        return data["engine"], request


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
