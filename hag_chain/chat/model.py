"""``ChatHAG``: a LangChain chat model whose local GGUF model picks its own decoding settings."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers import JsonOutputKeyToolsParser, JsonOutputParser, PydanticToolsParser
from langchain_core.output_parsers.pydantic import PydanticOutputParser
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, create_model, model_validator

from hag_chain.chat import planner
from hag_chain.chat import tools as _tools
from hag_chain.chat.answer import Answer, AnswerStream
from hag_chain.chat.events import CONFIG_EVENT, aemit_config_event, emit_config_event
from hag_chain.chat.precedence import ResolvedConfig
from hag_chain.chat.request import Request
from hag_chain.knobs import KNOBS, DecodingConfig
from hag_chain.llama.catalog import DEFAULT_MODEL, MODELS, SupportedModel
from hag_chain.llama.compute import (
    aiterate_on_compute_thread,
    iterate_on_compute_thread,
    run_on_compute_thread,
)
from hag_chain.llama.model import LoadedModel, ModelKey, load_model
from hag_chain.protocol import HAGProfile
from hag_chain.space import SearchSpace

__all__ = ["CONFIG_EVENT", "ChatHAG", "PlannedChunks"]


def _pin_field(name: str) -> Any:
    """``ChatHAG``'s pin for one knob: ``None`` (the default) leaves it to the model, else to ``defaults``."""
    knob = KNOBS[name]
    description = f"Pin `{name}` ({knob.description}) for every call: the planner's choice is then ignored for it."
    return (knob.kind | None, Field(None, description=description, validation_alias=AliasChoices(name, *knob.aliases)))


# One optional pin field per row of KNOBS: ``ChatHAG(temperature=0)``, or under an alias (``repeat_penalty=1.1``).
_KnobPins: type[BaseModel] = create_model("_KnobPins", **{name: _pin_field(name) for name in KNOBS})


