"""Tool calling and structured output on a local model: prompts, llama.cpp grammars and output parsing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import InvalidToolCall, ToolCall
from langchain_core.messages.tool import invalid_tool_call, tool_call

from hag_chain.chat.messages import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

if TYPE_CHECKING:
    from hag_chain.llama.model import LoadedModel

__all__ = [
    "json_grammar",
    "parse_tool_calls",
    "required_tool",
    "structured_output_instructions",
    "structured_output_messages",
    "tool_call_grammar",
    "tool_call_messages",
    "tool_prompt",
    "tools_instructions",
    "with_instructions",
]


def tools_instructions(tools: list[dict[str, Any]]) -> str:
    """System-prompt text listing the tools and how to call one."""
    lines = [
        "You can call these tools:",
        *(json.dumps(t["function"], ensure_ascii=False) for t in tools),
        f'To call a tool, reply only with {TOOL_CALL_OPEN}{{"name": <tool name>, "arguments": {{...}}}}'
        f"{TOOL_CALL_CLOSE}. When a tool result answers the question, reply to the user in plain text.",
    ]
    return "\n".join(lines)


def structured_output_instructions(schema: dict[str, Any] | None) -> str:
    """System-prompt text asking for JSON (matching ``schema`` when given)."""
    if schema is None:
        return "Reply with a single JSON object and nothing else."
    return "Reply with a single JSON object that matches this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)


def with_instructions(chat: Sequence[Mapping[str, str]], instructions: str) -> list[dict[str, str]]:
    """``chat`` (role/content dicts) with ``instructions`` added as ``ChatHAG`` adds its tool and JSON instructions.

    Appended to the first message after a blank line when that is a system message, else a system message of their
    own before the conversation. Both phases of a call read the result: the planner chooses for what the answer is
    asked.
    """
    out = [dict(m) for m in chat]
    if out and out[0]["role"] == "system":
        out[0] = {**out[0], "content": (out[0]["content"] + "\n\n" + instructions).strip()}
    else:
        out.insert(0, {"role": "system", "content": instructions})
    return out


def structured_output_messages(
    chat: Sequence[Mapping[str, str]], schema: dict[str, Any] | None
) -> list[dict[str, str]]:
    """The conversation ``ChatHAG`` answers ``chat`` with when asked for structured output matching ``schema``.

    :func:`structured_output_instructions` added by :func:`with_instructions`; the answer is generated under
    :func:`json_grammar` of the same schema. The training tasks that ask for JSON build their prompts with it, so
    the planner is tuned on the requests it sees at run time.

    Example:
        >>> from hag_chain import structured_output_messages
        >>> chat = [{"role": "user", "content": "I live in Porto."}]
        >>> messages = structured_output_messages(chat, {"type": "object"})
        >>> print(messages[0]["content"])
        Reply with a single JSON object that matches this JSON schema:
        {"type": "object"}
        >>> messages[1] == chat[0]
        True

    """
    return with_instructions(chat, structured_output_instructions(schema))


def tool_call_messages(chat: Sequence[Mapping[str, str]], tools: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The conversation ``ChatHAG`` answers ``chat`` with when it offers ``tools`` to a model whose template cannot.

    :func:`tools_instructions` added by :func:`with_instructions`; a forced call is generated under
    :func:`tool_call_grammar` of the same tools. A chat template that writes tools itself (Qwen2.5's) gets them in
    its own slot instead: :func:`tool_prompt` decides.
    """
    return with_instructions(chat, tools_instructions(tools))


def tool_prompt(
    model: LoadedModel, chat: Sequence[Mapping[str, str]], tools: list[dict[str, Any]] | None
) -> tuple[list[dict[str, str]], list[dict[str, Any]] | None]:
    """How ``model`` is asked ``chat`` with ``tools`` offered: the conversation, and the tools its template writes.

    ``model.prompt_tokens(*tool_prompt(model, chat, tools))`` is the prompt ``ChatHAG`` gives both phases of a
    call. A chat template that writes tools and asks for ``<tool_call>`` blocks (Qwen2.5's) writes them, and how to
    call one, in the model's own words, as it was tuned on them: the conversation is unchanged and the tools are
    returned for the template. Another (SmolLM2's) gets hag-chain's instructions, which ask for the same blocks, in
    the system message (:func:`tool_call_messages`), and no tools. Measured on Qwen2.5-Coder-0.5B, LangChain's
    weather question: with hag-chain's instructions the first answer token is a near tie between the call's ``{"``
    and prose's ``The`` (logits 19.2 and 18.7), with its own template's the call leads any prose token by 2.2.

    The training tasks that ask for tool calls are generated and tuned through it, so the planner is tuned on the
    requests it sees at run time, on each model.
    """
    messages = [dict(m) for m in chat]
    if not tools:
        return messages, None
    if model.takes_tools(TOOL_CALL_OPEN):
        return messages, tools
    return tool_call_messages(messages, tools), None


