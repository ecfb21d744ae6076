"""Hugging Face checkpoint (safetensors, of a registered architecture: llama, qwen2) → full GGUF model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_VERSION, GGUFWriter

from hag_gguf._safetensors import SafetensorsIndex
from hag_gguf._writer import ConversionReport, TensorSource, write_gguf
from hag_gguf.architecture import HParams, gguf_tensor_name, permute_qk, qk_heads
from hag_gguf.errors import GGUFExportError, UnsupportedModelError
from hag_gguf.hag_metadata import build_hag_metadata, write_hag_metadata
from hag_gguf.hf_config import default_model_name, load_hparams
from hag_gguf.outtypes import OUTTYPES, check_outtype, file_type, plan_tensor
from hag_gguf.vocab import write_vocab

__all__ = ["convert_model"]


def convert_model(
    model_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    outtype: str = "f16",
    *,
    name: str | None = None,
    hag_metadata: Mapping[str, Any] | None = None,
    tokenizer_pre: str | None = None,
    progress: bool = False,
) -> ConversionReport:
    """Convert a checkpoint saved by transformers (see ``ARCHITECTURES``) into a GGUF model llama.cpp loads.

    Args:
        model_dir: Directory with ``config.json``, ``*.safetensors`` and the tokenizer files.
        out_path: GGUF file to write; replaced atomically, only once complete.
        outtype: One of ``f32``, ``f16``, ``bf16``, ``q8_0``, ``q4_0``, ``q4_1``.
        name: ``general.name``; defaults to the directory's name.
        hag_metadata: ``hag.*`` keys to embed (strings, or objects for the JSON-valued keys).
        tokenizer_pre: llama.cpp pre-tokenizer name; detected from the tokenizer files when ``None``.
        progress: Show a progress bar.

    Returns:
        What was written, including the tensors that fell back from a quantized type to f16.

    Raises:
        GGUFExportError: The checkpoint, tokenizer, options or metadata are unusable (the message says why).
        UnsupportedModelError: The architecture is one hag-gguf exports adapters for only (Gemma 3).

    """
    model_dir = Path(model_dir)
    check_outtype(outtype, tuple(OUTTYPES))
    meta = build_hag_metadata(hag_metadata)
    hp = load_hparams(model_dir)
    write_hparams = hp.arch.write_hparams
    if write_hparams is None:
        msg = (
            f"hag-gguf exports LoRA adapters for {hp.arch.hf_class} checkpoints but does not convert whole ones; "
            "convert the base with llama.cpp's convert_hf_to_gguf.py, or export the adapter with `hag-gguf adapter`."
        )
        raise UnsupportedModelError(msg)
    weights = SafetensorsIndex.from_dir(model_dir)
    sources = _tensor_sources(weights, hp, outtype, model_dir)
    name = name or default_model_name(model_dir)
    report = ConversionReport(path=Path(out_path), kind="model", outtype=outtype)

    def add_metadata(writer: GGUFWriter) -> None:
        writer.add_type("model")
        writer.add_name(name)
        writer.add_file_type(file_type(outtype))
        writer.add_quantization_version(GGML_QUANT_VERSION)
        write_hparams(writer, hp)
        report.details["tokenizer"] = write_vocab(writer, model_dir, hp.vocab_size, tokenizer_pre)
        write_hag_metadata(writer, meta)

    report.details["general.name"] = name
    report.details.update(meta)
    return write_gguf(out_path, hp.arch.name, add_metadata, sources, report, progress=progress)


def _tensor_sources(weights: SafetensorsIndex, hp: HParams, outtype: str, model_dir: Path) -> list[TensorSource]:
    by_name: dict[str, TensorSource] = {}
    for hf_name in weights:
        gguf_name = gguf_tensor_name(hf_name, hp)
        if gguf_name is None:
            continue
        if gguf_name == "output.weight" and hp.tie_word_embeddings:
            continue  # tied: llama.cpp reuses token_embd when output.weight is absent
        plan = plan_tensor(gguf_name, weights.shape(hf_name), outtype)
        by_name[gguf_name] = TensorSource(plan, _loader(weights, hf_name, qk_heads(gguf_name, hp)))
    missing = [t for t in hp.arch.required_tensors(hp) if t not in by_name]
    if missing:
        msg = (
            f"The checkpoint in {model_dir} lacks {len(missing)} tensor(s) a {hp.arch.name} model needs, "
            f"e.g. {missing[:3]}; "
            "was it saved completely (all shards, `tie_word_embeddings` set right in config.json)?"
        )
        raise GGUFExportError(msg)
    return sorted(by_name.values(), key=lambda s: _file_order(s.plan.name))


def _loader(weights: SafetensorsIndex, hf_name: str, n_head: int | None):
    def load():
        data = weights.read(hf_name)
        return permute_qk(data, n_head) if n_head else data

    return load


def _file_order(gguf_name: str) -> tuple[int, str]:
    if gguf_name.startswith("blk."):
        return int(gguf_name.split(".")[1]), gguf_name
    return (-1 if gguf_name == "token_embd.weight" else 1 << 30), gguf_name
