"""Reading a peft LoRA adapter directory and refusing, early and clearly, what llama.cpp cannot load.

``adapter_config.json`` is read as JSON, not with ``peft.LoraConfig``: peft is in the ``training`` extra, not the
``gguf`` one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hag_gguf._safetensors import SafetensorsIndex
from hag_gguf.architecture import HParams
from hag_gguf.errors import GGUFExportError, UnsupportedModelError

__all__ = ["LoraPair", "alora_invocation_tokens", "check_adapter_config", "load_adapter_config", "lora_pairs"]

_PREFIX = "base_model.model."
_MERGE_HINT = "`hag-gguf merge` bakes such an adapter into a full model instead."


@dataclass(frozen=True)
class LoraPair:
    """The A and B matrices peft stores for one adapted linear layer, and the scale peft applies to B·A."""

    module: str
    """Hugging Face name of the adapted weight, e.g. ``model.layers.0.self_attn.q_proj.weight``."""
    a_name: str
    b_name: str
    rank: int
    scale: float


def load_adapter_config(peft_dir: Path) -> dict[str, Any]:
    """Read ``adapter_config.json``.

    Raises:
        GGUFExportError: The file is missing.

    """
    path = peft_dir / "adapter_config.json"
    if not path.is_file():
        msg = f"{peft_dir} has no adapter_config.json; pass a directory written by peft's `save_pretrained`."
        raise GGUFExportError(msg)
    return json.loads(path.read_text(encoding="utf-8"))


def check_adapter_config(cfg: dict[str, Any], hp: HParams, *, for_merge: bool = False) -> None:
    """Refuse adapters that llama.cpp cannot apply (or, for merging, that would corrupt a tied model).

    Raises:
        UnsupportedModelError: Not LoRA, DoRA, trained biases, full-module copies, or ``lm_head`` on a tied model.

    """
    if cfg.get("peft_type") != "LORA":
        msg = f"The adapter is a {cfg.get('peft_type')!r} adapter; only peft LoRA adapters (peft_type LORA) convert."
        raise UnsupportedModelError(msg)
    targets = cfg.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    if hp.tie_word_embeddings and any(_targets_lm_head(t) for t in targets):
        msg = (
            "The adapter targets `lm_head`, but the base model ties lm_head to the token embeddings "
            "(tie_word_embeddings); llama.cpp has no separate output matrix to adapt, and merging would also change "
            "the embeddings. Retrain without `lm_head` in `target_modules`."
        )
        raise UnsupportedModelError(msg)
    if for_merge:
        if alora_invocation_tokens(cfg):
            msg = (
                "The adapter is an activated LoRA (`alora_invocation_tokens`): it applies only from its invocation "
                "tokens on, which a merged model cannot express (every token would be adapted). Export it with "
                "`hag-gguf adapter` and run it as an adapter."
            )
            raise UnsupportedModelError(msg)
        return
    problems = {
        "use_dora": "DoRA (`use_dora=True`) has a magnitude vector llama.cpp cannot apply",
        "modules_to_save": "`modules_to_save` stores full module copies, which a GGUF adapter cannot hold",
        "layer_replication": "`layer_replication` changes the layer stack",
        "lora_bias": "`lora_bias=True` adds a bias to lora_B, which llama.cpp does not apply",
        "target_parameters": "`target_parameters` adapts raw parameters, not linear layers",
    }
    for key, why in problems.items():
        if cfg.get(key):
            raise UnsupportedModelError(f"{why}. {_MERGE_HINT}")
    if cfg.get("bias", "none") != "none":
        msg = (
            f"The adapter trains biases (`bias={cfg['bias']!r}`), which a GGUF LoRA adapter cannot hold. {_MERGE_HINT}"
        )
        raise UnsupportedModelError(msg)
    if any(t in ("embed_tokens",) or t.endswith(".embed_tokens") for t in targets):
        msg = f"The adapter targets `embed_tokens`; hag-gguf exports LoRA on linear layers only. {_MERGE_HINT}"
        raise UnsupportedModelError(msg)


def alora_invocation_tokens(cfg: dict[str, Any]) -> list[int]:
    """The token ids of an activated LoRA's invocation (peft's ``alora_invocation_tokens``); empty for a LoRA.

    Raises:
        GGUFExportError: The config lists something other than non-negative token ids.

    """
    tokens = cfg.get("alora_invocation_tokens") or []
    if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens):
        raise GGUFExportError(f"`alora_invocation_tokens` must be token ids (integers >= 0); got {tokens!r}.")
    return list(tokens)


def lora_pairs(weights: SafetensorsIndex, cfg: dict[str, Any]) -> list[LoraPair]:
    """Pair the ``lora_A``/``lora_B`` tensors of an adapter and compute peft's scale for each.

    Copies of base weights that peft saves beside LoRA on ``lm_head`` (``*.base_layer.weight``) are skipped.
    The scale is ``alpha / r``, or ``alpha / sqrt(r)`` with rsLoRA, honouring ``alpha_pattern``; ranks are read
    from the tensors, so ``rank_pattern`` needs no special handling.

    Raises:
        UnsupportedModelError: A tensor is not a LoRA matrix of a linear layer (DoRA magnitudes, embeddings, ...).
        GGUFExportError: A lora_A has no lora_B, or their ranks differ.

    """
    halves: dict[str, dict[str, str]] = {}
    for name in weights:
        if name.endswith(".base_layer.weight"):
            continue  # an unchanged copy of a base weight (peft's `save_embedding_layers`)
        match = re.fullmatch(r"(.+)\.lora_([AB])(?:\.[^.]+)?\.weight", name)
        if match is None:
            why = "a DoRA magnitude vector" if "lora_magnitude_vector" in name else "not a lora_A/lora_B matrix"
            msg = f"Adapter tensor {name!r} is {why}; a GGUF LoRA adapter holds only those. {_MERGE_HINT}"
            raise UnsupportedModelError(msg)
        module = match.group(1).removeprefix(_PREFIX) + ".weight"
        halves.setdefault(module, {})[match.group(2)] = name
    pairs = []
    for module, ab in sorted(halves.items()):
        if set(ab) != {"A", "B"}:
            msg = f"Adapter module {module!r} has only lora_{''.join(ab)}, not both lora_A and lora_B; is it complete?"
            raise GGUFExportError(msg)
        rank = weights.shape(ab["A"])[0]
        if weights.shape(ab["B"])[1] != rank:
            msg = f"Adapter module {module!r}: lora_A has rank {rank} but lora_B {weights.shape(ab['B'])[1]}."
            raise GGUFExportError(msg)
        alpha = _pattern_value(cfg.get("alpha_pattern") or {}, module.removesuffix(".weight"), cfg["lora_alpha"])
        scale = alpha / (math.sqrt(rank) if cfg.get("use_rslora") else rank)
        pairs.append(LoraPair(module=module, a_name=ab["A"], b_name=ab["B"], rank=rank, scale=scale))
    if not pairs:
        raise GGUFExportError("The adapter has no lora_A/lora_B tensors.")
    return pairs


def _targets_lm_head(target: str) -> bool:
    return "lm_head" in target  # a module name or a regex over module names


def _pattern_value(patterns: dict[str, float], module: str, default: float) -> float:
    # peft matches a pattern against the end of the module name, at a dot boundary (peft.utils.other).
    for pattern, value in patterns.items():
        if re.match(rf"(.*\.)?({pattern})$", module):
            return float(value)
    return float(default)
