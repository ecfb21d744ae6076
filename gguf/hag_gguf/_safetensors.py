"""The tensors of a ``.safetensors`` checkpoint, sharded or not, read lazily as float32 arrays, bfloat16 included.

Headers and tensor offsets come from gguf-py's ``SafetensorsLocal``, the reader llama.cpp's own converter uses;
``safetensors.safe_open(framework="numpy")`` cannot return bfloat16 (numpy has no such dtype), and most checkpoints
are stored in it, so bfloat16 is widened with ``gguf.quants.dequantize``. Nothing is read until a tensor is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize
from gguf.utility import LocalTensor, SafetensorsLocal

from hag_gguf.errors import GGUFExportError

__all__ = ["SafetensorsIndex"]

_NUMPY_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_READABLE = {*_NUMPY_DTYPES, "BF16"}


class SafetensorsIndex:
    """All tensors of one or more ``.safetensors`` files, addressed by name and read lazily."""

    def __init__(self, files: list[Path]):
        self._tensors: dict[str, LocalTensor] = {}
        for file in files:
            try:
                tensors = SafetensorsLocal(file).tensors
            except ValueError as e:
                msg = f"{file} is not a readable safetensors file ({e}). Save or download it again."
                raise GGUFExportError(msg) from e
            for name, tensor in tensors.items():
                if tensor.dtype not in _READABLE:
                    msg = f"Tensor {name!r} in {file} has dtype {tensor.dtype}, which hag-gguf cannot read."
                    raise GGUFExportError(msg)
            self._tensors.update(tensors)

    @classmethod
    def from_dir(cls, directory: Path, stem: str = "model") -> SafetensorsIndex:
        """Index ``<stem>.safetensors`` or the shards ``<stem>-*-of-*.safetensors`` of a directory.

        Raises:
            GGUFExportError: No safetensors file is there.

        """
        files = sorted(directory.glob(f"{stem}*.safetensors"))
        if not files:
            msg = (
                f"No `{stem}*.safetensors` in {directory}. Save the checkpoint with "
                "`save_pretrained(..., safe_serialization=True)` (PyTorch `.bin` files are not read)."
            )
            raise GGUFExportError(msg)
        return cls(files)

    def __contains__(self, name: object) -> bool:
        return name in self._tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a tensor, without reading it."""
        return self._tensors[name].shape

    def read(self, name: str) -> np.ndarray:
        """Read one tensor as a float32 array (a fresh copy, not a view of the file).

        Raises:
            GGUFExportError: The file is shorter than its header says.

        """
        tensor = self._tensors[name]
        where = tensor.data_range
        if where.offset + where.size > where.filename.stat().st_size:
            msg = (
                f"{where.filename} is truncated: tensor {name!r} ends past the end of the file. "
                "Save or download it again."
            )
            raise GGUFExportError(msg)
        # Read into memory, not through `tensor.mmap_bytes()`: the mapped pages would stay resident beside the copy.
        raw = np.fromfile(where.filename, dtype=np.uint8, count=where.size, offset=where.offset)
        if tensor.dtype == "BF16":
            values = dequantize(raw, GGMLQuantizationType.BF16)
        else:
            values = raw.view(_NUMPY_DTYPES[tensor.dtype]).astype(np.float32, copy=False)
        return values.reshape(tensor.shape)
