"""Reading and checking a Hugging Face ``config.json`` of a supported architecture.

Read as JSON, not with ``transformers.AutoConfig``: transformers is in the ``training`` extra, not the ``gguf`` one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hag_gguf.architecture import ARCHITECTURES, HParams
from hag_gguf.errors import GGUFExportError, UnsupportedModelError

__all__ = ["default_model_name", "load_hparams"]


def load_hparams(model_dir: Path) -> HParams:
    """Read ``config.json`` of a checkpoint of a supported architecture (see ``ARCHITECTURES``).

    Raises:
        GGUFExportError: ``config.json`` is missing or lacks a required field.
        UnsupportedModelError: The checkpoint is of another architecture, or uses a RoPE scaling or sliding
            window hag-gguf does not write.

    """
    path = model_dir / "config.json"
    if not path.is_file():
        msg = f"{model_dir} has no config.json; pass a directory written by transformers' `save_pretrained`."
        raise GGUFExportError(msg)
    cfg = json.loads(path.read_text(encoding="utf-8"))
    archs = cfg.get("architectures") or []
    known = [ARCHITECTURES[a] for a in archs if a in ARCHITECTURES]
    if not known or known[0].model_type != cfg.get("model_type"):
        covered = "; ".join(a.description for a in ARCHITECTURES.values())
        msg = (
            f"{model_dir} holds a {archs or cfg.get('model_type')!r} model; hag-gguf converts "
            f"{', '.join(ARCHITECTURES)} checkpoints ({covered}). "
            "Use llama.cpp's convert_hf_to_gguf.py for other architectures, or register one with "
            "`hag_gguf.register_architecture`."
        )
        raise UnsupportedModelError(msg)
    if cfg.get("use_sliding_window"):
        msg = f"{path} enables `use_sliding_window`, which hag-gguf does not write; llama.cpp would attend too far."
        raise UnsupportedModelError(msg)
    try:
        n_head = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        head_dim = int(cfg.get("head_dim") or hidden // n_head)
        hp = HParams(
            arch=known[0],
            n_layers=int(cfg["num_hidden_layers"]),
            hidden_size=hidden,
            intermediate_size=int(cfg["intermediate_size"]),
            n_head=n_head,
            n_head_kv=int(cfg.get("num_key_value_heads") or n_head),
            head_dim=head_dim,
            vocab_size=int(cfg["vocab_size"]),
            context_length=int(cfg["max_position_embeddings"]),
            rms_norm_eps=float(cfg["rms_norm_eps"]),
            rope_theta=float(cfg.get("rope_theta", 10000.0)),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            rope_linear_factor=_rope_linear_factor(cfg, path),
            explicit_head_dim="head_dim" in cfg and head_dim != hidden // n_head,
        )
    except KeyError as e:
        msg = f"{path} lacks the field {e.args[0]!r}, which every {known[0].hf_class} config has; is it complete?"
        raise GGUFExportError(msg) from e
    return hp


def _rope_linear_factor(cfg: dict[str, Any], path: Path) -> float | None:
    """The linear RoPE scaling factor of a config, ``None`` if RoPE is unscaled; other scalings are refused."""
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return None
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind in (None, "default"):
        return None
    if kind != "linear":
        msg = (
            f"{path} uses RoPE scaling {scaling!r}; hag-gguf writes only unscaled or linear RoPE. "
            "Use llama.cpp's convert_hf_to_gguf.py for this checkpoint."
        )
        raise UnsupportedModelError(msg)
    if "factor" not in scaling:
        raise GGUFExportError(f"{path} sets linear RoPE scaling without a `factor`; is config.json complete?")
    return float(scaling["factor"])


def default_model_name(model_dir: Path) -> str:
    """The ``general.name`` written for a checkpoint when none is given: its directory's name.

    ``hag-gguf adapter`` uses the same rule for ``hag.base_model``, so that an adapter and the base model converted
    from the same directory agree without options.
    """
    return Path(model_dir).resolve().name
