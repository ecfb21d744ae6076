"""Output types and the per-tensor choice of GGML type, including the f16 fallback for rows a block cannot fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType
from gguf.quants import quant_shape_to_byte_shape, quantize

from hag_gguf.errors import GGUFExportError

__all__ = ["ADAPTER_OUTTYPES", "OUTTYPES", "TensorPlan", "encode", "file_type", "plan_tensor"]

Q = GGMLQuantizationType

OUTTYPES: dict[str, GGMLQuantizationType] = {
    "f32": Q.F32,
    "f16": Q.F16,
    "bf16": Q.BF16,
    "q8_0": Q.Q8_0,
    "q4_0": Q.Q4_0,
    "q4_1": Q.Q4_1,
}
"""``--outtype`` values for full models, and the GGML type each gives most 2-D weights."""

ADAPTER_OUTTYPES = ("f32", "f16", "bf16", "q8_0")
"""``--outtype`` values for LoRA adapters (llama.cpp's own adapter converter offers the same)."""

_FILE_TYPES = {
    "f32": LlamaFileType.ALL_F32,
    "f16": LlamaFileType.MOSTLY_F16,
    "bf16": LlamaFileType.MOSTLY_BF16,
    "q8_0": LlamaFileType.MOSTLY_Q8_0,
    "q4_0": LlamaFileType.MOSTLY_Q4_0,
    "q4_1": LlamaFileType.MOSTLY_Q4_1,
}
_EMBEDDING_TENSORS = ("token_embd.weight", "output.weight")


@dataclass(frozen=True)
class TensorPlan:
    """How one tensor is written: its GGUF name, numpy shape, GGML type and size, and why if not the outtype."""

    name: str
    shape: tuple[int, ...]
    qtype: GGMLQuantizationType
    nbytes: int
    note: str | None = None


def file_type(outtype: str) -> LlamaFileType:
    """The ``general.file_type`` for an outtype."""
    return _FILE_TYPES[check_outtype(outtype, tuple(OUTTYPES))]


def check_outtype(outtype: str, allowed: tuple[str, ...]) -> str:
    """Return ``outtype`` if it is one of ``allowed``.

    Raises:
        GGUFExportError: It is not.

    """
    if outtype not in allowed:
        msg = f"`outtype` must be one of {', '.join(allowed)}; got {outtype!r}."
        raise GGUFExportError(msg)
    return outtype


def plan_tensor(name: str, shape: tuple[int, ...], outtype: str) -> TensorPlan:
    """Choose the GGML type of one tensor, following llama.cpp's converter.

    1-D tensors, norms and biases stay F32. For q4_0/q4_1 the token embedding and output matrices are written as
    Q8_0, as ``llama-quantize`` keeps them at higher precision. A matrix whose rows are not a whole number of
    quant blocks falls back to F16, and the plan's ``note`` says so.
    """
    target = OUTTYPES[outtype]
    note = None
    is_matrix = len(shape) >= 2 and (name.endswith(".weight") or name.endswith((".lora_a", ".lora_b")))
    if not is_matrix or name.endswith("_norm.weight"):
        target = Q.F32
    elif outtype in ("q4_0", "q4_1") and name in _EMBEDDING_TENSORS:
        target = Q.Q8_0
        note = f"{outtype} model: embedding/output matrix kept at q8_0"
    block, _ = GGML_QUANT_SIZES[target]
    if shape[-1] % block:
        note = f"row length {shape[-1]} is not a multiple of the {target.name} block ({block}): f16 fallback"
        target = Q.F16
    nbytes = int(np.prod(quant_shape_to_byte_shape(shape, target), dtype=np.int64))
    return TensorPlan(name=name, shape=tuple(shape), qtype=target, nbytes=nbytes, note=note)


def encode(data: np.ndarray, plan: TensorPlan) -> np.ndarray:
    """Convert a float32 array to the bytes (or f32/f16 array) ``plan`` asks for, with ``gguf.quants``."""
    if data.shape != plan.shape:
        msg = f"Tensor {plan.name!r} has shape {data.shape}, but {plan.shape} was planned; the checkpoint changed?"
        raise GGUFExportError(msg)
    out = quantize(np.ascontiguousarray(data, dtype=np.float32), plan.qtype)
    if out.nbytes != plan.nbytes:  # an internal invariant; a wrong size would corrupt every later tensor
        msg = f"Tensor {plan.name!r} encoded to {out.nbytes} bytes instead of {plan.nbytes}; please report this."
        raise GGUFExportError(msg)
    return out
