"""Summarise a GGUF file (model or adapter): architecture, type, ``hag.*`` keys and tensors."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from gguf import GGUFReader, GGUFValueType, Keys, LlamaFileType

from hag_gguf.errors import GGUFExportError
from hag_gguf.hag_metadata import HAG_KEYS

__all__ = ["format_inspection", "inspect_gguf"]

_SHOWN_KEYS = (
    "general.name",
    "general.file_type",
    "adapter.type",
    "adapter.lora.alpha",
    "adapter.alora.invocation_tokens",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
)


def inspect_gguf(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a GGUF file's header into a JSON-ready dict.

    The dict has ``path``, ``architecture``, ``type``, ``hag`` (the ``hag.*`` strings), ``metadata`` (every
    scalar key; arrays are given as ``"<array of N>"``), ``tensor_count``, ``tensor_types`` (type → count),
    ``tensor_bytes`` and ``tensors`` (name, type, numpy-order shape, bytes).

    Raises:
        GGUFExportError: The file is missing or not a GGUF.

    """
    try:
        reader = GGUFReader(path)
    except (OSError, ValueError) as e:
        msg = f"Could not read {str(path)!r} as GGUF: {e}. Is it a .gguf file?"
        raise GGUFExportError(msg) from e
    metadata: dict[str, Any] = {}
    for key, fld in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if key == Keys.Adapter.ALORA_INVOCATION_TOKENS:
            metadata[key] = [int(t) for t in fld.contents()]  # short, and what a user checks an aLoRA by
        elif fld.types and fld.types[0] == GGUFValueType.ARRAY:
            metadata[key] = f"<array of {len(fld.data)}>"
        else:
            metadata[key] = fld.contents()
    tensors = [
        {
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in reversed(t.shape.tolist())],
            "bytes": int(t.n_bytes),
        }
        for t in reader.tensors
    ]
    return {
        "path": str(path),
        "architecture": metadata.get("general.architecture"),
        "type": metadata.get("general.type", "model"),
        "hag": {k: metadata[k] for k in HAG_KEYS if k in metadata},
        "metadata": metadata,
        "tensor_count": len(tensors),
        "tensor_types": dict(Counter(t["type"] for t in tensors)),
        "tensor_bytes": sum(t["bytes"] for t in tensors),
        "tensors": tensors,
    }


def format_inspection(info: dict[str, Any], *, tensors: bool = False) -> str:
    """Render :func:`inspect_gguf`'s dict as text; ``tensors=True`` lists every tensor."""
    lines = [
        f"{info['path']}",
        f"  architecture: {info['architecture']}",
        f"  type: {info['type']}",
    ]
    for key in _SHOWN_KEYS:
        if key in info["metadata"]:
            value = info["metadata"][key]
            if key == "general.file_type" and value in LlamaFileType._value2member_map_:
                value = f"{value} ({LlamaFileType(value).name})"
            lines.append(f"  {key}: {value}")
    types = ", ".join(f"{n} {t}" for t, n in sorted(info["tensor_types"].items()))
    lines.append(f"  tensors: {info['tensor_count']} ({types}), {info['tensor_bytes'] / 1e6:.1f} MB")
    if info["hag"]:
        lines.append("  hag metadata:")
        lines += [f"    {k}: {v}" for k, v in info["hag"].items()]
    else:
        lines.append("  hag metadata: none")
    if tensors:
        lines.append("  tensor list:")
        lines += [f"    {t['name']:<32} {t['type']:<6} {t['shape']} {t['bytes']} B" for t in info["tensors"]]
    return "\n".join(lines)
