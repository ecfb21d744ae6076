"""The HAG protocol: how a model is asked for its decoding configuration.

Phase 1 appends the planner prompt to the conversation (a user turn, or, from hag-v4, the first word of the
assistant's reply); the model replies with its configuration, in the reply format of the prompt version
(:class:`PlannerPrompt`): a compact JSON line (:meth:`SearchSpace.line`) or a single
code token naming a configuration of the grid (:meth:`SearchSpace.code`). Phase 2 answers the original
conversation with that configuration. Training (``hag_training``) builds its examples with the same functions
(:func:`planner_reply`), so what a model is tuned on is what the runtime sends and reads. Prompts are versioned:
a tuned model records its version in ``hag.prompt_version``.

For an activated LoRA (aLoRA) the planner prompt, as it is rendered after any conversation
(:func:`invocation_text`), is also the adapter's *invocation*: the adapter is active from its first token on, so
everything before it is the base model's own computation, shared by the planner and the answer.

A tuned model or adapter describes itself in ``hag.*`` GGUF metadata, every key declared once in :class:`HAGKeys`:
``hag_gguf`` writes them, and :class:`HAGProfile` is what the runtime reads back (search space, prompt version).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hag_chain.errors import InvalidConfigError, ModelLoadError
from hag_chain.space import DEFAULT_SEARCH_SPACE, SearchSpace

__all__ = [
    "DEFAULT_PROMPT_VERSION",
    "HAGKeys",
    "HAGProfile",
    "PLANNER_PROMPTS",
    "TUNED_PROMPT_VERSION",
    "PlannerPrompt",
    "invocation_text",
    "planner_messages",
    "planner_prompt",
    "planner_reply",
    "planner_suffix",
]


@dataclass(frozen=True)
class PlannerPrompt:
    """One prompt version: the planner turn's text and the format of the model's reply to it."""

    text: str
    reply: Literal["line", "code"] = "line"
    """``"line"``: the JSON configuration line, knob by knob (one llama.cpp call per decision where the
    allowed values diverge). ``"code"``: one token naming a configuration of the grid (:meth:`SearchSpace.code`),
    so the whole choice is one llama.cpp call: the model's highest logit among the grid's codes."""
    opens_reply: bool = False
    """``False``: the text is a user turn appended to the conversation, rendered by the chat template. ``True``: the
    text opens the assistant's reply, after the chat template's generation prompt, so the planner's prompt is the
    answer's own prompt plus the text's tokens: an activated LoRA then shares every prompt token with the answer
    and the planner evaluates only the text (one token for ``"settings"``)."""


PLANNER_PROMPTS: dict[str, PlannerPrompt] = {
    # Kept short on purpose: every planner token is evaluated on each call. The allowed values need no listing:
    # the planner can only emit values on the grid.
    "hag-v1": PlannerPrompt(
        "Choose decoding settings for your reply: low temperature for facts and math, high for creative writing."
    ),
    # For tuned models: the model learned what the turn asks, so the turn only has to mark where the planner
    # starts (and where an aLoRA adapter switches on). One word keeps the turn at a few tokens.
    "hag-v2": PlannerPrompt("settings"),
    # hag-v2's turn, answered by one code token: what a tuned model has to say fits in one position, so the
    # planner costs one batch of the turn's few tokens (bench/runtime.py) instead of one call per knob decision.
    "hag-v3": PlannerPrompt("settings", reply="code"),
    # hag-v3's word and code, but opening the assistant's reply instead of a user turn of its own. The chat
    # template's turn markers around hag-v3's word were 8 of its 9 invocation tokens, each evaluated on every call
    # (Qwen2.5-Coder-0.5B, bench/runtime.py: 97.7 ms). One adapted position instead of nine chose worse, so it is
    # not the default: on SmolLM2 for unseen phrasings (-0.027 [-0.050, -0.007], paired), on Qwen2.5-Coder-0.5B
    # tuned for five epochs on the whole stream (-0.019 [-0.031, -0.008]; docs/evaluation.md, "A one-token planner").
    "hag-v4": PlannerPrompt("settings", reply="code", opens_reply=True),
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
    """The conversation the planner is asked with, ready for the chat template (then :func:`planner_suffix`).

    With the planner turn appended, unless ``version`` opens the assistant's reply instead: then it is the
    conversation as the answer gets it. The model's reply to these messages, rendered with the generation prompt and
    followed by :func:`planner_suffix`, is its configuration in ``version``'s format (:func:`planner_reply`).
    """
    if PLANNER_PROMPTS[version].opens_reply:
        return list(messages)
    return [*messages, {"role": "user", "content": planner_prompt(version)}]


def planner_suffix(version: str = DEFAULT_PROMPT_VERSION) -> str:
    """What follows the rendered :func:`planner_messages`: the planner text where it opens the reply, else nothing.

    Tokenised on its own (without special tokens) and appended to the prompt's tokens, by the runtime and by
    training alike, so no tokenizer can merge it with the generation prompt's last token.
    """
    prompt = PLANNER_PROMPTS[version]
    return prompt.text if prompt.opens_reply else ""


def invocation_text(render: Render, version: str = DEFAULT_PROMPT_VERSION) -> str:
    r"""The planner prompt as it follows a conversation, up to where the model's reply begins.

    It is what the planner prompt adds to the conversation as the answer is asked it, and an aLoRA adapter's
    invocation: for a version that opens the reply, its text (``"settings"``); for a user turn, the turn as
    ``render`` writes it (for ChatML: ``"<|im_start|>user\nsettings<|im_end|>\n<|im_start|>assistant\n"``).

    Raises:
        ValueError: The template does not render the conversation as a prefix of the planner prompt (it changes
            earlier turns when one is added), so no invocation can mark where the planner turn starts.

    """
    if PLANNER_PROMPTS[version].opens_reply:
        return planner_suffix(version)
    before = render(_PROBE, False)
    after = render(planner_messages(_PROBE, version), True)
    if not after.startswith(before):
        msg = (
            "The chat template renders a conversation differently once the planner turn is appended, so the "
            "planner turn cannot serve as an activated LoRA's invocation; train a plain LoRA (`--mode lora`)."
        )
        raise ValueError(msg)
    return after[len(before) :]


class HAGKeys:
    """Names of the ``hag.*`` metadata keys (all string values)."""

    PROMPT_VERSION = "hag.prompt_version"
    """Planner prompt version the model was tuned with, a key of ``hag_chain.protocol.PLANNER_PROMPTS``."""
    SEARCH_SPACE = "hag.search_space"
    """The tuned search space, as ``SearchSpace.to_json()``."""
    BASE_MODEL = "hag.base_model"
    """``general.name`` of the base model a LoRA adapter was trained on."""
    PROVENANCE = "hag.provenance"
    """JSON object describing the training run (data, seed, versions)."""
    CODE_TOKENS = "hag.code_tokens"
    """JSON list: the token id of each configuration code a code-reply model was tuned on, in the grid's order."""
    ALL: tuple[str, ...] = (PROMPT_VERSION, SEARCH_SPACE, BASE_MODEL, PROVENANCE, CODE_TOKENS)
    """Every key above, in the order they are written."""


