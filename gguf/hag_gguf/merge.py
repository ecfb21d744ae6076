"""peft LoRA adapter + base checkpoint → merged full GGUF model, with peft's own ``merge_and_unload``.

Merging works for adapters a GGUF adapter cannot hold (DoRA, trained biases, ``modules_to_save``). It needs the
``training`` extra (torch, transformers, peft).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hag_gguf._writer import ConversionReport
from hag_gguf.convert import convert_model
from hag_gguf.errors import GGUFExportError
from hag_gguf.hf_config import default_model_name, load_hparams
from hag_gguf.peft_lora import check_adapter_config, load_adapter_config

__all__ = ["merge_adapter"]

# Copied as they are, not re-saved through AutoTokenizer, so the merged model is converted with the base's own files.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
)


def merge_adapter(
    peft_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    base_dir: str | os.PathLike[str],
    outtype: str = "f16",
    *,
    name: str | None = None,
    hag_metadata: Mapping[str, Any] | None = None,
    tokenizer_pre: str | None = None,
    progress: bool = False,
) -> ConversionReport:
    """Merge a peft LoRA adapter into its base model and write the result as one GGUF model.

    The merged checkpoint is saved (float32 safetensors) to a temporary directory beside ``out_path`` and removed
    afterwards; then it is converted like :func:`~hag_gguf.convert_model`, with the base's tokenizer.

    Args:
        peft_dir: Directory with ``adapter_config.json`` and the adapter weights.
        out_path: GGUF file to write.
        base_dir: The base checkpoint directory (weights, config and tokenizer).
        outtype: As for :func:`~hag_gguf.convert_model`.
        name: ``general.name``; defaults to the adapter directory's name.
        hag_metadata: ``hag.*`` keys to embed.
        tokenizer_pre: As for :func:`~hag_gguf.convert_model`.
        progress: Show a progress bar.

    Raises:
        GGUFExportError: torch/transformers/peft are missing, or the inputs are unusable.

    """
    peft_dir, base_dir, out_path = Path(peft_dir), Path(base_dir), Path(out_path)
    check_adapter_config(load_adapter_config(peft_dir), load_hparams(base_dir), for_merge=True)
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        msg = f"`hag-gguf merge` needs torch, transformers and peft (`pip install hag-chain[training]`): {e}"
        raise GGUFExportError(msg) from e
    if not out_path.parent.is_dir():
        raise GGUFExportError(f"The output directory {out_path.parent} does not exist; create it first.")
    with tempfile.TemporaryDirectory(prefix=".hag-gguf-merge-", dir=out_path.parent) as tmp:
        base = AutoModelForCausalLM.from_pretrained(base_dir, **_float32_kwarg(torch))
        merged = PeftModel.from_pretrained(base, peft_dir).merge_and_unload()
        merged.save_pretrained(tmp, safe_serialization=True)
        del base, merged
        for file in _TOKENIZER_FILES:
            if (base_dir / file).is_file():
                shutil.copy2(base_dir / file, Path(tmp) / file)
        return convert_model(
            tmp,
            out_path,
            outtype,
            name=name or default_model_name(peft_dir),
            hag_metadata=hag_metadata,
            tokenizer_pre=tokenizer_pre,
            progress=progress,
        )


def _float32_kwarg(torch) -> dict:
    # transformers renamed `torch_dtype` to `dtype` in 4.56 and warns about the old name from then on.
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": torch.float32}
