"""``SelfTuning``: a HAG planner chooses the decoding settings of any LangChain chat model, call by call.

On each call the planner (a :class:`~hag_chain.ChatHAG`) runs phase 1 on the conversation, the knobs it chose are
renamed to the target's parameters (:class:`TargetParams`, looked up in :data:`TARGETS`), and the target answers
with them. Generation, tools, structured output and streaming are the target's own; the wrapper only adds the
configuration and records it in ``response_metadata["hag"]``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hag_chain.chat_models import ChatHAG, aemit_config_event, emit_config_event
from hag_chain.config import KNOBS, normalize_knob_name
from hag_chain.precedence import ResolvedConfig

__all__ = ["TARGETS", "SelfTuning", "TargetParams", "register_target", "with_self_tuning"]


@dataclass(frozen=True)
class TargetParams:
    """How a chat model class takes hag-chain's decoding knobs.

    Attributes:
        names: hag-chain knob name (``DecodingConfig`` field) to the target's parameter name. The planner's
            choices for knobs not listed are not sent; the target keeps its own settings for them.
        via: ``"call"`` passes the values as call arguments, for targets whose request merges call arguments
            over their fields. ``"fields"`` sets them on a per-call copy of the target
            (``target.model_copy(update=...)``), for targets that read sampling settings only from their fields.

    """

    names: Mapping[str, str]
    via: Literal["call", "fields"] = "call"

    def __post_init__(self) -> None:
        unknown = [k for k in self.names if k not in KNOBS]
        if unknown:
            raise ValueError(f"Unknown knobs {unknown} in `names`. Known knobs: {', '.join(KNOBS)}.")
        if self.via not in ("call", "fields"):
            raise ValueError(f"`via` must be 'call' or 'fields'. Received: {self.via!r}.")


#: Known targets, keyed by ``module.ClassName``; a subclass uses the entry of its nearest registered base.
#: Keys are strings so that the optional packages (langchain-ollama, langchain-openai, ...) need not be imported.
TARGETS: dict[str, TargetParams] = {
    # A call argument beats everything in ChatHAG; its own metadata then marks the knob as source "call".
    "hag_chain.chat_models.ChatHAG": TargetParams({k: k for k in KNOBS}),
    # langchain-community 0.4.2: `_generate` and `_stream` send `{**self._get_parameters(stop), **kwargs}` to
    # `Llama.create_chat_completion`, so call arguments win over fields, and that function takes all eight knobs
    # (min_p, typical_p and the two penalties are not ChatLlamaCpp fields, but pass through).
    "langchain_community.chat_models.llamacpp.ChatLlamaCpp": TargetParams(
        {name: knob.llama_name for name, knob in KNOBS.items()}
    ),
    # langchain-ollama 1.1: `_chat_params` builds the request's `options` from the model's fields only; a call's
    # `temperature=` would reach `ollama.Client.chat` as an unknown argument. Hence a per-call copy.
    "langchain_ollama.chat_models.ChatOllama": TargetParams(
        {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "repetition_penalty": "repeat_penalty"},
        via="fields",
    ),
    # langchain-openai 1.7 (ChatOpenAI, AzureChatOpenAI and other OpenAI-compatible subclasses): the payload is
    # `{**self._default_params, **kwargs}`. The OpenAI API has no top_k or repetition penalty.
    "langchain_openai.chat_models.base.BaseChatOpenAI": TargetParams(
        {k: k for k in ("temperature", "top_p", "presence_penalty", "frequency_penalty")}
    ),
}

_warned: set[str] = set()
_UNCHOSEN = ("default", "fallback")  # sources of knobs nobody chose: the target keeps its own settings for them


def _class_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_target(cls: type[BaseChatModel] | str, params: TargetParams) -> None:
    """Tell :class:`SelfTuning` how a chat model class takes the knobs (its subclasses inherit the entry).

    Args:
        cls: The chat model class, or its ``"module.ClassName"``.
        params: The knob names it takes and how they reach it.

    Example:
        .. code-block:: python

            from hag_chain import TargetParams, register_target

            register_target(MyChatModel, TargetParams({"temperature": "temp", "top_p": "top_p"}))

    """
    TARGETS[cls if isinstance(cls, str) else _class_key(cls)] = params


def target_params(cls: type) -> TargetParams:
    """The :data:`TARGETS` entry for ``cls`` or its nearest registered base class.

    Raises:
        TypeError: No entry for the class or any of its bases.

    """
    for base in cls.__mro__:
        params = TARGETS.get(_class_key(base))
        if params is not None:
            return params
    msg = (
        f"SelfTuning does not know how `{cls.__name__}` takes decoding settings. Register its parameter names, "
        f"e.g. `register_target({cls.__name__}, TargetParams({{'temperature': 'temperature', 'top_p': 'top_p'}}))`,"
        " or pass `params=TargetParams(...)` to SelfTuning. Use via='fields' if the class ignores call arguments"
        " for sampling settings. Known classes: " + ", ".join(sorted(k.rsplit(".", 1)[1] for k in TARGETS)) + "."
    )
    raise TypeError(msg)


def _map_config(resolved: ResolvedConfig, params: TargetParams) -> tuple[dict[str, Any], list[str]]:
    """The target's parameters for the knobs the planner chose, and the chosen knobs the target cannot take."""
    chosen = [k for k in KNOBS if resolved.sources[k] not in _UNCHOSEN]
    sent = {params.names[k]: getattr(resolved.config, k) for k in chosen if k in params.names}
    return sent, [k for k in chosen if k not in params.names]


