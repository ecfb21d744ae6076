"""The ``hag.*`` keys a converted model or adapter carries, checked before anything is written.

Keys and their meaning are declared once in ``hag_chain.HAGKeys``; the values are validated with the
runtime's own reader (``HAGProfile.from_metadata``), so a file this module accepts is one ``ChatHAG`` can load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gguf import GGUFWriter

from hag_chain import HAGKeys, HAGProfile, ModelLoadError
from hag_gguf.errors import GGUFExportError

__all__ = ["HAG_KEYS", "build_hag_metadata", "load_meta_file", "parse_meta_items", "write_hag_metadata"]

HAG_KEYS: tuple[str, ...] = HAGKeys.ALL
"""Every ``hag.*`` key hag-gguf writes; all are GGUF strings."""

_JSON_KEYS = (HAGKeys.SEARCH_SPACE, HAGKeys.PROVENANCE, HAGKeys.CODE_TOKENS)


def parse_meta_items(items: Iterable[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings such as ``hag.prompt_version=hag-v1`` (the CLI's ``--meta``).

    Raises:
        GGUFExportError: An item has no ``=``.

    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            msg = f"`--meta` takes KEY=VALUE (e.g. hag.prompt_version=hag-v1); got {item!r}."
            raise GGUFExportError(msg)
        out[key.strip()] = value
    return out


def load_meta_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON object of ``hag.*`` keys (the CLI's ``--hag-metadata``); objects may stand for JSON strings.

    Raises:
        GGUFExportError: The file is missing or not a JSON object.

    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        msg = f"Could not read hag metadata from {str(path)!r}: {e}. Pass a JSON object of hag.* keys."
        raise GGUFExportError(msg) from e
    if not isinstance(data, dict):
        msg = f"{path} must hold a JSON object of hag.* keys; it holds a {type(data).__name__}."
        raise GGUFExportError(msg)
    return data


def build_hag_metadata(*sources: Mapping[str, Any] | None) -> dict[str, str]:
    """Merge ``hag.*`` metadata sources (later wins), normalise values to strings and validate them.

    ``hag.search_space`` and ``hag.provenance`` may be given as objects and ``hag.code_tokens`` as a list; they are
    stored as compact JSON.

    Raises:
        GGUFExportError: An unknown key, a non-string value, or a value the runtime would refuse.

    """
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in (source or {}).items():
            if key not in HAG_KEYS:
                msg = f"Unknown hag metadata key {key!r}; the keys are {', '.join(HAG_KEYS)}."
                raise GGUFExportError(msg)
            if isinstance(value, (dict, list)) and key in _JSON_KEYS:
                value = json.dumps(value, separators=(",", ":"), sort_keys=key == HAGKeys.PROVENANCE)
            if not isinstance(value, str) or not value:
                msg = f"`{key}` must be a non-empty string; got {value!r}."
                raise GGUFExportError(msg)
            merged[key] = value
    if HAGKeys.PROVENANCE in merged:
        try:
            json.loads(merged[HAGKeys.PROVENANCE])
        except ValueError as e:
            msg = f"`{HAGKeys.PROVENANCE}` must be a JSON object describing the training run: {e}"
            raise GGUFExportError(msg) from e
    try:
        HAGProfile.from_metadata(merged)
    except ModelLoadError as e:
        raise GGUFExportError(f"The hag metadata would not load in hag-chain: {e}") from e
    return merged


def write_hag_metadata(writer: GGUFWriter, metadata: Mapping[str, str]) -> None:
    """Write validated ``hag.*`` metadata as GGUF strings."""
    for key in HAG_KEYS:
        if key in metadata:
            writer.add_string(key, metadata[key])
