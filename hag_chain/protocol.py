"""The HAG protocol: how a model is asked for its decoding configuration.

Phase 1 appends one planner turn to the conversation; the model replies with a single compact JSON line
(:meth:`SearchSpace.format`). Phase 2 answers the original conversation with that configuration. Training
(``hag_training``) builds its examples with the same functions, so the prompt a model is tuned on is the prompt
the runtime sends. Prompts are versioned: a tuned model records its version in ``hag.prompt_version``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_PROMPT_VERSION", "PLANNER_PROMPTS", "planner_messages", "planner_prompt"]

PLANNER_PROMPTS: dict[str, str] = {
    # Kept short on purpose: every planner token is evaluated on each call (about 3 ms per token on a laptop
    # CPU for a 135M model). The allowed values need no listing: the planner can only emit values on the grid.
    "hag-v1": (
        "Choose decoding settings for your reply: low temperature for facts and math, high for creative writing."
    ),
}
DEFAULT_PROMPT_VERSION = "hag-v1"


def planner_prompt(version: str = DEFAULT_PROMPT_VERSION) -> str:
    """The text of the planner turn under prompt ``version``; the knobs' keys are forced, so it needs no list."""
    return PLANNER_PROMPTS[version]


def planner_messages(messages: Sequence[dict[str, Any]], version: str = DEFAULT_PROMPT_VERSION) -> list[dict[str, Any]]:
    """The conversation with the planner turn appended, ready for the chat template.

    The model's reply to these messages is the configuration line (:meth:`SearchSpace.format`).
    """
    return [*messages, {"role": "user", "content": planner_prompt(version)}]
