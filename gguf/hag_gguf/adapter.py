"""peft LoRA adapter → GGUF LoRA adapter (``general.type=adapter``), loadable with llama.cpp's ``--lora``.

Each adapted weight ``W`` becomes ``<name>.lora_a`` (r × in) and ``<name>.lora_b`` (out × r), with the Q/K RoPE
permutation applied to B's rows where the architecture needs it (llama). llama.cpp scales B·A by ``alpha / r``
with one global ``adapter.lora.alpha``; where peft's scale differs (rsLoRA, ``alpha_pattern``) the ratio is
folded into B, so ``lora_scale=1`` reproduces peft exactly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gguf import GGUFValueType, GGUFWriter, Keys

from hag_chain import HAGKeys
from hag_gguf._safetensors import SafetensorsIndex
from hag_gguf._writer import ConversionReport, TensorSource, write_gguf
from hag_gguf.architecture import HParams, gguf_tensor_name, permute_qk, qk_heads
from hag_gguf.errors import GGUFExportError, UnsupportedModelError
from hag_gguf.hag_metadata import build_hag_metadata, write_hag_metadata
from hag_gguf.hf_config import default_model_name, load_hparams
from hag_gguf.outtypes import ADAPTER_OUTTYPES, check_outtype, plan_tensor
from hag_gguf.peft_lora import LoraPair, alora_invocation_tokens, check_adapter_config, load_adapter_config, lora_pairs

__all__ = ["convert_adapter"]


def convert_adapter(
    peft_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    base_dir: str | os.PathLike[str],
    outtype: str = "f32",
    *,
    name: str | None = None,
    base_name: str | None = None,
    hag_metadata: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> ConversionReport:
    """Convert a peft LoRA adapter into a GGUF LoRA adapter for llama.cpp.

    Args:
        peft_dir: Directory with ``adapter_config.json`` and ``adapter_model.safetensors``.
        out_path: GGUF file to write; replaced atomically, only once complete.
        base_dir: The base checkpoint directory (only its ``config.json`` is read).
        outtype: One of ``f32``, ``f16``, ``bf16``, ``q8_0`` (``lora_b`` falls back to f16 when r < 32).
        name: ``general.name`` of the adapter; defaults to the adapter directory's name.
        base_name: ``hag.base_model``: the ``general.name`` of the base GGUF; defaults to what
            :func:`~hag_gguf.convert_model` writes for ``base_dir`` (its directory's name).
        hag_metadata: Other ``hag.*`` keys to embed; an explicit ``hag.base_model`` here wins over ``base_name``.
        progress: Show a progress bar.

    Raises:
        UnsupportedModelError: DoRA, trained biases, ``lm_head`` on a tied model, an unsupported base architecture.
        GGUFExportError: Missing files, bad options or metadata.

    """
    peft_dir, base_dir = Path(peft_dir), Path(base_dir)
    check_outtype(outtype, ADAPTER_OUTTYPES)
    meta = build_hag_metadata({HAGKeys.BASE_MODEL: base_name or default_model_name(base_dir)}, hag_metadata)
    hp = load_hparams(base_dir)
    cfg = load_adapter_config(peft_dir)
    check_adapter_config(cfg, hp)
    weights = SafetensorsIndex.from_dir(peft_dir, stem="adapter_model")
    pairs = lora_pairs(weights, cfg)
    _check_shapes(weights, pairs, base_dir)
    alpha = float(cfg["lora_alpha"])
    invocation = alora_invocation_tokens(cfg)
    sources = [src for pair in pairs for src in _pair_sources(weights, pair, hp, alpha, outtype)]
    name = name or default_model_name(peft_dir)
    report = ConversionReport(path=Path(out_path), kind="adapter", outtype=outtype)

    def add_metadata(writer: GGUFWriter) -> None:
        writer.add_type("adapter")
        writer.add_string(Keys.Adapter.TYPE, "lora")
        writer.add_float32(Keys.Adapter.LORA_ALPHA, alpha)
        if invocation:
            # llama.cpp reads this key as UINT32 only (an INT32 array, add_array's choice, makes
            # llama_adapter_lora_init refuse the file), hence the explicit element type.
            writer.add_key_value(
                Keys.Adapter.ALORA_INVOCATION_TOKENS, invocation, GGUFValueType.ARRAY, GGUFValueType.UINT32
            )
        writer.add_name(name)
        write_hag_metadata(writer, meta)

    report.details.update({"general.name": name, Keys.Adapter.LORA_ALPHA: str(alpha), **meta})
    report.details["adapted"] = f"{len(pairs)} linear layers, ranks {sorted({p.rank for p in pairs})}"
    if invocation:
        report.details[Keys.Adapter.ALORA_INVOCATION_TOKENS] = str(invocation)
    return write_gguf(out_path, hp.arch.name, add_metadata, sources, report, progress=progress)


def _check_shapes(weights: SafetensorsIndex, pairs: list[LoraPair], base_dir: Path) -> None:
    """Compare B·A's shape with the base weight it adapts, when the base weights are there to look at."""
    try:
        base = SafetensorsIndex.from_dir(base_dir)
    except GGUFExportError:
        return  # only config.json was given; llama.cpp checks the shapes when it loads the adapter
    for pair in pairs:
        adapted = (weights.shape(pair.b_name)[0], weights.shape(pair.a_name)[1])
        if pair.module in base and base.shape(pair.module) != adapted:
            msg = (
                f"The adapter's {pair.module} is {adapted[0]}x{adapted[1]} but the base's is "
                f"{base.shape(pair.module)[0]}x{base.shape(pair.module)[1]}: the adapter was trained on another base "
                f"model than {base_dir}. Pass the base it was trained on as `--base`."
            )
            raise GGUFExportError(msg)


def _pair_sources(
    weights: SafetensorsIndex, pair: LoraPair, hp: HParams, alpha: float, outtype: str
) -> list[TensorSource]:
    base = gguf_tensor_name(pair.module, hp)
    if base is None or not (base.startswith("blk.") or base == "output.weight"):
        msg = f"The adapter adapts {pair.module!r} ({base}); hag-gguf exports LoRA on linear layers only."
        raise UnsupportedModelError(msg)
    n_head = qk_heads(base, hp)
    fold = pair.scale / (alpha / pair.rank)  # 1.0 unless rsLoRA or alpha_pattern

    def load_a():
        return weights.read(pair.a_name)

    def load_b():
        b = weights.read(pair.b_name)
        if fold != 1.0:
            b = b * fold
        return permute_qk(b, n_head) if n_head else b

    return [
        TensorSource(plan_tensor(base + ".lora_a", weights.shape(pair.a_name), outtype), load_a),
        TensorSource(plan_tensor(base + ".lora_b", weights.shape(pair.b_name), outtype), load_b),
    ]
