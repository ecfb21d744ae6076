"""The architectures hag-gguf converts: llama.cpp tensor names, the Q/K RoPE permutation and the header keys."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from gguf import MODEL_ARCH, MODEL_ARCH_NAMES, GGUFWriter, RopeScalingType, TensorNameMap, get_tensor_name_map
from hag_gguf.errors import GGUFExportError

if TYPE_CHECKING:
    from hag_gguf.hf_config import HParams

__all__ = ["ARCHITECTURES", "Architecture", "gguf_tensor_name", "permute_qk", "qk_heads", "write_hparams"]


@dataclass(frozen=True)
class Architecture:
    """A transformers causal-LM class and how llama.cpp runs it."""

    hf_class: str
    """``architectures[0]`` in ``config.json``."""
    model_type: str
    """``model_type`` in ``config.json``."""
    gguf_arch: MODEL_ARCH
    permute_qk: bool
    """Whether Q/K rows must be reordered: llama.cpp's llama uses "normal" RoPE on adjacent pairs, HF rotates halves.
    Architectures llama.cpp runs with NEOX RoPE (qwen2) match HF as they are."""

    @property
    def name(self) -> str:
        """``general.architecture``, e.g. ``"llama"``."""
        return MODEL_ARCH_NAMES[self.gguf_arch]


ARCHITECTURES: dict[str, Architecture] = {
    a.hf_class: a
    for a in (
        Architecture("LlamaForCausalLM", "llama", MODEL_ARCH.LLAMA, permute_qk=True),
        Architecture("Qwen2ForCausalLM", "qwen2", MODEL_ARCH.QWEN2, permute_qk=False),
    )
}
"""Supported architectures by transformers class name: SmolLM2 and the Llama family; Qwen2 / Qwen2.5."""

_SKIPPED_SUFFIXES = ("rotary_emb.inv_freq",)


def gguf_tensor_name(hf_name: str, hp: HParams) -> str | None:
    """The llama.cpp name of an HF tensor: ``model.layers.0.self_attn.q_proj.weight`` → ``blk.0.attn_q.weight``.

    Returns ``None`` for buffers llama.cpp recomputes (RoPE inverse frequencies).

    Raises:
        GGUFExportError: The name is not part of a checkpoint of this architecture.

    """
    if hf_name.endswith(_SKIPPED_SUFFIXES):
        return None
    name = _name_map(hp.arch.gguf_arch, hp.n_layers).get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        msg = f"Tensor {hf_name!r} is not part of a {hp.arch.hf_class} checkpoint; is config.json right?"
        raise GGUFExportError(msg)
    return name


@lru_cache(maxsize=4)
def _name_map(arch: MODEL_ARCH, n_layers: int) -> TensorNameMap:
    return get_tensor_name_map(arch, n_layers)  # building it takes ~20 ms: once per model, not per tensor


def qk_heads(gguf_name: str, hp: HParams) -> int | None:
    """The head count grouping the rows of a Q or K projection that needs permuting, else ``None``."""
    if not hp.arch.permute_qk:
        return None
    if ".attn_q." in gguf_name:
        return hp.n_head
    if ".attn_k." in gguf_name:
        return hp.n_head_kv
    return None


def permute_qk(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a Q/K weight, bias or LoRA B from HF's half-split RoPE to llama.cpp's adjacent pairs.

    Within each head, row ``s * hd/2 + i`` moves to ``2 * i + s``. Columns (and so LoRA A) are untouched.
    """
    shape = rows.shape
    return rows.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def write_hparams(writer: GGUFWriter, hp: HParams) -> None:
    """Write the ``<arch>.*`` hyperparameters llama.cpp reads (the same set as llama.cpp's converter)."""
    writer.add_context_length(hp.context_length)
    writer.add_embedding_length(hp.hidden_size)
    writer.add_block_count(hp.n_layers)
    writer.add_feed_forward_length(hp.intermediate_size)
    writer.add_head_count(hp.n_head)
    writer.add_head_count_kv(hp.n_head_kv)
    writer.add_rope_freq_base(hp.rope_theta)
    writer.add_layer_norm_rms_eps(hp.rms_norm_eps)
    writer.add_vocab_size(hp.vocab_size)
    writer.add_rope_dimension_count(hp.head_dim)
    if hp.explicit_head_dim:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    if hp.rope_scaling and hp.rope_scaling.get("rope_type", hp.rope_scaling.get("type")) == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(hp.rope_scaling["factor"]))