class ChatHAG(BaseChatModel, _KnobPins):  # type: ignore[misc,valid-type]
    """Chat model that first asks a local GGUF model for its decoding configuration, then answers with it.

    Phase 1 (the planner) makes the model choose a configuration on the grid of its search space (one code token
    for a model tuned on prompt hag-v3, a JSON line for hag-v1 and hag-v2); phase 2 generates the answer with that
    configuration through llama.cpp (for an activated LoRA, the shipped kind, the bare base model answers).
    Explicit settings always win: a knob passed to ``invoke``/``bind`` beats one pinned on the constructor, which
    beats the model's choice, which beats ``defaults``.

    Example:
        .. code-block:: python

            from langchain_core.output_parsers import StrOutputParser
            from langchain_core.prompts import ChatPromptTemplate
            from hag_chain import ChatHAG

            chain = ChatPromptTemplate.from_template("{q}") | ChatHAG(max_tokens=64) | StrOutputParser()
            chain.invoke({"q": "Write a haiku about autumn."})

            msg = ChatHAG().invoke("What is 12 * 7?", temperature=0)  # temperature pinned for this call
            msg.response_metadata["hag"]["config"]  # what phase 2 used; ["sources"] says who chose each knob

    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model_name: str | None = Field(default=None, alias="model")
    """A supported model by name (``hag-chain models`` lists them), run with the HAG adapter shipped for it:
    ``ChatHAG(model="qwen2.5-coder-0.5b")``. Default: ``"smollm2-135m"`` (SmolLM2-135M-Instruct, Q4_1). With
    ``model_path`` it is only the name reported in ``response_metadata["model_name"]`` and traces."""
    model_path: str | None = None
    """A GGUF model file of your own, instead of a supported model by name."""
    adapter_path: str | None = None
    """GGUF LoRA adapter applied on top of the model. Default: the adapter shipped for the supported model, if any
    (none for a ``model_path``)."""
    n_ctx: int = 4096
    """Context window in tokens, shared by the planner and the answer."""
    n_threads: int | None = None
    """CPU threads for llama.cpp. Default: every CPU that other processes are not keeping busy, re-measured before
    each call (on a 2-core machine, both threads when idle, one when another process keeps a core busy; see
    :mod:`hag_chain.llama.threads` and ``bench/runtime.py``)."""
    max_tokens: int | None = 512
    """Maximum number of tokens in the answer; ``None`` lets it fill the context."""
    stop: list[str] | None = None
    """Stop sequences for the answer."""
    seed: int | None = None
    """Sampling seed for the answer; a call's ``seed=`` overrides it."""

    defaults: DecodingConfig = Field(default_factory=DecodingConfig)
    """Values for knobs that nobody chose: neither the call, a pin, nor the planner (whose space lacks them).
    A knob not set here takes the model's recommended value where its GGUF records one (``general.sampling.*``),
    else llama.cpp's default."""
    bounds: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    """Caps on the model's choices, e.g. ``{"temperature": (None, 1.0)}``. Call arguments are not capped."""
    search_space: SearchSpace | None = None
    """Grid the planner chooses from. Default: the one in the model's ``hag.search_space`` metadata, else
    :data:`hag_chain.DEFAULT_SEARCH_SPACE`."""
    answer_with_adapter: bool = True
    """Keep a plain LoRA adapter on for the answer (phase 2). ``False`` answers with the bare base model, at the
    cost of re-evaluating the prompt, since KV entries are never shared between adapter states. An activated LoRA
    (one whose GGUF carries ``adapter.alora.invocation_tokens``) is only ever on for the planner turn: the answer is
    the bare base model's, and it continues the conversation's cache."""
    streaming: bool = False
    """Make ``invoke`` stream internally, so streaming callbacks receive tokens."""
    timeout: float | None = None
    """Seconds after which the answer is cut off (``finish_reason="timeout"``). Default: no limit."""
    max_retries: int = 0
    """Unused: local inference has no transient failures to retry. Accepted so code written for hosted chat
    models runs unchanged."""
    api_key: SecretStr | None = None
    """Unused: a local model needs no key. Accepted for the same reason as ``max_retries``."""

    @property
    def _llm_type(self) -> str:
        return "hag-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        key = self._model_key()
        return {
            "model_path": key.model_path,
            "adapter_path": key.adapter_path,
            **self.pins,
        }

    @property
    def resolved_model_name(self) -> str:
        """The name reported for this model: ``model``, else the GGUF file's stem."""
        return self.model_name or Path(self.resolved_model_path).stem

    @property
    def resolved_model_path(self) -> str:
        """The GGUF file this model runs: ``model_path``, else the default model's file."""
        return self._model_key().model_path

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Trace parameters. The temperature is the pinned one, if any; the model's choice is in the metadata."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "hag"
        params["ls_model_name"] = kwargs.get("model") or self.resolved_model_name
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        return params

    # -- loading ---------------------------------------------------------------------------------------------

    @model_validator(mode="after")
    def _known_model(self) -> ChatHAG:
        """A ``model`` that names no supported model fails here, not at the first call."""
        _ = self.supported_model
        return self

    @property
    def supported_model(self) -> SupportedModel | None:
        """The supported model this runs (``model``'s name, else the default), ``None`` for a ``model_path``.

        Raises:
            UnknownEntryError: ``model`` names no supported model and no ``model_path`` is given.

        """
        if self.model_path is not None:
            return None
        return MODELS.lookup(self.model_name or DEFAULT_MODEL)

    def _model_key(self) -> ModelKey:
        supported = self.supported_model
        if supported is None:
            path, adapter = str(self.model_path), self.adapter_path
        else:
            path, adapter = supported.path(), self.adapter_path or supported.adapter_path()
        return ModelKey(model_path=path, adapter_path=adapter, n_ctx=self.n_ctx, n_threads=self.n_threads)

    def load(self) -> LoadedModel:
        """Load (or fetch the already loaded) llama.cpp model. Called on first use; call it to load eagerly."""
        return load_model(self._model_key())

    # -- the two phases --------------------------------------------------------------------------------------

    @property
    def pins(self) -> dict[str, float]:
        """The knobs pinned on the constructor (``ChatHAG(temperature=0)``), by name."""
        return {k: getattr(self, k) for k in KNOBS if getattr(self, k) is not None}

    def hag_profile(self) -> HAGProfile:
        """What the model (and its adapter) say about themselves: search space, prompt version. Loads the model."""
        model = self.load()
        return HAGProfile.from_metadata(model.metadata, model.adapter_metadata)

    def choose_config(self, messages: LanguageModelInput, **kwargs: Any) -> ResolvedConfig:
        """Run phase 1 only: the configuration this model would answer ``messages`` with.

        This is the planner hook :class:`~hag_chain.SelfTuning` uses; ``ResolvedConfig.metadata()`` is what a
        call reports in ``response_metadata["hag"]``.

        Args:
            messages: Anything ``invoke`` takes.
            **kwargs: Call arguments; the decoding knobs among them beat the planner, as in ``invoke``.

        """
        request = self._request(self._convert_input(messages).to_messages(), None, kwargs)
        model = self.load()

        def plan() -> ResolvedConfig:
            with model.lock:
                return self._plan(model, request)

        return run_on_compute_thread(plan)

    async def astream_planned(
        self, messages: LanguageModelInput, **kwargs: Any
    ) -> tuple[dict[str, Any], PlannedChunks]:
        """Plan, then stream the answer: the configuration first, as soon as it is chosen, then the chunks.

        For a server that has to send the configuration before the answer (``hag-chain serve`` puts it in a
        header). The configuration is the dict a call reports in ``response_metadata["hag"]``; the chunks are those
        ``astream`` yields. This runs outside LangChain's run machinery: no callbacks, tracing, ``rate_limiter`` or
        ``output_version``, and no ``config`` argument. ``astream_events`` gives the same through it (the
        ``hag_config`` event, then the chunks), at a cost per token that measured about 3% of a streamed
        SmolLM2-135M answer's time on 2 cores (docs/serve.md).

        Args:
            messages: Anything ``invoke`` takes.
            **kwargs: Call arguments, as for ``astream`` (knobs, ``stop``, ``max_tokens``, tools, ...).

        Returns:
            The configuration's metadata, and the answer's chunks. ``aclose()`` on them stops the answer at its next
            token and releases the model, whether or not they were iterated.

        """
        request = self._request(self._convert_input(messages).to_messages(), kwargs.pop("stop", None), kwargs)
        model = self.load()
        items = aiterate_on_compute_thread(lambda: self._phases(model, request))
        try:
            hag_meta = await anext(items)  # the planner's choice comes before any chunk
        except BaseException:
            await items.aclose()
            raise
        assert isinstance(hag_meta, dict)  # noqa: S101  # _phases yields it first
        return hag_meta, PlannedChunks(items)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> Request:
        return Request.build(
            messages,
            kwargs,
            pins=self.pins,
            stop=stop if stop is not None else self.stop,
            max_tokens=self.max_tokens,
            seed=self.seed,
        )

    def _plan(self, model: LoadedModel, request: Request) -> ResolvedConfig:
        return planner.plan(
            model, request, search_space=self.search_space, defaults=self._defaults(model), bounds=self.bounds
        )

    def _defaults(self, model: LoadedModel) -> DecodingConfig:
        """``defaults``: the knobs set there, else the model's recommended sampling, else llama.cpp's defaults."""
        recommended = DecodingConfig.recommended(model.metadata)
        if not recommended:
            return self.defaults
        return DecodingConfig.from_values(
            {**recommended, **self.defaults.model_dump(include=self.defaults.model_fields_set)}
        )

    def _phases(
        self, model: LoadedModel, request: Request
    ) -> Generator[dict[str, Any] | ChatGenerationChunk, None, None]:
        """Both phases, run on llama.cpp's compute thread: the configuration's metadata, then LangChain chunks."""
        with model.lock:
            resolved = self._plan(model, request)
            hag_meta = resolved.metadata()
            yield hag_meta
            with_adapter = self.answer_with_adapter and not model.is_alora
            stream = AnswerStream(model, request, resolved.config, with_adapter=with_adapter, timeout=self.timeout)
            for piece in stream:
                if request.stream_text:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield self._final_chunk(stream.answer, request, hag_meta)

    def _final_chunk(self, answer: Answer, request: Request, hag_meta: dict[str, Any]) -> ChatGenerationChunk:
        content = "" if request.stream_text else answer.text
        chunks = []
        if request.tools:
            names = [t["function"]["name"] for t in request.offered_tools]
            content, calls, invalid = _tools.parse_tool_calls(answer.text, names)
            chunks = [
                tool_call_chunk(name=c["name"], args=_dumps(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(calls)
            ]
            for bad in invalid:
                warnings.warn(f"The model wrote a malformed tool call: {bad['error']}", stacklevel=2)
        message = AIMessageChunk(
            content=content,
            tool_call_chunks=chunks,
            usage_metadata=UsageMetadata(  # type: ignore[typeddict-item]  # the token details are optional
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                total_tokens=answer.input_tokens + answer.output_tokens,
            ),
            response_metadata={
                "model_name": self.resolved_model_name,
                "model_provider": "hag",
                "finish_reason": answer.finish_reason,
                "hag": hag_meta,
            },
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message, generation_info={"finish_reason": answer.finish_reason})

    # -- BaseChatModel hooks ---------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from langchain_core.language_models.chat_models import generate_from_stream

        return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        model = self.load()
        for item in iterate_on_compute_thread(lambda: self._phases(model, request)):
            if isinstance(item, dict):
                emit_config_event(run_manager, item)
                continue
            if run_manager is not None:
                run_manager.on_llm_new_token(item.text, chunk=item)
            yield item

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from langchain_core.language_models.chat_models import agenerate_from_stream

        return await agenerate_from_stream(self._astream(messages, stop=stop, run_manager=run_manager, **kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Both phases on llama.cpp's compute thread (:mod:`hag_chain.llama.compute`); the loop waits without blocking.

        Leaving early (a cancelled task, a client gone) stops the answer at its next token and releases the model.
        """
        request = self._request(messages, stop, kwargs)
        model = self.load()
        async for item in aiterate_on_compute_thread(lambda: self._phases(model, request)):
            if isinstance(item, dict):
                await aemit_config_event(run_manager, item)
                continue
            if run_manager is not None:
                await run_manager.on_llm_new_token(item.text, chunk=item)
            yield item

    # -- tools and structured output -------------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: dict | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools. The planner still picks the sampling configuration for the tool-calling turn.

        Args:
            tools: Tools in any form ``convert_to_openai_tool`` accepts.
            tool_choice: ``None``/``"auto"``: the model decides; ``"any"``/``"required"``/``True``: it must call
                one of the tools; a tool name (or ``{"function": {"name": ...}}``): it must call that tool.
                Forced calls are generated under a llama.cpp grammar, so they always parse.
            **kwargs: Passed to :meth:`bind`.

        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        _tools.required_tool(formatted, tool_choice)  # validate the choice now, not at invoke time
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict | type | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict | Any]:
        """Return a runnable whose output matches ``schema``.

        Args:
            schema: A pydantic class, TypedDict, JSON schema or OpenAI tool dict. Optional for ``json_mode``.
            method: ``"json_schema"`` (default) constrains the answer with a llama.cpp grammar built from the
                schema; ``"function_calling"`` forces a call of a tool shaped like the schema; ``"json_mode"``
                constrains the answer to a JSON object (to the schema's shape too, when one is given, since a
                small local model does not reliably follow key names given only in the prompt).
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of raising on parse errors.
            strict: Accepted for compatibility; grammar-constrained output always follows the schema.
            **kwargs: Not supported; passing any raises ``ValueError``.

        """
        if kwargs:
            raise ValueError(f"Unsupported arguments to `with_structured_output`: {sorted(kwargs)}.")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        if schema is None and method != "json_mode":
            raise ValueError(f"`schema` is required for method={method!r}; only 'json_mode' works without one.")
        ls_format = {
            "kwargs": {"method": method, "strict": strict},
            "schema": convert_to_json_schema(schema) if schema is not None else None,
        }
        parser: Runnable
        if method == "function_calling":
            assert schema is not None  # checked above; narrows the type
            tool_name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=tool_name, ls_structured_output_format=ls_format)
            if is_pydantic:
                parser = PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
            else:
                parser = JsonOutputKeyToolsParser(key_name=tool_name, first_tool_only=True)
        elif method in ("json_schema", "json_mode"):
            llm = self.bind(
                response_format={"type": "json_object", "schema": ls_format["schema"]},
                ls_structured_output_format=ls_format,
            )
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        else:
            raise ValueError(f"Unknown method {method!r}; use 'json_schema', 'function_calling' or 'json_mode'.")
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([fallback], exception_key="parsing_error")


def _dumps(args: dict[str, Any]) -> str:
    return json.dumps(args, ensure_ascii=False)


class PlannedChunks:
    """The answer's chunks from :meth:`ChatHAG.astream_planned`: an async iterator of ``AIMessageChunk``.

    Not an async generator: closing one that was never iterated would skip its cleanup, and the answer would run on.
    """

    def __init__(self, items: AsyncGenerator[dict[str, Any] | ChatGenerationChunk, None]) -> None:
        self._items = items

    def __aiter__(self) -> PlannedChunks:
        return self

    async def __anext__(self) -> AIMessageChunk:
        item = await anext(self._items)
        assert isinstance(item, ChatGenerationChunk) and isinstance(item.message, AIMessageChunk)  # noqa: S101
        return item.message

    async def aclose(self) -> None:
        """Stop the answer at its next token and release the model (nothing happens if it has ended)."""
        await self._items.aclose()
