"""The HAG protocol: how a model is asked for its decoding configuration.

Phase 1 appends one planner turn to the conversation; the model replies with its configuration, in the reply
format of the prompt version (:class:`PlannerPrompt`): a compact JSON line (:meth:`SearchSpace.line`) or a single
code token naming a configuration of the grid (:meth:`SearchSpace.code`). Phase 2 answers the original
conversation with that configuration. Training (``hag_training``) builds its examples with the same functions
(:func:`planner_reply`), so what a model is tuned on is what the runtime sends and reads. Prompts are versioned:
a tuned model records its version in ``hag.prompt_version``.

For an activated LoRA (aLoRA) the planner turn, as the chat template renders it after any conversation
(:func:`invocation_text`), is also the adapter's *invocation*: the adapter is active from its first token on, so
everything before it is the base model's own computation, shared by the planner and the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hag_chain.space import SearchSpace

__all__ = [
    "DEFAULT_PROMPT_VERSION",
    "PLANNER_PROMPTS",
    "TUNED_PROMPT_VERSION",
    "PlannerPrompt",
    "invocation_text",
    "planner_messages",
    "planner_prompt",
    "planner_reply",
]


@dataclass(frozen=True)
class PlannerPrompt:
    """One prompt version: the planner turn's text and the format of the model's reply to it."""

    text: str
    reply: Literal["line", "code"] = "line"
    """``"line"``: the JSON configuration line, knob by knob (one llama.cpp call per decision where the
    allowed values diverge). ``"code"``: one token naming a configuration of the grid (:meth:`SearchSpace.code`),
    so the whole choice is one llama.cpp call: the model's highest logit among the grid's codes."""


PLANNER_PROMPTS: dict[str, PlannerPrompt] = {
    # Kept short on purpose: every planner token is evaluated on each call (about 3 ms per token on a laptop
    # CPU for a 135M model). The allowed values need no listing: the planner can only emit values on the grid.
    "hag-v1": PlannerPrompt(
        "Choose decoding settings for your reply: low temperature for facts and math, high for creative writing."
    ),
    # For tuned models: the model learned what the turn asks, so the turn only has to mark where the planner
    # starts (and where an aLoRA adapter switches on). One word keeps the turn at a few tokens.
    "hag-v2": PlannerPrompt("settings"),
    # hag-v2's turn, answered by one code token: what a tuned model has to say fits in one position, so the
    # planner costs one batch of the turn's few tokens (bench/runtime.py) instead of one call per knob decision.
    "hag-v3": PlannerPrompt("settings", reply="code"),
}
#: The version an untuned model is asked with: its instruction text is the only guidance such a model has.
DEFAULT_PROMPT_VERSION = "hag-v1"
#: The version ``hag-train sft`` tunes with by default.
TUNED_PROMPT_VERSION = "hag-v3"

#: ``render(messages, add_generation_prompt) -> text``: a chat template, as the runtime or a tokenizer applies it.
Render = Callable[[list[dict[str, Any]], bool], str]

_PROBE = [{"role": "user", "content": "Hello."}]


def planner_prompt(version: str = DEFAULT_PROMPT_VERSION) -> str:
    """The text of the planner turn under prompt ``version``; the knobs' keys are forced, so it needs no list."""
    return PLANNER_PROMPTS[version].text


def planner_reply(space: SearchSpace, values: Mapping[str, float], version: str = DEFAULT_PROMPT_VERSION) -> str:
    """The reply a model tuned on prompt ``version`` gives for the configuration ``values`` of ``space``.

    Raises:
        ValueError: ``version`` answers with a code and ``space`` has more configurations than there are codes.

    """
    return space.code(values) if PLANNER_PROMPTS[version].reply == "code" else space.line(values)


def planner_messages(messages: Sequence[dict[str, Any]], version: str = DEFAULT_PROMPT_VERSION) -> list[dict[str, Any]]:
    """The conversation with the planner turn appended, ready for the chat template.

    The model's reply to these messages is its configuration, in ``version``'s format (:func:`planner_reply`).
    """
    return [*messages, {"role": "user", "content": planner_prompt(version)}]


def invocation_text(render: Render, version: str = DEFAULT_PROMPT_VERSION) -> str:
    r"""The planner turn as ``render`` writes it after a conversation, up to where the model's reply begins.

    It is what the planner prompt adds to the rendered conversation (for ChatML:
    ``"<|im_start|>user\nsettings<|im_end|>\n<|im_start|>assistant\n"``), and an aLoRA adapter's invocation.

    Raises:
        ValueError: The template does not render the conversation as a prefix of the planner prompt (it changes
            earlier turns when one is added), so no invocation can mark where the planner turn starts.

    """
    before = render(_PROBE, False)
    after = render(planner_messages(_PROBE, version), True)
    if not after.startswith(before):
        msg = (
            "The chat template renders a conversation differently once the planner turn is appended, so the "
            "planner turn cannot serve as an activated LoRA's invocation; train a plain LoRA (`--mode lora`)."
        )
        raise ValueError(msg)
    return after[len(before) :]
