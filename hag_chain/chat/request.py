"""One ``ChatHAG`` call's settings, after merging the constructor's fields with the call's arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage

from hag_chain.chat import tools as _tools
from hag_chain.chat.messages import to_chat_dicts
from hag_chain.knobs import KNOBS, DecodingConfig, split_knob_kwargs

if TYPE_CHECKING:
    from hag_chain.llama.model import LoadedModel

__all__ = ["CALL_OPTIONS", "Request"]

#: Call arguments ``ChatHAG`` takes besides the decoding knobs.
CALL_OPTIONS = frozenset({"seed", "max_tokens", "tools", "tool_choice", "response_format", "model", "logit_bias"})


@dataclass(frozen=True)
class Request:
    """One call's settings: the conversation both phases read, the knobs set by the caller, and the answer's limits."""

    chat: list[dict[str, str]]
    """The caller's messages, with the JSON instructions the answer is asked with under structured output
    (:func:`~hag_chain.chat.tools.structured_output_messages`). Both phases read it, through :meth:`prompt`, with the
    tools the answer may call; the planner sees it all, so it can tell a structured request from free text."""
    offered_tools: list[dict[str, Any]]
    """The tools the answer may call (the forced ones, under a forced ``tool_choice``); none for ``"none"``."""
    call_knobs: dict[str, float]
    init_knobs: dict[str, float]
    tools: list[dict[str, Any]]
    forced_tools: list[dict[str, Any]] | None
    response_format: dict[str, Any] | None
    stream_text: bool
    stop: list[str]
    max_tokens: int | None
    seed: int | None
    logit_bias: dict[int, float] | None

    @classmethod
    def build(
        cls,
        messages: list[BaseMessage],
        kwargs: Mapping[str, Any],
        *,
        pins: Mapping[str, float],
        stop: list[str] | None,
        max_tokens: int | None,
        seed: int | None,
    ) -> Request:
        """Merge a call's ``kwargs`` over the chat model's settings (``pins``, ``stop``, ``max_tokens``, ``seed``).

        Raises:
            ValueError: An argument is neither a knob nor a call option.
            InvalidConfigError: A knob's value is out of range.

        """
        call_knobs, options = split_knob_kwargs(kwargs)
        unknown = [k for k in options if k not in CALL_OPTIONS]
        if unknown:
            raise ValueError(
                f"Unknown argument `{unknown[0]}` for ChatHAG. Decoding knobs: {', '.join(KNOBS)}; "
                f"other call options: {', '.join(sorted(CALL_OPTIONS))}."
            )
        DecodingConfig.from_values(call_knobs)  # fail early, naming the bad knob
        tools = options.get("tools") or []
        forced_tools = _tools.required_tool(tools, options.get("tool_choice"))
        response_format = options.get("response_format")
        chat = to_chat_dicts(messages)
        offered = (forced_tools or tools) if options.get("tool_choice") != "none" else []
        if not offered and response_format is not None:
            chat = _tools.structured_output_messages(chat, response_format.get("schema"))
        return cls(
            chat=chat,
            offered_tools=offered,
            call_knobs=call_knobs,
            init_knobs=dict(pins),
            tools=tools,
            forced_tools=forced_tools,
            response_format=response_format,
            stream_text=not tools,
            stop=list(stop or []),
            max_tokens=options.get("max_tokens", max_tokens),
            seed=options.get("seed", seed),
            logit_bias=options.get("logit_bias"),
        )

    def prompt(self, model: LoadedModel, chat: list[dict[str, str]] | None = None) -> list[int]:
        """``chat`` (by default :attr:`chat`) as ``model``'s prompt, with the offered tools (:func:`tool_prompt`)."""
        messages, tools = _tools.tool_prompt(model, self.chat if chat is None else chat, self.offered_tools)
        return model.prompt_tokens(messages, tools=tools)

    @property
    def structured_output(self) -> bool:
        """Whether the answer is a JSON object under the schema's grammar (``with_structured_output``).

        Its penalties nobody set take their grammar defaults; a forced tool call's keep ``ChatHAG.defaults``: its
        arguments mostly copy the request, and frequency_penalty 0.5 kept a copied name's description from closing
        (LangChain's standard ``test_unicode_tool_call_integration``, greedy: the closing quote is penalised).
        """
        return self.response_format is not None

    def grammar(self) -> Any:
        """The llama.cpp grammar constraining the answer, if the request needs one."""
        from llama_cpp import LlamaGrammar

        if self.forced_tools:
            return LlamaGrammar.from_string(_tools.tool_call_grammar(self.forced_tools), verbose=False)
        if self.response_format is not None:
            return LlamaGrammar.from_string(_tools.json_grammar(self.response_format.get("schema")), verbose=False)
        return None
