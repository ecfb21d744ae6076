"""The ``hag.*`` GGUF metadata keys through which a tuned model or adapter describes itself.

Every key is declared once, in :class:`HAGKeys`; ``hag_gguf`` writes them and the runtime reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hag_chain.errors import InvalidConfigError, ModelLoadError
from hag_chain.protocol import DEFAULT_PROMPT_VERSION, PLANNER_PROMPTS
from hag_chain.space import DEFAULT_SEARCH_SPACE, SearchSpace

__all__ = ["HAGKeys", "HAGProfile", "read_gguf_metadata"]


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


def read_gguf_metadata(path: str) -> dict[str, Any]:
    """Read a GGUF file's scalar and string metadata with the ``gguf`` library (arrays are skipped)."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as e:
        raise ModelLoadError(f"Could not read GGUF metadata from {path!r}: {e}") from e
    out: dict[str, Any] = {}
    for name, fld in reader.fields.items():
        if fld.types and fld.types[0] != gguf.GGUFValueType.ARRAY:
            out[name] = fld.contents()
    return out
