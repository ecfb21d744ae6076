"""Turn LangChain messages into the role/content dicts a GGUF chat template renders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

__all__ = ["TOOL_CALL_CLOSE", "TOOL_CALL_OPEN", "format_tool_call", "to_chat_dicts"]

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"


def format_tool_call(name: str, args: dict[str, Any]) -> str:
    """How a tool call is written in the model's reply (and how past calls are shown to it)."""
    return TOOL_CALL_OPEN + json.dumps({"name": name, "arguments": args}, ensure_ascii=False) + TOOL_CALL_CLOSE


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Convert messages to ``{"role", "content"}`` dicts with plain-string content.

    Non-text content blocks are dropped (the runtime is text-only); an assistant's tool calls are written the way
    the model is asked to write them; tool results become ``tool`` turns. Tool and schema instructions are added
    afterwards (:func:`hag_chain.chat.tools.with_instructions`).
    """
    out: list[dict[str, str]] = []
    for message in messages:
        text = _text_of(message.content)
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            role = "assistant"
            calls = "".join(format_tool_call(c["name"], c["args"]) for c in message.tool_calls)
            text = text + calls if text else calls
        elif isinstance(message, ToolMessage):
            role = "tool"
            if getattr(message, "status", "success") == "error":
                text = f"Error: {text}" if not text.startswith("Error") else text
        else:
            role = getattr(message, "role", None) or "user"
        out.append({"role": role, "content": text})
    return out


def _text_of(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)
