"""Streaming, atomic GGUF writing: plan every tensor, write the header, then convert and write tensors one by one.

The file is written to a hidden temporary file beside the destination and moved into place with ``os.replace``
only once complete, so an error or Ctrl-C leaves the destination as it was (absent, or the previous file).
Tensors go through ``GGUFWriter.add_tensor_info`` and ``write_tensor_data``, gguf-py's streaming path: its
``add_tensor``/``write_tensors_to_file`` would keep every encoded tensor in memory until the file is written.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGUFWriter
from tqdm import tqdm

from hag_gguf.errors import GGUFExportError
from hag_gguf.outtypes import TensorPlan, encode

__all__ = ["ConversionReport", "TensorSource", "write_gguf"]


@dataclass(frozen=True)
class TensorSource:
    """One tensor to write: its plan and a function that reads it (as float32, already in llama.cpp layout)."""

    plan: TensorPlan
    load: Callable[[], np.ndarray]


@dataclass
class ConversionReport:
    """What a conversion wrote.

    Attributes:
        path: The GGUF file written.
        kind: ``"model"`` or ``"adapter"``.
        outtype: The requested output type.
        tensor_types: GGML type name to number of tensors of that type.
        notes: Tensor name to why it is not of the requested type (f16 fallbacks, q8_0 embeddings).
        n_bytes: Size of the file.
        seconds: Wall time of the conversion, from the report's creation.
        details: Other facts worth printing (tokenizer, name, hag keys).

    """

    path: Path
    kind: str
    outtype: str
    tensor_types: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    n_bytes: int = 0
    seconds: float = 0.0
    details: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter, repr=False)

    def summary(self) -> str:
        """A few human-readable lines for the CLI."""
        types = ", ".join(f"{n} {t}" for t, n in sorted(self.tensor_types.items()))
        lines = [
            f"wrote {self.path} ({self.kind}, {self.outtype}): {sum(self.tensor_types.values())} tensors ({types}), "
            f"{self.n_bytes / 1e6:.1f} MB in {self.seconds:.1f} s",
        ]
        lines += [f"  {k}: {v}" for k, v in self.details.items()]
        if self.notes:
            lines.append(f"  {len(self.notes)} tensor(s) not written as {self.outtype}:")
            lines += [f"    {name}: {why}" for name, why in self.notes.items()]
        return "\n".join(lines)


def write_gguf(
    path: str | os.PathLike[str],
    arch: str,
    add_metadata: Callable[[GGUFWriter], None],
    sources: Sequence[TensorSource],
    report: ConversionReport,
    *,
    progress: bool = False,
) -> ConversionReport:
    """Write a GGUF file atomically and fill in ``report``.

    Args:
        path: Destination; its directory must exist.
        arch: ``general.architecture``.
        add_metadata: Called with the writer to add every key/value before the header is written.
        sources: The tensors, in file order.
        report: Filled with tensor types, notes, size and time, and returned.
        progress: Show a tqdm progress bar on stderr.

    Raises:
        GGUFExportError: The destination directory does not exist, or a tensor is not as planned.

    """
    dest = Path(path)
    if not dest.parent.is_dir():
        msg = f"The output directory {dest.parent} does not exist; create it first."
        raise GGUFExportError(msg)
    if dest.is_dir():
        msg = f"The output path {dest} is a directory; pass a file name such as {dest / 'model.gguf'}."
        raise GGUFExportError(msg)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.partial"
    writer = GGUFWriter(None, arch)
    add_metadata(writer)
    for src in sources:
        writer.add_tensor_info(
            src.plan.name, src.plan.shape, np.dtype(np.float32), src.plan.nbytes, raw_dtype=src.plan.qtype
        )
    try:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for src in tqdm(sources, desc=dest.name, unit="tensor", disable=not progress):
            writer.write_tensor_data(encode(src.load(), src.plan))
        writer.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    report.path = dest
    report.tensor_types = dict(Counter(src.plan.qtype.name for src in sources))
    report.notes = {src.plan.name: src.plan.note for src in sources if src.plan.note}
    report.n_bytes = dest.stat().st_size
    report.seconds = time.perf_counter() - report.started
    return report
