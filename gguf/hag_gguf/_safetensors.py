"""A lazy, numpy-only reader for ``.safetensors`` files, bfloat16 included.

``safetensors.safe_open(framework="numpy")`` cannot return bfloat16 (numpy has no such dtype), and most checkpoints
are stored in it. The format is an 8-byte header length, a JSON header and raw little-endian data, so each tensor is
read on demand and converted to float32 one at a time; nothing is read until asked for.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hag_gguf.errors import GGUFExportError

__all__ = ["SafetensorsIndex"]

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # reinterpreted as the upper half of a float32 on read
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


class SafetensorsIndex:
    """All tensors of one or more ``.safetensors`` files, addressed by name and read lazily."""

    def __init__(self, files: list[Path]):
        self._where: dict[str, tuple[Path, str, list[int], int, int]] = {}
        for file in files:
            with open(file, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                if info["dtype"] not in _DTYPES:
                    msg = f"Tensor {name!r} in {file} has dtype {info['dtype']}, which hag-gguf cannot read."
                    raise GGUFExportError(msg)
                begin, end = info["data_offsets"]
                self._where[name] = (file, info["dtype"], list(info["shape"]), 8 + n + begin, end - begin)

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
        return name in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a tensor, without reading it."""
        return tuple(self._where[name][2])

    def dtype_name(self, name: str) -> str:
        """The safetensors dtype name of a tensor (``"BF16"``, ``"F32"``, ...)."""
        return self._where[name][1]

    def read(self, name: str) -> np.ndarray:
        """Read one tensor as a float32 array (a fresh copy, not a view of the file).

        Raises:
            GGUFExportError: The file is shorter than its header says.

        """
        file, dtype, shape, offset, nbytes = self._where[name]
        if offset + nbytes > file.stat().st_size:
            msg = f"{file} is truncated: tensor {name!r} ends past the end of the file. Save or download it again."
            raise GGUFExportError(msg)
        raw = np.fromfile(file, dtype=_DTYPES[dtype], count=nbytes // _DTYPES[dtype].itemsize, offset=offset)
        if dtype == "BF16":
            out = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            out = raw.astype(np.float32, copy=False)
        return out.reshape(shape)
