"""Which chat model classes :class:`~hag_chain.SelfTuning` can tune, and how each takes the decoding knobs.

The parameter names come from the knob table (:data:`hag_chain.KNOBS`: ``llama_name``, ``ollama_name``,
``openai_name``), so a new knob reaches every target whose column names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hag_chain.chat.precedence import ResolvedConfig
from hag_chain.knobs import KNOBS
from hag_chain.registry import Registry

__all__ = ["TARGETS", "TargetParams", "map_config", "register_target", "target_params"]


@dataclass(frozen=True)
class TargetParams:
    """How a chat model class takes hag-chain's decoding knobs.

    Attributes:
        names: hag-chain knob name (``DecodingConfig`` field) to the target's parameter name. The planner's
            choices for knobs not listed are not sent; the target keeps its own settings for them.
        via: ``"call"`` passes the values as call arguments, for targets whose request merges call arguments
            over their fields. ``"fields"`` sets them on a per-call copy of the target
            (``target.model_copy(update=...)``), for targets that read sampling settings only from their fields.
        llama_client: For a target that runs llama.cpp in this process (``ChatLlamaCpp``: ``"client"``), the field
            holding its ``llama_cpp.Llama``: a self-tuned call's copy gets a client whose calls run on the planner's
            compute thread (:mod:`hag_chain.llama.compute`), so one OpenMP team serves both, one call at a time,
            while the target's callbacks stay on the caller's thread. On 2 cores a ``ChatLlamaCpp`` computing on
            another thread than the planner took 2.6 times as long, and its ``batch`` crashed the interpreter.

    """

    names: Mapping[str, str]
    via: Literal["call", "fields"] = "call"
    llama_client: str | None = None

    def __post_init__(self) -> None:
        unknown = [k for k in self.names if k not in KNOBS]
        if unknown:
            raise ValueError(f"Unknown knobs {unknown} in `names`. Known knobs: {', '.join(KNOBS)}.")
        if self.via not in ("call", "fields"):
            raise ValueError(f"`via` must be 'call' or 'fields'. Received: {self.via!r}.")

    @classmethod
    def from_knob_column(
        cls, column: str, via: Literal["call", "fields"] = "call", *, llama_client: str | None = None
    ) -> TargetParams:
        """The names in one column of :data:`KNOBS` (``"llama_name"``, ...); knobs with ``None`` there are left out."""
        names = {k: getattr(knob, column) for k, knob in KNOBS.items() if getattr(knob, column) is not None}
        return cls(names, via=via, llama_client=llama_client)


#: Known targets, keyed by ``module.ClassName``; a subclass uses the entry of its nearest registered base.
#: Keys are strings so that the optional packages (langchain-ollama, langchain-openai, ...) need not be imported.
TARGETS: Registry[TargetParams] = Registry(
    "self-tuning target", "Add one with `register_target(MyChatModel, TargetParams({...}))`."
)
# A call argument beats everything in ChatHAG; its own metadata then marks the knob as source "call".
TARGETS.register("hag_chain.chat.model.ChatHAG", TargetParams.from_knob_column("name"))
# langchain-community 0.4.2: `_generate` and `_stream` send `{**self._get_parameters(stop), **kwargs}` to
# `Llama.create_chat_completion`, so call arguments win over fields, and that function takes every knob under its
# llama.cpp name (min_p, typical_p and the two penalties are not ChatLlamaCpp fields, but pass through).
TARGETS.register(
    "langchain_community.chat_models.llamacpp.ChatLlamaCpp",
    TargetParams.from_knob_column("llama_name", llama_client="client"),
)
# langchain-ollama 1.1: `_chat_params` builds the request's `options` from the model's fields only; a call's
# `temperature=` would reach `ollama.Client.chat` as an unknown argument. Hence a per-call copy.
TARGETS.register("langchain_ollama.chat_models.ChatOllama", TargetParams.from_knob_column("ollama_name", via="fields"))
# langchain-openai 1.7 (ChatOpenAI, AzureChatOpenAI and other OpenAI-compatible subclasses): the payload is
# `{**self._default_params, **kwargs}`. The OpenAI API has no top_k or repetition penalty.
TARGETS.register("langchain_openai.chat_models.base.BaseChatOpenAI", TargetParams.from_knob_column("openai_name"))


def class_key(cls: type) -> str:
    """The registry key of a class: ``module.ClassName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_target(cls: type | str, params: TargetParams) -> None:
    """Tell :class:`SelfTuning` how a chat model class takes the knobs (its subclasses inherit the entry).

    Args:
        cls: The chat model class, or its ``"module.ClassName"``.
        params: The knob names it takes and how they reach it.

    Raises:
        DuplicateEntryError: The class is registered already (``TARGETS.unregister(key)`` first to replace it).

    Example:
        .. code-block:: python

            from hag_chain import TargetParams, register_target

            register_target(MyChatModel, TargetParams({"temperature": "temp", "top_p": "top_p"}))

    """
    TARGETS.register(cls if isinstance(cls, str) else class_key(cls), params)


def target_params(cls: type) -> TargetParams:
    """The :data:`TARGETS` entry for ``cls`` or its nearest registered base class.

    Raises:
        TypeError: No entry for the class or any of its bases.

    """
    for base in cls.__mro__:
        params = TARGETS.get(class_key(base))
        if params is not None:
            return params
    msg = (
        f"SelfTuning does not know how `{cls.__name__}` takes decoding settings. Register its parameter names, "
        f"e.g. `register_target({cls.__name__}, TargetParams({{'temperature': 'temperature', 'top_p': 'top_p'}}))`,"
        " or pass `params=TargetParams(...)` to SelfTuning. Use via='fields' if the class ignores call arguments"
        " for sampling settings. Known classes: " + ", ".join(sorted(k.rsplit(".", 1)[1] for k in TARGETS)) + "."
    )
    raise TypeError(msg)


def map_config(resolved: ResolvedConfig, params: TargetParams) -> tuple[dict[str, Any], list[str]]:
    """The target's parameters for the knobs somebody chose, and the chosen knobs the target cannot take.

    Knobs left at ``defaults`` (source ``default``) are not sent: the target keeps its own settings for them.
    """
    chosen = [k for k in KNOBS if resolved.sources[k] != "default"]
    sent = {params.names[k]: getattr(resolved.config, k) for k in chosen if k in params.names}
    return sent, [k for k in chosen if k not in params.names]