def required_tool(tools: list[dict[str, Any]], tool_choice: Any) -> list[dict[str, Any]] | None:
    """The tools one of which must be called, or ``None`` when the model may answer in text.

    Raises:
        ValueError: ``tool_choice`` names a tool that is not bound, or has an unknown form.

    """
    if tool_choice in (None, "auto", "none", False) or not tools:
        return None
    if tool_choice in ("any", "required", True):
        return tools
    name = tool_choice
    if isinstance(tool_choice, dict):
        name = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
    if not isinstance(name, str):
        raise ValueError(f"Unsupported `tool_choice` {tool_choice!r}; use None, 'auto', 'any' or a tool name.")
    chosen = [t for t in tools if t["function"]["name"] == name]
    if not chosen:
        known = ", ".join(t["function"]["name"] for t in tools)
        raise ValueError(f"`tool_choice` names {name!r}, which is not among the bound tools ({known}).")
    return chosen


def tool_call_grammar(tools: list[dict[str, Any]]) -> str:
    """GBNF for exactly one ``<tool_call>{...}</tool_call>`` whose name and arguments fit one of ``tools``."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t["function"]["name"]},
                "arguments": _object_schema(t["function"].get("parameters")),
            },
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    schema = variants[0] if len(variants) == 1 else {"anyOf": variants}
    body = _strict_strings(json_schema_to_gbnf(json.dumps(schema))).replace("root ::=", "hag-tool-call ::=", 1)
    return f'root ::= "{TOOL_CALL_OPEN}" hag-tool-call "{TOOL_CALL_CLOSE}"\n' + body


def json_grammar(schema: dict[str, Any] | None) -> str:
    """GBNF for a JSON object matching ``schema``, or any JSON object when ``schema`` is ``None``."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if schema is None:
        return JSON_GBNF
    return _strict_strings(json_schema_to_gbnf(json.dumps(_object_schema(schema))))


# llama-cpp-python 0.3.36's `json_schema_to_gbnf` lets a JSON string hold raw control characters (its `char` rule
# is `[^"\\]`), which JSON forbids: a greedy model writing a newline inside a tool argument produced a call that
# no JSON parser accepts. llama.cpp's own converter excludes them; so does this rule.
_LOOSE_CHAR = r'char ::= [^"\\]'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F]'


def _strict_strings(gbnf: str) -> str:
    """``gbnf`` with JSON strings that cannot contain raw control characters."""
    if _LOOSE_CHAR not in gbnf and re.search(r"^string ::=", gbnf, re.MULTILINE):  # not "date-string ::="
        raise RuntimeError("llama-cpp-python's JSON grammar changed; update hag_chain.chat.tools._strict_strings")
    return gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)


_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_tool_calls(text: str, tool_names: Collection[str] = ()) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """Split a reply into plain text and the ``<tool_call>`` blocks it contains.

    A reply with no block that is nothing but one call's JSON object (``{"name": ..., "arguments": {...}}``, bare or
    in a code fence) naming one of ``tool_names`` is a call too: instruction-tuned models answer so when the tools
    come in a system message rather than their own template's slot (Qwen2.5-Coder does, asked about the weather
    with a weather tool).
    """
    if TOOL_CALL_OPEN not in text and (bare := _bare_call(text, tool_names)) is not None:
        return "", [bare], []
    content_parts: list[str] = []
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    rest = text
    while TOOL_CALL_OPEN in rest:
        before, _, after = rest.partition(TOOL_CALL_OPEN)
        content_parts.append(before)
        body, closed, rest = after.partition(TOOL_CALL_CLOSE)
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        try:
            obj = json.loads(body)
            name, args = obj["name"], obj.get("arguments", {})
            if not isinstance(name, str) or not isinstance(args, dict):
                raise TypeError("`name` must be a string and `arguments` an object")
            calls.append(tool_call(name=name, args=args, id=call_id))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            invalid.append(invalid_tool_call(name=None, args=body, id=call_id, error=f"{e}"))
        if not closed:
            break
    content_parts.append(rest)
    return "".join(content_parts).strip() if calls or invalid else text, calls, invalid


def _bare_call(text: str, tool_names: Collection[str]) -> ToolCall | None:
    body = text.strip()
    if fenced := _FENCED.match(body):
        body = fenced.group(1)
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("name") not in tool_names or set(obj) - {"name", "arguments"}:
        return None
    args = obj.get("arguments", {})
    if not isinstance(args, dict):
        return None
    return tool_call(name=obj["name"], args=args, id=f"call_{uuid.uuid4().hex[:24]}")


def _object_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    schema = dict(schema or {"type": "object", "properties": {}})
    schema.setdefault("type", "object")
    if schema.get("type") == "object" and not schema.get("properties") and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    return schema
