"""The settings of one LoRA tuning run, each checked before any model is loaded."""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from hag_chain import PLANNER_PROMPTS, TUNED_PROMPT_VERSION

__all__ = ["SFTConfig"]


def _planner_prompts() -> tuple[str, ...]:
    return tuple(PLANNER_PROMPTS)


def _adapter_outtypes() -> tuple[str, ...]:
    from hag_gguf import ADAPTER_OUTTYPES  # on first check: `import hag_training` stays light

    return tuple(ADAPTER_OUTTYPES)


def _among(names: Callable[[], Sequence[str]]) -> AfterValidator:
    """A string that is one of ``names()`` (read when checked)."""

    def check(value: str) -> str:
        if value not in names():
            raise ValueError(value)
        return value

    return AfterValidator(check)


def _setting(default: Any, help: str, accepts: str | Callable[[], str], **metadata: Any) -> Any:
    """A field with its help (the CLI's too) and, for the error message, what it accepts in words."""
    return field(default=default, metadata={"help": help, "accepts": accepts, **metadata})


PositiveInt = Annotated[int, Field(ge=1)]
PositiveNumber = Annotated[float, Field(gt=0)]


@dataclass
class SFTConfig:
    """Hyperparameters of one tuning run (all recorded in the adapter's provenance).

    Each field's type carries its constraints (checked strictly, with pydantic: ``8.0`` is not a rank); a bad
    setting raises ``ValueError`` naming it and what it accepts, when the config is built and again when
    :func:`~hag_training.sft.train_adapter` starts (a field may have been changed since).
    """

    rank: PositiveInt = _setting(8, "LoRA rank.", "an integer >= 1")
    alpha: PositiveNumber = _setting(16, "LoRA alpha (the scale is alpha / rank).", "a number > 0")
    dropout: Annotated[float, Field(ge=0, lt=1)] = _setting(0.05, "LoRA dropout.", "a number in [0, 1)")
    target_modules: Annotated[Sequence[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = _setting(
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "Modules the LoRA adapts, comma-separated on the command line.",
        "a non-empty tuple of module names",
    )
    # The frozen layers below need no backward pass, which roughly halves training time on a CPU; choosing a
    # configuration needs little more than the top layers.
    top_layers: PositiveInt | None = _setting(
        8, "Adapt only the last N transformer layers (None, in Python: all).", "None (all) or an integer >= 1"
    )
    epochs: PositiveNumber = _setting(3.0, "Training epochs.", "a number > 0")
    learning_rate: PositiveNumber = _setting(2e-3, "Learning rate.", "a number > 0", flags=("--lr",))
    batch_size: PositiveInt = _setting(8, "Per-device batch size.", "an integer >= 1")
    max_length: PositiveInt = _setting(1024, "Longer examples are skipped (and counted), in tokens.", "an integer >= 1")
    seed: Annotated[int, Field(ge=0)] = _setting(0, "Seed.", "an integer >= 0")
    mode: Literal["alora", "lora"] = _setting(
        "alora",
        "alora: an activated LoRA, on from the planner turn only, so the answer is the bare base model's (answer "
        "examples are not made); lora: a plain LoRA, on for the whole context (it also learns the base model's "
        "own answers).",
        "'alora' or 'lora'",
    )
    prompt_version: Annotated[str, _among(_planner_prompts)] = _setting(
        TUNED_PROMPT_VERSION,
        "Planner prompt and reply format tuned on, recorded in the adapter (hag-v4: one word opening the assistant's "
        "reply, answered by one code token per configuration, so the runtime planner is one llama.cpp call on one "
        "token; hag-v3: the same word and codes as a user turn of its own; hag-v2: that turn answered by the JSON "
        "line; hag-v1: the untuned model's instruction, answered by the JSON line).",
        lambda: f"one of {', '.join(_planner_prompts())}",
        choices=tuple(sorted(PLANNER_PROMPTS)),
    )
    answers: bool = _setting(
        True,
        "lora mode: train on the base model's own answers too, so that the adapter can stay on for the answer; "
        "an adapter tuned without them must be run with answer_with_adapter=False, or it answers with configuration "
        "lines. Ignored in alora mode.",
        "True or False",
    )
    ties: Literal["keep", "drop"] = _setting(
        "keep",
        "Inputs on which every tried configuration scored the same carry no preference of their own (the search "
        "labels them with the task's best configuration): keep them (the task's prior) or drop them.",
        "'keep' or 'drop'",
    )
    # f32 by default: with a rank-8 adapter on SmolLM2-135M the planner took 231 ms against 334 ms for the same
    # adapter in f16 (llama.cpp's batched LoRA products are slower on f16 weights here), for 1.3 MB more on disk
    # (measured 2026-12-01 with the JSON-line planner, prompt hag-v2).
    outtype: Annotated[str, _among(_adapter_outtypes)] = _setting(
        "f32",
        "Tensor type of the GGUF adapter (hag_gguf.ADAPTER_OUTTYPES). Export only: a rerun that changes it resumes "
        "the finished training and exports again.",
        lambda: f"one of {', '.join(_adapter_outtypes())}",
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every setting, so that a bad one fails before any model is loaded.

        Raises:
            ValueError: A setting is out of range or of the wrong type; the message names it and what it accepts.

        """
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                _checker(f.name).validate_python(value, strict=True)
            except ValidationError:
                accepts = f.metadata["accepts"]
                msg = f"SFT setting `{f.name}` must be {accepts() if callable(accepts) else accepts}; got {value!r}."
                raise ValueError(msg) from None


@cache
def _checker(name: str) -> TypeAdapter:
    """The pydantic validator of one :class:`SFTConfig` field's annotated type."""
    return TypeAdapter(typing.get_type_hints(SFTConfig, include_extras=True)[name])


#: Settings that only change how the trained adapter is written, not training: left out of the resume fingerprint.
EXPORT_ONLY = frozenset({"outtype"})