@dataclass(frozen=True)
class HAGProfile:
    """What the runtime needs to know about a HAG model: its search space and planner prompt version."""

    search_space: SearchSpace
    prompt_version: str
    base_model: str | None = None
    tuned: bool = False
    code_tokens: tuple[int, ...] | None = None
    """The code token ids the model was tuned on (prompt versions that answer with codes)."""

    @classmethod
    def from_metadata(cls, *sources: Mapping[str, str]) -> HAGProfile:
        """Resolve the profile from GGUF metadata dicts; later sources (e.g. the adapter) override earlier ones.

        Raises:
            ModelLoadError: A ``hag.*`` value is present but unusable.

        """
        merged: dict[str, str] = {}
        for source in sources:
            merged.update({k: v for k, v in source.items() if k.startswith("hag.")})
        space = DEFAULT_SEARCH_SPACE
        if HAGKeys.SEARCH_SPACE in merged:
            try:
                space = SearchSpace.from_json(merged[HAGKeys.SEARCH_SPACE])
            except (ValueError, InvalidConfigError) as e:
                msg = f"The model's `{HAGKeys.SEARCH_SPACE}` metadata is not a valid search space: {e}"
                raise ModelLoadError(msg) from e
        version = merged.get(HAGKeys.PROMPT_VERSION, DEFAULT_PROMPT_VERSION)
        if version not in PLANNER_PROMPTS:
            msg = (
                f"The model was tuned with planner prompt {version!r}, which this hag-chain does not know "
                f"(known: {', '.join(PLANNER_PROMPTS)}). Upgrade hag-chain."
            )
            raise ModelLoadError(msg)
        if PLANNER_PROMPTS[version].reply == "code":
            try:
                space.codes()
            except ValueError as e:
                raise ModelLoadError(f"The model's search space cannot be answered with codes ({version}): {e}") from e
        codes = None
        if HAGKeys.CODE_TOKENS in merged:
            try:
                codes = tuple(int(t) for t in json.loads(merged[HAGKeys.CODE_TOKENS]))
            except (ValueError, TypeError) as e:
                msg = f"The model's `{HAGKeys.CODE_TOKENS}` metadata is not a JSON list of token ids: {e}"
                raise ModelLoadError(msg) from e
        return cls(
            search_space=space,
            prompt_version=version,
            base_model=merged.get(HAGKeys.BASE_MODEL),
            tuned=bool(merged),
            code_tokens=codes,
        )
