"""Rendering a conversation with a GGUF's chat template, and the templates for files that carry none.

The runtime renders with the file's own template (``tokenizer.chat_template``) when it has one. Without one (base
models, bare conversions) it needs a template the model's
vocabulary was made for: Gemma models get Gemma's turn format (their tokenizer has ``<start_of_turn>`` and
``<end_of_turn>`` tokens and none of ChatML's), every other architecture ChatML. ``hag_gguf`` writes the same
template into a transformers tokenizer it rebuilds from such a GGUF, so training renders prompts as the runtime does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

__all__ = ["CHATML_TEMPLATE", "GEMMA_TEMPLATE", "ChatRenderer", "fallback_chat_template"]

CHATML_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Gemma's turns (as its instruction-tuned models' template writes them): the assistant is "model", and a system
# message has no turn of its own: it opens the first user turn.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set system = namespace(text='') %}"
    "{% for m in messages %}{% if m['role'] == 'system' %}{% set system.text = m['content'] + '\\n\\n' %}"
    "{% else %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\\n' }}"
    "{% if m['role'] == 'user' %}{{ system.text }}{% set system.text = '' %}{% endif %}"
    "{{ m['content'] + '<end_of_turn>\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def fallback_chat_template(architecture: str | None) -> str:
    """The template for a model of ``architecture`` (``general.architecture`` or a ``model_type``) without one."""
    return GEMMA_TEMPLATE if (architecture or "").startswith("gemma") else CHATML_TEMPLATE


class ChatRenderer:
    """A GGUF model's chat template, rendered with llama-cpp-python's Jinja2 formatter.

    Args:
        metadata: The model's GGUF metadata (``tokenizer.chat_template``, ``general.architecture``).
        bos_text: The text of the model's BOS token (``""`` if it has none).
        eos_text: The text of its EOS token.

    """

    def __init__(self, metadata: Mapping[str, Any], bos_text: str, eos_text: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = metadata.get("tokenizer.chat_template") or fallback_chat_template(
            metadata.get("general.architecture")
        )
        self.bos_text = bos_text
        self._formatters = {
            flag: Jinja2ChatFormatter(template, eos_token=eos_text, bos_token=bos_text, add_generation_prompt=flag)
            for flag in (True, False)
        }
        self._reads_tools = re.search(r"\btools\b", template) is not None
        self._takes_tools: dict[str, bool] = {}

    def takes_tools(self, call_marker: str) -> bool:
        """Whether the template writes a request's tools itself, asking for calls that start with ``call_marker``.

        A conversation rendered with tools must also stay the start of the same conversation with a user turn
        appended (the planner's), else the planner's prompt would not extend the answer's. Qwen2.5's template
        qualifies; Llama 3.1's asks for bare objects with ``parameters``, Mistral's for ``[TOOL_CALLS]`` and writes
        the tools before the last user turn. Found once per marker, by rendering a probe.
        """
        if call_marker not in self._takes_tools:
            self._takes_tools[call_marker] = self._reads_tools and self._probe_tools(call_marker)
        return self._takes_tools[call_marker]

    def _probe_tools(self, call_marker: str) -> bool:
        tool = {"type": "function", "function": {"name": "hag_probe", "parameters": {"type": "object"}}}
        chat: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
        try:
            alone = self._formatters[False](messages=cast(Any, chat), tools=cast(Any, [tool])).prompt
            more = chat + [{"role": "user", "content": "settings"}]
            extended = self._formatters[True](messages=cast(Any, more), tools=cast(Any, [tool])).prompt
        except Exception:  # noqa: BLE001  # a template may raise on anything it was not written for
            return False
        return "hag_probe" in alone and call_marker in alone and extended.startswith(alone)

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        """``messages`` as the template writes them (with the assistant header when ``add_generation_prompt``).

        ``tools`` are passed to the template as they are: check :meth:`takes_tools` first.
        """
        # the formatter types its messages and tools as OpenAI request TypedDicts; ours are plain dicts
        formatter = self._formatters[add_generation_prompt]
        return formatter(messages=cast(Any, messages), tools=cast(Any, tools)).prompt
