"""The decoding knobs a HAG model may set, and the configuration that holds one value of each.

A knob is one field of :class:`DecodingConfig`: its type, default and bounds (which also make the ``ChatHAG``
pin), and in :class:`KnobTraits` its names in llama.cpp, Ollama and the OpenAI API (which make the engines' and the
self-tuning targets' parameter maps), whether greedy decoding ignores it (the generation cache key) and its default
under a grammar (the precedence rules). :data:`KNOBS` is read off the fields. Adding a knob means adding a
field, nothing else; the type checker sees every one (``cfg.temprature`` fails mypy).

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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, cast

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from hag_chain.errors import InvalidConfigError

__all__ = [
    "CORE_KNOBS",
    "KNOBS",
    "DecodingConfig",
    "Knob",
    "KnobTraits",
    "normalize_knob_name",
    "split_knob_kwargs",
]


@dataclass(frozen=True)
class KnobTraits:
    """What a knob's field does not say: its names elsewhere, how it behaves under greedy decoding and grammars.

    Attached to a :class:`DecodingConfig` field with ``Annotated``.

    Attributes:
        llama_name: llama-cpp-python's (and llama-server's) parameter name.
        ollama_name: langchain-ollama's ``ChatOllama`` field for it, ``None`` when that class has none.
        openai_name: The OpenAI chat-completions parameter, ``None`` when the API has none.
        greedy_irrelevant: At temperature 0 the knob cannot change the output (llama.cpp's greedy sampler runs
            after the penalties only), so greedy generations that differ only in it are the same generation.
        grammar_default: The knob's value under a structured-output grammar when nobody chose one
            (no call argument, pin or planner choice): it takes the place of ``ChatHAG.defaults``, which are for
            free text; ``None`` keeps those. A planner's choice stands, so one tuned on requests generated under
            the grammar decides. Measured on SmolLM2-135M under a grammar (December 2026, ``hag-train room`` on
            ``structured_output``/``structured_writing`` and LangChain's standard-test schemas): repetition_penalty
            1.15 halves extraction scores (0.66 to 0.30 greedy), leaving strings unclosed or filled with brackets,
            so its grammar default is off (1.0); greedy decoding with no penalty loops inside open strings and
            lists (``"A cat is a cat, a cat is a cat, ..."`` until ``max_tokens``), which frequency_penalty 0.5
            ends (open fields 0.29 to 0.38, extraction 0.705 to 0.701, greedy, 24 inputs each); presence_penalty 0.5
            alone does not. Forced tool calls keep ``ChatHAG.defaults``: frequency 0.5 (and 0.2, 0.3) kept the
            closing quote of LangChain's unicode customer's description from coming, where 0.1 or none closed it
            (the Joke needs 0.5): no one value serves both, so only structured output takes these. Its cost: a value
            made of tokens the object already holds may come out empty (an email after the names it is made of).
        aliases: Other names users may know the knob by (``temp``, ``repeat_penalty``).
        gguf_sampling: Its key under ``general.sampling.`` in a GGUF, where a model's authors record their
            recommended value (llama.cpp reads these as its own defaults); ``None`` when llama.cpp defines none.

    """

    llama_name: str
    ollama_name: str | None = None
    openai_name: str | None = None
    greedy_irrelevant: bool = False
    grammar_default: float | None = None
    aliases: tuple[str, ...] = ()
    gguf_sampling: str | None = None


@dataclass(frozen=True, kw_only=True)
class Knob(KnobTraits):
    """One decoding hyperparameter, read off its :class:`DecodingConfig` field.

    Everything the runtime, the engines and the targets need to know of it.

    Attributes:
        name: The hag-chain name (a :class:`DecodingConfig` field and a ``ChatHAG`` pin).
        kind: ``float`` or ``int``.
        default: llama.cpp's own default, so that ``DecodingConfig()`` samples as a plain llama.cpp call does.
        bounds: The field's constraints on the value (``ge``, ``gt``, ``le``, ``lt``).
        description: One line for docs, the pin field's description and ``--help``.

    """

    name: str
    kind: type
    default: float
    bounds: Mapping[str, float]
    description: str

    @property
    def server_names(self) -> tuple[str, ...]:
        """Names an OpenAI-compatible server may read the knob under: ours (vLLM's) and llama-server's."""
        return tuple(dict.fromkeys((self.name, self.llama_name)))


class DecodingConfig(BaseModel):
    """A complete set of sampling settings for one generation.

    Each field is one knob, declared once, here: its type, llama.cpp's default (so that ``DecodingConfig()``
    samples exactly as a plain llama.cpp call would), its bounds and description, and its :class:`KnobTraits`.
    :data:`KNOBS` is read off these fields; the ``ChatHAG`` pins, the engines' and the self-tuning targets'
    parameter maps, the generation cache key and the precedence rules all come from it. Adding a knob means adding
    a field here, nothing else.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: Annotated[
        float, KnobTraits("temperature", "temperature", "temperature", aliases=("temp",), gguf_sampling="temp")
    ] = Field(default=0.8, ge=0.0, le=5.0, description="Softmax temperature; 0 means greedy decoding.")
    top_p: Annotated[float, KnobTraits("top_p", "top_p", "top_p", greedy_irrelevant=True, gguf_sampling="top_p")] = (
        Field(
            default=0.95,
            gt=0.0,
            le=1.0,
            description="Nucleus sampling: keep the smallest set of tokens with this probability mass.",
        )
    )
    top_k: Annotated[int, KnobTraits("top_k", "top_k", greedy_irrelevant=True, gguf_sampling="top_k")] = Field(
        default=40, ge=0, description="Keep only the k most likely tokens; 0 disables the filter."
    )
    repetition_penalty: Annotated[
        float,
        KnobTraits(
            "repeat_penalty",
            "repeat_penalty",
            grammar_default=1.0,
            aliases=("repeat_penalty",),
            gguf_sampling="penalty_repeat",
        ),
    ] = Field(
        default=1.0,
        gt=0.0,
        le=3.0,
        description="Penalty on recently generated tokens (llama.cpp's `repeat_penalty`); 1 is off.",
    )
    min_p: Annotated[float, KnobTraits("min_p", greedy_irrelevant=True, gguf_sampling="min_p")] = Field(
        default=0.05, ge=0.0, le=1.0, description="Drop tokens below min_p times the most likely token's probability."
    )
    typical_p: Annotated[float, KnobTraits("typical_p", greedy_irrelevant=True)] = Field(
        default=1.0, gt=0.0, le=1.0, description="Locally typical sampling mass; 1 is off."
    )
    presence_penalty: Annotated[
        float, KnobTraits("presence_penalty", openai_name="presence_penalty", grammar_default=0.0)
    ] = Field(
        default=0.0, ge=-2.0, le=2.0, description="OpenAI-style penalty on tokens that already appeared; 0 is off."
    )
    frequency_penalty: Annotated[
        float, KnobTraits("frequency_penalty", openai_name="frequency_penalty", grammar_default=0.5)
    ] = Field(
        default=0.0, ge=-2.0, le=2.0, description="OpenAI-style penalty growing with a token's count so far; 0 is off."
    )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> DecodingConfig:
        """Build a configuration from a dict, raising :class:`InvalidConfigError` that names the bad field."""
        values = {normalize_knob_name(k): v for k, v in values.items()}
        try:
            return cls(**values)
        except ValidationError as e:
            err = e.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else None
            if err["type"] == "extra_forbidden":
                msg = f"Unknown decoding knob `{name}`. Known knobs: {', '.join(KNOBS)}."
            else:
                msg = f"Invalid value for `{name}`: {err['input']!r} ({err['msg']})."
            raise InvalidConfigError(msg, field=name) from e

    @classmethod
    def recommended(cls, metadata: Mapping[str, Any]) -> dict[str, float]:
        """The sampling a model's GGUF recommends (its ``general.sampling.*`` keys), by knob name.

        A value that is not a number, or that is outside the knob's bounds (llama.cpp reads ``top_k`` -1 as "off"), is
        left out with a warning: the model stays usable, and the knob keeps its default.

        Args:
            metadata: The GGUF's metadata, values as they come (llama-cpp-python gives strings).

        """
        values: dict[str, float] = {}
        for knob in KNOBS.values():
            key = f"general.sampling.{knob.gguf_sampling}"
            if knob.gguf_sampling is None or key not in metadata:
                continue
            try:
                value = knob.kind(float(metadata[key]))
                cls.from_values({knob.name: value})
            except (TypeError, ValueError) as e:
                warnings.warn(f"The model's {key} ({metadata[key]!r}) is not a valid {knob.name}: {e}", stacklevel=2)
                continue
            values[knob.name] = value
        return values

    @classmethod
    def from_line(cls, line: str) -> DecodingConfig:
        """Parse a compact JSON line such as ``{"temperature":0.7,"top_k":40}``; missing knobs get defaults."""
        return cls.from_values(load_json_object(line))

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

    def non_default(self) -> dict[str, Any]:
        """The knobs whose value differs from the knob's default: the configuration's canonical content.

        A knob added later has its default in every existing configuration, so this stays the same for them (the
        generation cache keys on it).
        """
        return {k: getattr(self, k) for k, knob in KNOBS.items() if getattr(self, k) != knob.default}


_BOUND_TYPES = {annotated_types.Ge: "ge", annotated_types.Gt: "gt", annotated_types.Le: "le", annotated_types.Lt: "lt"}


def _knob(name: str, info: FieldInfo) -> Knob:
    """The :class:`Knob` a :class:`DecodingConfig` field declares."""
    traits = next(m for m in info.metadata if isinstance(m, KnobTraits))
    bounds = {
        _BOUND_TYPES[type(m)]: getattr(m, _BOUND_TYPES[type(m)]) for m in info.metadata if type(m) in _BOUND_TYPES
    }
    if info.annotation not in (int, float) or not info.description:
        raise TypeError(f"Knob `{name}` must be an int or float field with a description.")
    return Knob(
        **{f.name: getattr(traits, f.name) for f in fields(KnobTraits)},
        name=name,
        kind=cast(type, info.annotation),
        default=info.default,
        bounds=bounds,
        description=info.description,
    )


#: Every knob, in :class:`DecodingConfig`'s field order, read off its fields.
KNOBS: dict[str, Knob] = {name: _knob(name, info) for name, info in DecodingConfig.model_fields.items()}
#: The four knobs of the HAG paper; the others are llama.cpp extras.
CORE_KNOBS: tuple[str, ...] = ("temperature", "top_p", "top_k", "repetition_penalty")

_ALIASES = {alias: knob.name for knob in KNOBS.values() for alias in knob.aliases}


def normalize_knob_name(name: str) -> str:
    """Map a knob's llama.cpp or common alias (``repeat_penalty``, ``temp``) to its hag-chain name."""
    return _ALIASES.get(name, name)


def split_knob_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split call arguments into decoding knobs (by hag-chain name, ``None`` values dropped) and the rest.

    ``ChatHAG`` and ``SelfTuning`` both take knobs as call arguments; this is where they are told apart.
    """
    knobs: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in kwargs.items():
        name = normalize_knob_name(key)
        if name in KNOBS:
            if value is not None:
                knobs[name] = value
        else:
            rest[key] = value
    return knobs, rest


def load_json_object(line: str) -> dict[str, Any]:
    """Parse one JSON object, raising :class:`InvalidConfigError` that quotes the text otherwise."""
    try:
        values = json.loads(line)
    except json.JSONDecodeError as e:
        msg = f"A decoding configuration must be a JSON object on one line; could not parse {line!r}: {e.msg}."
        raise InvalidConfigError(msg, text=line) from e
    if not isinstance(values, dict):
        msg = f"A decoding configuration must be a JSON object, got {type(values).__name__}: {line!r}."
        raise InvalidConfigError(msg, text=line)
    return values
