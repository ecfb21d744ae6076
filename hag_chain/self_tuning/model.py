"""``SelfTuning``: a HAG planner chooses the decoding settings of any LangChain chat model, call by call.

On each call the planner (a :class:`~hag_chain.ChatHAG`) runs phase 1 on the conversation, the knobs it chose are
renamed to the target's parameters (:class:`~hag_chain.TargetParams`, looked up in :data:`~hag_chain.TARGETS`),
and the target answers with them. Generation, tools, structured output and streaming are the target's own; the
wrapper only adds the configuration and records it in ``response_metadata["hag"]``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManager, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hag_chain.chat.events import aemit_config_event, emit_config_event
from hag_chain.chat.model import ChatHAG
from hag_chain.knobs import KNOBS, split_knob_kwargs
from hag_chain.llama.compute import OnComputeThread
from hag_chain.self_tuning.rerouting import reroute
from hag_chain.self_tuning.targets import TargetParams, class_key, map_config, target_params

__all__ = ["SelfTuning", "with_self_tuning"]

_warned: set[str] = set()


class SelfTuning(BaseChatModel):
    r"""Any chat model, with decoding settings chosen per call by a HAG planner.

    Each call runs the planner's phase 1 on the conversation (:meth:`ChatHAG.choose_config`) and calls the target
    with the knobs it chose, renamed to the target's parameters (:data:`TARGETS`). The target is called through its
    public interface (``invoke``/``stream`` and their async twins) as a child run, so its own cache, rate limiter
    and callbacks apply. Knobs nobody chose, and knobs the target cannot take (warned once per class), keep the
    target's own settings. A knob passed to the
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
        name = class_key(type(self.target))
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
        knobs, rest = split_knob_kwargs(kwargs)
        refused = [k for k in knobs if k not in params.names]
        if refused:
            msg = (
                f"`{type(self.target).__name__}` takes no {', '.join(refused)}; it takes "
                f"{', '.join(params.names) or 'no decoding knobs'}."
            )
            raise ValueError(msg)
        resolved = self.planner.choose_config(messages, **knobs)
        sent, dropped = map_config(resolved, params)
        meta = {**resolved.metadata(), "target": type(self.target).__name__, "sent": sent, "dropped": dropped}
        update = dict(sent) if params.via == "fields" else {}
        if params.llama_client:  # its llama.cpp calls on the planner's compute thread; callbacks stay with the caller
            update[params.llama_client] = OnComputeThread(getattr(self.target, params.llama_client))
        # A shallow copy: clients and loaded weights are shared, only the sampling fields (or the client) differ.
        target = self.target.model_copy(update=update) if update else self.target
        return target, rest if params.via == "fields" else {**rest, **sent}, meta

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        target, call_kwargs, meta = self._prepare(messages, kwargs)
        emit_config_event(run_manager, meta)
        message = target.invoke(messages, config=_child_config(run_manager), stop=stop, **call_kwargs)
        _record(message, meta)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        target, call_kwargs, meta = self._prepare(messages, kwargs)
        emit_config_event(run_manager, meta)
        first = True
        for message in target.stream(messages, config=_child_config(run_manager), stop=stop, **call_kwargs):
            yield _chunk(message, meta if first else None)
            first = False
        if first:
            yield _chunk(AIMessageChunk(content=""), meta)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        target, call_kwargs, meta = await run_in_executor(None, self._prepare, messages, kwargs)
        await aemit_config_event(run_manager, meta)
        message = await target.ainvoke(messages, config=_child_config(run_manager), stop=stop, **call_kwargs)
        _record(message, meta)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        target, call_kwargs, meta = await run_in_executor(None, self._prepare, messages, kwargs)
        await aemit_config_event(run_manager, meta)
        first = True
        async for message in target.astream(messages, config=_child_config(run_manager), stop=stop, **call_kwargs):
            yield _chunk(message, meta if first else None)
            first = False
        if first:
            yield _chunk(AIMessageChunk(content=""), meta)

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
        return reroute(self.target.bind_tools(tools, **kwargs), self.target, self)

    def with_structured_output(
        self, schema: dict | type | None = None, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict | BaseModel]:
        """The target's structured output (its own methods and options), with every call self-tuned.

        Args:
            schema: Passed to the target's ``with_structured_output``.
            include_raw: Passed to the target's ``with_structured_output``.
            **kwargs: Passed to the target's ``with_structured_output`` (e.g. ``method=``).

        """
        runnable = self.target.with_structured_output(schema, include_raw=include_raw, **kwargs)  # type: ignore[arg-type]
        return reroute(runnable, self.target, self)


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


def _child_config(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None) -> RunnableConfig:
    """Run the target as a child of the wrapper's run, so its callbacks, traces and tokens nest under it.

    LangChain gives chat models' run managers no ``get_child`` (only chains have one); this builds the same
    child manager: the run's inheritable handlers, tags and metadata, parented on the run.
    """
    if run_manager is None:
        return RunnableConfig()
    child = CallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    child.set_handlers(run_manager.inheritable_handlers)
    child.add_tags(run_manager.inheritable_tags)
    child.add_metadata(run_manager.inheritable_metadata)
    return RunnableConfig(callbacks=child)


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


def _chunk(message: BaseMessage, meta: dict[str, Any] | None) -> ChatGenerationChunk:
    """One stream chunk of the target's, with ``meta`` recorded.

    A target that cannot stream answers ``stream()`` with one whole message (``BaseChatModel.stream`` falls back
    to ``invoke``); it becomes one chunk, tool calls included.
    """
    if not isinstance(message, BaseMessageChunk):
        calls = getattr(message, "tool_calls", None) or []
        message = AIMessageChunk(
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
    _record(message, meta)
    return ChatGenerationChunk(message=message)