class SelfTuning(BaseChatModel):
    r"""Any chat model, with decoding settings chosen per call by a HAG planner.

    Each call runs the planner's phase 1 on the conversation (:meth:`ChatHAG.choose_config`) and invokes the
    target with the knobs it chose, renamed to the target's parameters (:data:`TARGETS`). Knobs nobody chose, and
    knobs the target cannot take (warned once per class), keep the target's own settings. A knob passed to the
    call (``invoke(..., temperature=0)``) beats the planner's choice, as in ``ChatHAG``. Tools, structured output,
    streaming, async and batch are the target's own.

    ``response_metadata["hag"]`` holds what ``ChatHAG`` reports for its planner (``config``, ``sources``,
    ``line``, ``planner_tokens``, ``planner_ms``) plus ``target`` (the class name), ``sent`` (the target's
    parameters and the values sent), ``dropped`` (chosen knobs the target cannot take) and, when the target is a
    ``ChatHAG``, ``target_hag`` (the target's own ``["hag"]``). The same dict is dispatched as the
    ``hag_config`` callback event.

    Setup:
        Targets known out of the box: ``ChatHAG``, langchain-community's ``ChatLlamaCpp``, langchain-ollama's
        ``ChatOllama`` and langchain-openai's ``ChatOpenAI`` (and OpenAI-compatible subclasses). Others: see
        :func:`register_target`.

    Example:
        .. code-block:: python

            from langchain_community.chat_models import ChatLlamaCpp
            from hag_chain import with_self_tuning

            llm = with_self_tuning(ChatLlamaCpp(model_path="model.gguf", rope_freq_base=0))
            msg = llm.invoke("Write a haiku about autumn.")
            msg.response_metadata["hag"]["sent"]  # {'temperature': 1.0, 'top_p': 1.0, 'repeat_penalty': 1.0, ...}

            llm.bind_tools([get_weather]).invoke("Weather in Lisbon?")  # the target's tool calling, self-tuned

    """

    model_config = ConfigDict(extra="forbid")

    target: BaseChatModel
    """The chat model that writes the answer."""
    planner: ChatHAG = Field(default_factory=ChatHAG)
    """The HAG model that chooses the configuration. Its pins, ``bounds`` and ``search_space`` apply.
    Default: ``ChatHAG()``, the default local model."""
    params: TargetParams | None = None
    """How the target takes the knobs. Default: the target class's entry in :data:`TARGETS`."""

    @field_validator("target", mode="before")
    @classmethod
    def _check_target(cls, target: Any) -> Any:
        if isinstance(target, RunnableBinding) and isinstance(target.bound, BaseChatModel):
            msg = (
                "`target` is a bound runnable (e.g. the result of `bind_tools`). Wrap the chat model first, then "
                "bind: `with_self_tuning(llm).bind_tools(tools)`."
            )
            raise TypeError(msg)
        return target

    @model_validator(mode="after")
    def _warn_dropped_knobs(self) -> SelfTuning:
        params = self.target_params
        name = _class_key(type(self.target))
        missing = [k for k in KNOBS if k not in params.names]
        if missing and name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"`{type(self.target).__name__}` takes no {', '.join(missing)}: SelfTuning does not send the "
                "planner's choices for these knobs (the model keeps its own settings). Warned once per class.",
                stacklevel=_caller_stacklevel(),
            )
        return self

    @property
    def target_params(self) -> TargetParams:
        """How the knobs reach the target: ``params``, else the :data:`TARGETS` entry of the target's class."""
        return self.params or target_params(type(self.target))

    @property
    def _llm_type(self) -> str:
        return "hag-self-tuning"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "target": type(self.target).__name__,
            "target_params": self.target._identifying_params,
            "planner": self.planner._identifying_params,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """The target's trace parameters (its provider and model name)."""
        return self.target._get_ls_params(stop=stop, **kwargs)

    # -- one call --------------------------------------------------------------------------------------------

    def _prepare(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> tuple[BaseChatModel, dict, dict]:
        """Plan, then return the model to call, its call arguments and the ``["hag"]`` metadata."""
        params = self.target_params
        knobs: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, value in kwargs.items():
            name = normalize_knob_name(key)
            if name in KNOBS:
                if value is not None:
                    knobs[name] = value
            else:
                rest[key] = value
        refused = [k for k in knobs if k not in params.names]
        if refused:
            msg = (
                f"`{type(self.target).__name__}` takes no {', '.join(refused)}; it takes "
                f"{', '.join(params.names) or 'no decoding knobs'}."
            )
            raise ValueError(msg)
        resolved, planner_meta = self.planner._choose_with_metadata(messages, knobs)
        sent, dropped = _map_config(resolved, params)
        meta = {**planner_meta, "target": type(self.target).__name__, "sent": sent, "dropped": dropped}
        if params.via == "fields":
            # A shallow copy: clients and loaded weights are shared, only the sampling fields differ.
            return self.target.model_copy(update=sent), rest, meta
        return self.target, {**rest, **sent}, meta

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        target, call_kwargs, meta = self._prepare(messages, kwargs)
        emit_config_event(run_manager, meta)
        result = target._generate(messages, stop=stop, run_manager=run_manager, **call_kwargs)
        for generation in result.generations:
            _record(generation.message, meta)
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        target, call_kwargs, meta = self._prepare(messages, kwargs)
        emit_config_event(run_manager, meta)
        if type(target)._stream is BaseChatModel._stream:  # the target cannot stream: its answer is one chunk
            chunk = _as_chunk(target._generate(messages, stop=stop, run_manager=run_manager, **call_kwargs))
            _record(chunk.message, meta)
            yield chunk
            return
        first = True
        for chunk in target._stream(messages, stop=stop, run_manager=run_manager, **call_kwargs):
            _record(chunk.message, meta if first else None)
            first = False
            yield chunk
        if first:
            yield _empty_chunk(meta)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        target, call_kwargs, meta = await run_in_executor(None, self._prepare, messages, kwargs)
        await aemit_config_event(run_manager, meta)
        result = await target._agenerate(messages, stop=stop, run_manager=run_manager, **call_kwargs)
        for generation in result.generations:
            _record(generation.message, meta)
        return result

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        target, call_kwargs, meta = await run_in_executor(None, self._prepare, messages, kwargs)
        await aemit_config_event(run_manager, meta)
        if type(target)._stream is BaseChatModel._stream and type(target)._astream is BaseChatModel._astream:
            chunk = _as_chunk(await target._agenerate(messages, stop=stop, run_manager=run_manager, **call_kwargs))
            _record(chunk.message, meta)
            yield chunk
            return
        first = True
        async for chunk in target._astream(messages, stop=stop, run_manager=run_manager, **call_kwargs):
            _record(chunk.message, meta if first else None)
            first = False
            yield chunk
        if first:
            yield _empty_chunk(meta)

    # -- tools and structured output -------------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools the target's way (its own formats and ``tool_choice`` values); every call still self-tunes.

        Args:
            tools: Passed to the target's ``bind_tools``.
            tool_choice: Passed to the target's ``bind_tools`` when given.
            **kwargs: Passed to the target's ``bind_tools``.

        """
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return _reroute(self.target.bind_tools(tools, **kwargs), self.target, self)

    def with_structured_output(
        self, schema: dict | type | None = None, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict | BaseModel]:
        """The target's structured output (its own methods and options), with every call self-tuned.

        Args:
            schema: Passed to the target's ``with_structured_output``.
            include_raw: Passed to the target's ``with_structured_output``.
            **kwargs: Passed to the target's ``with_structured_output`` (e.g. ``method=``).

        """
        runnable = self.target.with_structured_output(schema, include_raw=include_raw, **kwargs)
        return _reroute(runnable, self.target, self)


def with_self_tuning(target: BaseChatModel, planner: ChatHAG | None = None, **kwargs: Any) -> SelfTuning:
    """Wrap ``target`` so that a HAG planner chooses its decoding settings on every call.

    Args:
        target: Any chat model with an entry in :data:`TARGETS` (or pass ``params=``).
        planner: The planner. Default: ``ChatHAG()`` on the default local model.
        **kwargs: Other :class:`SelfTuning` fields (``params``).

    Example:
        .. code-block:: python

            from hag_chain import ChatHAG, with_self_tuning

            # another GGUF answers; the default model, capped at temperature 1.0, chooses its settings
            planner = ChatHAG(bounds={"temperature": (None, 1.0)})
            llm = with_self_tuning(ChatHAG(model_path="other.gguf"), planner=planner)

    """
    if planner is not None:
        kwargs["planner"] = planner
    return SelfTuning(target=target, **kwargs)


# -- helpers -------------------------------------------------------------------------------------------------


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's code, past pydantic's and LangChain's constructors."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        ("pydantic", "langchain_core", __name__)
    ):
        frame, level = frame.f_back, level + 1
    return level


def _record(message: BaseMessage, meta: dict[str, Any] | None) -> None:
    """Put ``meta`` in ``response_metadata["hag"]``, keeping a ChatHAG target's own entry as ``target_hag``.

    On a stream, only the first chunk gets ``meta``; the target's entry, which a ChatHAG target puts on its last
    chunk, goes under ``["hag"]["target_hag"]`` so that merging the chunks nests it instead of mixing the two.
    """
    own = message.response_metadata.pop("hag", None)
    hag = dict(meta) if meta is not None else {}
    if own is not None:
        hag["target_hag"] = own
    if hag:
        message.response_metadata["hag"] = hag


def _empty_chunk(meta: dict[str, Any]) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata={"hag": dict(meta)}))


def _as_chunk(result: ChatResult) -> ChatGenerationChunk:
    """A target's complete answer as one stream chunk (for targets that cannot stream)."""
    generation = result.generations[0]
    message = generation.message
    calls = getattr(message, "tool_calls", None) or []
    chunk = AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=getattr(message, "usage_metadata", None),
        id=message.id,
        tool_call_chunks=[
            tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
            for i, c in enumerate(calls)
        ],
    )
    return ChatGenerationChunk(message=chunk, generation_info=generation.generation_info)


