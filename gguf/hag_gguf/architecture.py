"""The architectures hag-gguf converts, each in one place: its tensors, its Q/K RoPE layout and its header keys.

An :class:`Architecture` says everything that differs between architectures; the converters only ask it. Adding
one is one :func:`register_architecture` call (the built-in ones are registered at the end of this module)::

    from gguf import MODEL_ARCH
    from hag_gguf import Architecture, register_architecture

    register_architecture(
        Architecture("MyLlamaForCausalLM", "my_llama", MODEL_ARCH.LLAMA, "my Llama variant", permute_qk=True)
    )

:class:`HParams`, the hyperparameters of one checkpoint, lives here too, beside the architecture it points to;
:mod:`hag_gguf.hf_config` reads it from ``config.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from gguf import MODEL_ARCH, MODEL_ARCH_NAMES, GGUFWriter, RopeScalingType, TensorNameMap, get_tensor_name_map

from hag_chain import Registry
from hag_gguf.errors import GGUFExportError

__all__ = [
    "ARCHITECTURES",
    "LLAMA_BLOCK_TENSORS",
    "Architecture",
    "HParams",
    "gguf_tensor_name",
    "permute_qk",
    "qk_heads",
    "register_architecture",
    "write_llama_hparams",
]


@dataclass(frozen=True)
class HParams:
    """The hyperparameters of a checkpoint that the GGUF header needs, and its architecture."""

    arch: Architecture
    n_layers: int
    hidden_size: int
    intermediate_size: int
    n_head: int
    n_head_kv: int
    head_dim: int
    vocab_size: int
    context_length: int
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    rope_linear_factor: float | None
    """The factor of linear RoPE scaling, ``None`` when RoPE is unscaled (the only two kinds hag-gguf writes)."""
    explicit_head_dim: bool


def write_llama_hparams(writer: GGUFWriter, hp: HParams) -> None:
    """Write the ``<arch>.*`` hyperparameters of a llama-like model (the same set as llama.cpp's converter)."""
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
    if hp.rope_linear_factor is not None:
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(hp.rope_linear_factor)


LLAMA_BLOCK_TENSORS = (
    "attn_norm.weight",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_output.weight",
    "ffn_norm.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
)
"""The tensors of one llama block, as llama.cpp names them after ``blk.<i>.``."""


@dataclass(frozen=True)
class Architecture:
    """A transformers causal-LM class and how llama.cpp runs it: everything hag-gguf does differently per architecture.

    The tensor *names* come from gguf-py's table for ``gguf_arch``; what an architecture declares here is which of
    them a complete checkpoint must have, whether Q/K need reordering, and which header keys to write.
    """

    hf_class: str
    """``architectures[0]`` in ``config.json``, e.g. ``"LlamaForCausalLM"``; the registry key."""
    model_type: str
    """``model_type`` in ``config.json``; a checkpoint whose ``model_type`` differs is refused."""
    gguf_arch: MODEL_ARCH
    """The llama.cpp architecture that runs it; gives ``general.architecture`` and the tensor names."""
    description: str
    """The models it covers, for messages: ``"SmolLM2, the Llama family"``."""
    permute_qk: bool
    """Whether Q/K rows must be reordered: llama.cpp's llama uses "normal" RoPE on adjacent pairs, HF rotates halves.
    Architectures llama.cpp runs with NEOX RoPE (qwen2) match HF as they are."""
    block_tensors: tuple[str, ...] = field(default=LLAMA_BLOCK_TENSORS, repr=False)
    """The tensors every block ``blk.<i>.`` must have; a checkpoint lacking one is refused before writing."""
    tensors: tuple[str, ...] = field(default=("token_embd.weight", "output_norm.weight"), repr=False)
    """The tensors outside the blocks it must have; ``output.weight`` is added unless the embeddings are tied."""
    write_hparams: Callable[[GGUFWriter, HParams], None] | None = field(default=write_llama_hparams, repr=False)
    """Writes the ``<arch>.*`` header keys llama.cpp reads for this architecture; ``None`` for an architecture
    hag-gguf exports adapters for but does not convert whole (the base GGUF then comes from llama.cpp's converter,
    as Gemma 3's does)."""

    @property
    def name(self) -> str:
        """``general.architecture``, e.g. ``"llama"``."""
        return MODEL_ARCH_NAMES[self.gguf_arch]

    def required_tensors(self, hp: HParams) -> list[str]:
        """Every llama.cpp tensor name a checkpoint with these hyperparameters must provide."""
        names = list(self.tensors)
        names += [f"blk.{i}.{t}" for i in range(hp.n_layers) for t in self.block_tensors]
        if not hp.tie_word_embeddings:
            names.append("output.weight")
        return names


ARCHITECTURES: Registry[Architecture] = Registry(
    "architecture", "Register one with `hag_gguf.register_architecture(Architecture(...))`."
)
"""Supported architectures by transformers class name (``architectures[0]`` in ``config.json``)."""


def register_architecture(arch: Architecture) -> Architecture:
    """Make hag-gguf convert (and export adapters for) checkpoints of ``arch``, under ``arch.hf_class``.

    Returns:
        ``arch``.

    Raises:
        hag_chain.DuplicateEntryError: An architecture is already registered for that transformers class.

    """
    return ARCHITECTURES.register(arch.hf_class, arch)


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
    Written here: llama.cpp's converter has it (``LlamaModel.permute``), but the gguf wheel does not ship the converter.
    """
    shape = rows.shape
    return rows.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


register_architecture(
    Architecture("LlamaForCausalLM", "llama", MODEL_ARCH.LLAMA, "SmolLM2, the Llama family", permute_qk=True)
)
register_architecture(
    Architecture(
        "Qwen2ForCausalLM",
        "qwen2",
        MODEL_ARCH.QWEN2,
        "Qwen2, Qwen2.5",
        permute_qk=False,
        # llama.cpp's qwen2 requires the q/k/v biases; a file without them would not load.
        block_tensors=(*LLAMA_BLOCK_TENSORS, "attn_q.bias", "attn_k.bias", "attn_v.bias"),
    )
)
register_architecture(
    Architecture(
        "Gemma3ForCausalLM",
        "gemma3_text",
        MODEL_ARCH.GEMMA3,
        "Gemma 3 text models, adapters only",
        permute_qk=False,  # llama.cpp runs gemma3 with NEOX RoPE, HF's layout
        block_tensors=(
            *LLAMA_BLOCK_TENSORS,
            "attn_q_norm.weight",
            "attn_k_norm.weight",
            "post_attention_norm.weight",
            "post_ffw_norm.weight",
        ),
        # A whole model would also need its norms shifted by one, the sliding-window keys and the SentencePiece
        # scores; the adapters, which touch the linear layers only, need none of that.
        write_hparams=None,
    )
)
