"""The decoding configuration a HAG model chooses, and the knobs it may set.

Example:
    >>> from hag_chain import DecodingConfig
    >>> cfg = DecodingConfig(temperature=0.3, top_k=10)
    >>> cfg.to_line()
    '{"temperature":0.3,"top_p":0.95,"top_k":10,"repetition_penalty":1.0}'
    >>> DecodingConfig.from_line(cfg.to_line()) == cfg
    True

"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hag_chain.errors import InvalidConfigError

__all__ = ["CORE_KNOBS", "KNOBS", "DecodingConfig", "Knob", "normalize_knob_name"]


@dataclass(frozen=True)
class Knob:
    """One decoding hyperparameter: its name here, its llama.cpp name and its type."""

    name: str
    llama_name: str
    kind: type
    description: str


# The single table of knobs: adding a knob means adding a row here and a field on DecodingConfig.
KNOBS: dict[str, Knob] = {
    k.name: k
    for k in (
        Knob("temperature", "temperature", float, "Softmax temperature; 0 means greedy decoding."),
        Knob("top_p", "top_p", float, "Nucleus sampling: keep the smallest set of tokens with this mass."),
        Knob("top_k", "top_k", int, "Keep only the k most likely tokens; 0 disables the filter."),
        Knob("repetition_penalty", "repeat_penalty", float, "Penalty on recently generated tokens; 1 is off."),
        Knob("min_p", "min_p", float, "Drop tokens below min_p times the top token's probability."),
        Knob("typical_p", "typical_p", float, "Locally typical sampling mass; 1 is off."),
        Knob("presence_penalty", "presence_penalty", float, "Penalty on tokens that already appeared."),
        Knob("frequency_penalty", "frequency_penalty", float, "Penalty growing with a token's count so far."),
    )
}
#: The four knobs of the HAG paper; the others are llama.cpp extras.
CORE_KNOBS: tuple[str, ...] = ("temperature", "top_p", "top_k", "repetition_penalty")

# Names users may know from llama.cpp, Ollama or OpenAI, mapped to ours.
_ALIASES = {"repeat_penalty": "repetition_penalty", "temp": "temperature"}


def normalize_knob_name(name: str) -> str:
    """Map a knob's llama.cpp or common alias (``repeat_penalty``, ``temp``) to its hag-chain name."""
    return _ALIASES.get(name, name)


class DecodingConfig(BaseModel):
    """A complete set of sampling settings for one generation.

    Defaults are llama.cpp's own sampling defaults, so ``DecodingConfig()`` samples exactly as a plain
    llama.cpp call would.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.8, ge=0.0, le=5.0)
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    top_k: int = Field(40, ge=0)
    """Number of most likely tokens kept; 0 disables the filter."""
    repetition_penalty: float = Field(1.0, gt=0.0, le=3.0)
    """Penalty on recently generated tokens (llama.cpp's ``repeat_penalty``); 1 is off."""
    min_p: float = Field(0.05, ge=0.0, le=1.0)
    """Relative probability floor."""
    typical_p: float = Field(1.0, gt=0.0, le=1.0)
    """Locally typical sampling mass; 1 is off."""
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    """OpenAI-style presence penalty."""
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    """OpenAI-style frequency penalty."""

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> DecodingConfig:
        """Build a configuration from a dict, raising :class:`InvalidConfigError` that names the bad field."""
        values = {normalize_knob_name(k): v for k, v in values.items()}
        try:
            return cls(**values)
        except ValidationError as e:
            err = e.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else None
            if err["type"] == "extra_forbidden":
                msg = f"Unknown decoding knob `{field}`. Known knobs: {', '.join(KNOBS)}."
            else:
                msg = f"Invalid value for `{field}`: {err['input']!r} ({err['msg']})."
            raise InvalidConfigError(msg, field=field) from e

    @classmethod
    def from_line(cls, line: str) -> DecodingConfig:
        """Parse a compact JSON line such as ``{"temperature":0.7,"top_k":40}``; missing knobs get defaults."""
        values = _load_json_object(line)
        return cls.from_values(values)

    def to_line(self, knobs: tuple[str, ...] | None = None) -> str:
        """Serialise as one compact JSON line.

        Args:
            knobs: Which knobs to write, in order. Defaults to the four core knobs plus every extra knob
                that was set explicitly.

        """
        if knobs is None:
            knobs = CORE_KNOBS + tuple(k for k in KNOBS if k not in CORE_KNOBS and k in self.model_fields_set)
        return json.dumps({k: getattr(self, k) for k in knobs}, separators=(",", ":"))

    def to_llama_kwargs(self) -> dict[str, Any]:
        """The sampling keyword arguments for llama-cpp-python's ``create_completion``."""
        return {knob.llama_name: getattr(self, name) for name, knob in KNOBS.items()}


def _load_json_object(line: str) -> dict[str, Any]:
    try:
        values = json.loads(line)
    except json.JSONDecodeError as e:
        msg = f"A decoding configuration must be a JSON object on one line; could not parse {line!r}: {e.msg}."
        raise InvalidConfigError(msg, text=line) from e
    if not isinstance(values, dict):
        msg = f"A decoding configuration must be a JSON object, got {type(values).__name__}: {line!r}."
        raise InvalidConfigError(msg, text=line)
    return values