def _reroute(runnable: Runnable, old: Runnable, new: Runnable) -> Runnable:
    """A copy of ``runnable`` (as the target's ``bind_tools`` etc. build it) calling ``new`` wherever it calls ``old``.

    Raises:
        TypeError: ``old`` appears nowhere in ``runnable``'s fields (e.g. it is hidden in a function).

    """
    rerouted = _replace(runnable, old, new)
    if rerouted is runnable:
        msg = (
            f"SelfTuning could not find the `{type(old).__name__}` inside the runnable its method returned "
            f"(`{type(runnable).__name__}`), so calls through it would not be self-tuned."
        )
        raise TypeError(msg)
    return rerouted


def _replace(value: Any, old: Any, new: Any) -> Any:
    """``value`` with ``old`` replaced by ``new`` in runnables' fields and in lists, tuples and dicts of them."""
    if value is old:
        return new
    if isinstance(value, Runnable) and isinstance(value, BaseModel):
        updates = {}
        for name in type(value).model_fields:
            item = getattr(value, name)
            replaced = _replace(item, old, new)
            if replaced is not item:
                updates[name] = replaced
        return value.model_copy(update=updates) if updates else value
    if type(value) in (list, tuple):
        items = [_replace(v, old, new) for v in value]
        return type(value)(items) if any(a is not b for a, b in zip(items, value)) else value
    if type(value) is dict:
        mapped = {k: _replace(v, old, new) for k, v in value.items()}
        return mapped if any(mapped[k] is not value[k] for k in value) else value
    return value
