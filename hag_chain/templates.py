"""Chat templates for GGUF files that carry none (``tokenizer.chat_template``): base models, bare conversions.

The runtime renders with the file's own template when it has one. Without one it needs a template the model's
vocabulary was made for: Gemma models get Gemma's turn format (their tokenizer has ``<start_of_turn>`` and
``<end_of_turn>`` tokens and none of ChatML's), every other architecture ChatML. ``hag_gguf`` writes the same
template into a transformers tokenizer it rebuilds from such a GGUF, so training renders prompts as the runtime does.
"""

from __future__ import annotations

__all__ = ["CHATML_TEMPLATE", "GEMMA_TEMPLATE", "fallback_chat_template"]

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
