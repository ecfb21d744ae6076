"""The OpenAI chat-completions wire format ``hag-chain serve`` speaks, and how it maps onto a ``ChatHAG`` call.

The request is validated by :class:`ChatCompletionRequest`; :meth:`ChatCompletionRequest.call_kwargs` turns the knobs
a client set into ``ChatHAG`` call arguments (a knob the client left out is the planner's to choose, as in
``ChatHAG``). Messages convert with LangChain's own ``convert_to_messages`` and answers back with
``convert_to_openai_messages``, so tool calls and tool results keep OpenAI's shape both ways. Each response carries
the configuration the answer ran with in an extra ``hag`` field (OpenAI clients ignore unknown fields and keep them
on the parsed object) and in the :data:`CONFIG_HEADER` header.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, BaseMessageChunk, convert_to_messages
from langchain_core.messages import convert_to_openai_messages as _to_openai
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CONFIG_HEADER",
    "ChatCompletionRequest",
    "UnsupportedRequestError",
    "chunk_body",
    "completion_body",
    "config_header",
    "error_body",
    "final_delta",
    "finish_reason",
    "new_completion_id",
    "usage_body",
]

#: Response header with the configuration the answer ran with, as one JSON line.
CONFIG_HEADER = "X-HAG-Config"


class UnsupportedRequestError(ValueError):
    """A request hag-chain cannot serve (``n`` > 1, log probabilities, an unreadable message or tool); says which."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class ChatCompletionRequest(BaseModel):
    """The fields of an OpenAI chat-completions request that hag-chain reads; other fields are ignored.

    Besides OpenAI's knobs it takes the sampling knobs llama.cpp's and vLLM's servers accept (``top_k``, ``min_p``,
    ``typical_p``, ``repeat_penalty`` or ``repetition_penalty``).
    """

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repetition_penalty: float | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = 1
    logprobs: bool | None = None
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    logit_bias: dict[str, float] | None = None

    def messages_for_chat(self) -> list[BaseMessage]:
        """The conversation as LangChain messages (OpenAI's roles, tool calls and tool results included).

        Raises:
            UnsupportedRequestError: A message is not an OpenAI chat message.

        """
        try:  # an assistant turn with tool calls may leave `content` out (OpenAI's spec): LangChain wants the key
            return convert_to_messages([{"content": None, **m} for m in self.messages])
        except (KeyError, TypeError, ValueError) as e:
            raise UnsupportedRequestError(f"`messages` holds a message hag-chain cannot read: {e}", "messages") from e

    def call_kwargs(self) -> dict[str, Any]:
        """``ChatHAG`` call arguments: the knobs the client set, and the call's limits, tools and format.

        Raises:
            UnsupportedRequestError: ``n`` is not 1, or log probabilities are asked for.

        """
        if self.n not in (None, 1):
            raise UnsupportedRequestError("`n` must be 1: hag-chain answers each request once.", "n")
        if self.logprobs:
            raise UnsupportedRequestError("`logprobs` is not supported by hag-chain serve.", "logprobs")
        penalty = self.repetition_penalty if self.repetition_penalty is not None else self.repeat_penalty
        knobs = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "typical_p": self.typical_p,
            "repetition_penalty": penalty,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }
        kwargs: dict[str, Any] = {k: v for k, v in knobs.items() if v is not None}
        max_tokens = self.max_completion_tokens or self.max_tokens
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if self.stop:
            kwargs["stop"] = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.logit_bias:
            kwargs["logit_bias"] = {int(token): bias for token, bias in self.logit_bias.items()}
        if self.tools:
            bad = [t for t in self.tools if t.get("type") != "function" or not (t.get("function") or {}).get("name")]
            if bad:
                msg = f"Every tool must be {{'type': 'function', 'function': {{'name': ...}}}}; got {bad[0]!r}."
                raise UnsupportedRequestError(msg, "tools")
            kwargs["tools"] = self.tools
            if self.tool_choice is not None:  # OpenAI's values are ChatHAG.bind_tools' own
                kwargs["tool_choice"] = self.tool_choice
        if (response_format := _response_format(self.response_format)) is not None:
            kwargs["response_format"] = response_format
        return kwargs


def _response_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` as ``ChatHAG``'s: a JSON object, under the schema where one is given."""
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_schema":
        return {"type": "json_object", "schema": (fmt.get("json_schema") or {}).get("schema")}
    if fmt.get("type") == "json_object":
        return {"type": "json_object", "schema": fmt.get("schema")}
    raise UnsupportedRequestError(
        f"`response_format` type {fmt.get('type')!r} is not one of 'text', 'json_object', 'json_schema'.",
        "response_format",
    )


def config_header(hag: dict[str, Any]) -> str:
    """The :data:`CONFIG_HEADER` value: the configuration the answer ran with, one compact JSON line."""
    return json.dumps(hag["config"], separators=(",", ":"), sort_keys=True)


def completion_body(message: AIMessage, model: str) -> dict[str, Any]:
    """A ``chat.completion`` object for ``ChatHAG``'s answer ``message``, its configuration under ``hag``."""
    reply = _to_openai(message)
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": reply, "finish_reason": finish_reason(message), "logprobs": None},
        ],
        "usage": usage_body(message),
        "hag": message.response_metadata.get("hag"),
    }


def usage_body(message: BaseMessage) -> dict[str, int]:
    """OpenAI's ``usage`` object from a LangChain message's ``usage_metadata`` (zeros where it has none)."""
    usage = getattr(message, "usage_metadata", None) or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def chunk_body(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any],
    *,
    finish_reason: str | None = None,
    hag: dict[str, Any] | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer (``hag`` on the first, ``usage`` where asked for)."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if hag is not None:
        body["hag"] = hag
    if usage is not None:
        body["usage"] = usage
    return body


def final_delta(chunk: BaseMessageChunk) -> dict[str, Any]:
    """The last chunk's delta: the tool calls of an answer with tools (which ``ChatHAG`` sends whole at the end)."""
    calls = _to_openai(AIMessage(content="", tool_calls=getattr(chunk, "tool_calls", []))).get("tool_calls", [])
    delta: dict[str, Any] = {"content": chunk.text} if chunk.text else {}
    if calls:
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(calls)]
    return delta


def finish_reason(message: BaseMessage) -> str:
    """OpenAI's ``finish_reason`` for ``ChatHAG``'s answer or last chunk: ``tool_calls`` where it called a tool."""
    if getattr(message, "tool_calls", None):
        return "tool_calls"
    reason = message.response_metadata.get("finish_reason") or "stop"
    return "length" if reason == "length" else "stop"


def new_completion_id() -> str:
    """A fresh ``chatcmpl-...`` id, one per request."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def error_body(message: str, *, kind: Literal["invalid_request_error", "server_error"], param: str | None) -> dict:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}
