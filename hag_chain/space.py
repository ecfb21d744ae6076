"""The discrete grid of decoding configurations a HAG model may choose from.

The same :class:`SearchSpace` drives the runtime planner (which may only emit values on the grid, in the line
format :meth:`SearchSpace.line` defines) and the training search that labels data.

Example:
    >>> from hag_chain import SearchSpace
    >>> space = SearchSpace(values={"temperature": (0.0, 0.7), "top_k": (10, 40)})
    >>> space.size
    4
    >>> space.parse('{"temperature":0.7,"top_k":40}').temperature
    0.7

"""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from hag_chain.errors import InvalidConfigError
from hag_chain.knobs import KNOBS, DecodingConfig, load_json_object, normalize_knob_name

__all__ = ["CODE_ALPHABET", "DEFAULT_SEARCH_SPACE", "SearchSpace"]

#: The code of the grid's i-th configuration is ``CODE_ALPHABET[i]``: one character, which every byte-level or
#: SentencePiece vocabulary we know holds as a single token (the runtime and ``hag-train sft`` check it).
CODE_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits


class SearchSpace(BaseModel):
    """Allowed values for each knob a HAG model chooses; knobs not listed keep their defaults.

    Attributes:
        values: Knob name to the tuple of allowed values, in the order the model writes the knobs.

    """

    model_config = ConfigDict(frozen=True)

    values: dict[str, tuple[float, ...]]

    @field_validator("values", mode="before")
    @classmethod
    def _check_values(cls, values: dict[str, Any]) -> dict[str, tuple[float, ...]]:
        if not values:
            raise ValueError("a search space needs at least one knob with allowed values")
        checked: dict[str, tuple[float, ...]] = {}
        for raw_name, options in values.items():
            name = normalize_knob_name(raw_name)
            if name not in KNOBS:
                raise ValueError(f"unknown knob `{raw_name}`; known knobs: {', '.join(KNOBS)}")
            options = tuple(options)
            if not options:
                raise ValueError(f"knob `{name}` has no allowed values")
            if len(set(options)) != len(options):
                raise ValueError(f"knob `{name}` lists a value twice: {options}")
            kind = KNOBS[name].kind
            typed = tuple(kind(v) for v in options)
            if any(kind(t) != v for t, v in zip(typed, options)):
                raise ValueError(f"knob `{name}` takes {kind.__name__} values, got {options}")
            for v in typed:  # let DecodingConfig's own bounds reject impossible values early
                DecodingConfig.from_values({name: v})
            checked[name] = typed
        return checked

    @property
    def knobs(self) -> tuple[str, ...]:
        """The knobs the model chooses, in the order it writes them."""
        return tuple(self.values)

    @property
    def size(self) -> int:
        """Number of distinct configurations on the grid."""
        n = 1
        for options in self.values.values():
            n *= len(options)
        return n

    def __iter__(self) -> Iterator[DecodingConfig]:  # type: ignore[override]
        """Every configuration on the grid, in lexicographic order of the knobs' listed values."""
        for combo in itertools.product(*self.values.values()):
            yield DecodingConfig.model_validate(dict(zip(self.knobs, combo)))

    def value_text(self, knob: str, value: float) -> str:
        """How a value is written in a configuration line (JSON number text)."""
        return json.dumps(KNOBS[knob].kind(value))

    def format(self, config: DecodingConfig) -> str:
        """Write the space's knobs of ``config`` as the compact JSON line a HAG model emits."""
        self.validate_config(config)
        return self.line({k: getattr(config, k) for k in self.knobs})

    def line(self, values: Mapping[str, float]) -> str:
        """The configuration line as far as ``values`` goes: the planner writes it knob by knob.

        ``values`` sets the space's first knobs, in order. With every knob set this is the complete line
        (``{"temperature":0.3,"top_k":10}``); with fewer it ends after the last value's comma.
        """
        given = self.knobs[: len(values)]
        if set(values) != set(given):
            raise ValueError(f"`values` must set the space's first knobs in order ({', '.join(self.knobs)}).")
        body = ",".join(json.dumps(k) + ":" + self.value_text(k, values[k]) for k in given)
        return "{" + body + ("}" if len(given) == len(self.knobs) else ",")

    def code(self, values: Mapping[str, float]) -> str:
        """The one-character code of the configuration ``values`` (every knob of the space): prompt hag-v3's reply.

        Codes follow the grid's order (:meth:`__iter__`): ``A`` is the first configuration, ``B`` the second.

        Raises:
            ValueError: A knob is missing or off the grid, or the grid is larger than the alphabet.

        """
        index = 0
        for name, options in self.values.items():
            if name not in values or values[name] not in options:
                raise ValueError(f"`{name}` must be one of {self._allowed(name)} for a code; got {values.get(name)!r}")
            index = index * len(options) + options.index(values[name])
        return self.codes()[index]

    def from_code(self, code: str) -> dict[str, float]:
        """The configuration (knob to value) that :meth:`code` writes as ``code``."""
        codes = self.codes()
        if code not in codes:
            raise ValueError(f"{code!r} is not a configuration code of this space (codes: {''.join(codes)})")
        index, values = codes.index(code), {}
        for name, options in reversed(self.values.items()):
            index, i = divmod(index, len(options))
            values[name] = options[i]
        return {name: values[name] for name in self.knobs}

    def codes(self) -> list[str]:
        """Every configuration's code, in the grid's order.

        Raises:
            ValueError: The grid has more configurations than :data:`CODE_ALPHABET` has characters.

        """
        if self.size > len(CODE_ALPHABET):
            msg = (
                f"The search space has {self.size} configurations but one-token codes name at most "
                f"{len(CODE_ALPHABET)}; shrink the grid or tune with prompt version hag-v2 (a JSON line)."
            )
            raise ValueError(msg)
        return list(CODE_ALPHABET[: self.size])

    def parse(self, line: str) -> DecodingConfig:
        """Parse and validate a configuration line a model emitted.

        Raises:
            InvalidConfigError: The line is not a JSON object, misses a knob, sets a knob outside the space,
                or uses a value not on the grid. The message names the field and the allowed values.

        """
        values = {normalize_knob_name(k): v for k, v in load_json_object(line).items()}
        for name in values:
            if name not in self.values:
                msg = f"Knob `{name}` is not part of this search space; allowed knobs: {', '.join(self.knobs)}."
                raise InvalidConfigError(msg, field=name, text=line)
        for name in self.knobs:
            if name not in values:
                msg = f"Configuration {line!r} misses `{name}`; allowed values: {self._allowed(name)}."
                raise InvalidConfigError(msg, field=name, text=line)
        config = DecodingConfig.from_values(values)
        self.validate_config(config, text=line)
        return config

    def validate_config(self, config: DecodingConfig, *, text: str | None = None) -> None:
        """Raise :class:`InvalidConfigError` if a knob of the space has a value off the grid."""
        for name, options in self.values.items():
            value = getattr(config, name)
            if value not in options:
                msg = f"`{name}`={value!r} is not in the search space; allowed values: {self._allowed(name)}."
                raise InvalidConfigError(msg, field=name, text=text)

    def to_json(self) -> str:
        """Serialise for storage, e.g. in a GGUF's ``hag.search_space`` key."""
        return json.dumps({"values": {k: list(v) for k, v in self.values.items()}}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        """Inverse of :meth:`to_json`."""
        return cls.model_validate(json.loads(text))

    def _allowed(self, name: str) -> str:
        return ", ".join(self.value_text(name, v) for v in self.values[name])


#: The grid the runtime uses for a model that carries none, and the training search's default: 4 x 2 x 2 x 2 = 32
#: configurations, 26 arms once greedy twins are merged (the search races them by successive halving; see
#: training/README.md), each named by one code character for prompt hag-v3.
DEFAULT_SEARCH_SPACE = SearchSpace(
    values={
        "temperature": (0.0, 0.3, 0.7, 1.0),
        "top_p": (0.9, 1.0),
        "top_k": (10, 50),
        "repetition_penalty": (1.0, 1.15),
    }
)
