"""GGUF model → transformers checkpoint directory: the way back, for training on a model shipped as GGUF.

``hag_training`` fine-tunes a base it only has as a GGUF file (hag-chain's default SmolLM2) by converting it here
first; the tests and benchmarks use it to get a real float32 checkpoint to convert back with
:func:`~hag_gguf.convert_model`. Needs torch and transformers (the ``training`` extra).

transformers loads a GGUF with ``gguf_file=`` (dequantizing to float32) but refuses to ``save_pretrained`` the
result, so the weights are copied into a fresh model. The tokenizer transformers rebuilds from a GGUF is not the
one the model ships with (byte fallback, no one-digit-at-a-time split, the BOS string as EOS), so the byte-level
BPE tokenizer is rebuilt here from the GGUF's tokens and merges, as the original ``tokenizer.json`` has it.

Example::

    from hag_chain import default_model_path
    from hag_gguf import hf_checkpoint_from_gguf

    ckpt = hf_checkpoint_from_gguf(default_model_path(), "smollm2-hf/")  # config.json, model.safetensors, tokenizer
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["hf_checkpoint_from_gguf"]


def hf_checkpoint_from_gguf(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Save the model in ``gguf_path`` as a float32 safetensors checkpoint with its tokenizer in ``out_dir``.

    Only GGUF files with a GPT-2 style BPE tokenizer (``tokenizer.ggml.model`` ``gpt2``, as SmolLM2's) are
    supported. The whole model is dequantized to float32 in memory.

    Args:
        gguf_path: A GGUF model (any quantization transformers can dequantize).
        out_dir: Directory to write ``config.json``, ``model.safetensors`` and the tokenizer files into.

    Returns:
        ``out_dir``.

    Raises:
        ImportError: torch or transformers is missing.
        ValueError: The GGUF's tokenizer is not a GPT-2 style BPE.

    """
    try:
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        msg = f"`hf_checkpoint_from_gguf` needs torch and transformers (`pip install hag-chain[training]`): {e}"
        raise ImportError(msg) from e

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    kwargs = {"gguf_file": gguf_path.name}
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    del loaded
    model.save_pretrained(out_dir, safe_serialization=True)

    _save_gpt2_tokenizer(gguf_path, out_dir)
    return out_dir


def _save_gpt2_tokenizer(gguf_path: Path, out_dir: Path) -> None:
    """Rebuild the original byte-level BPE tokenizer (as SmolLM2 ships it) from the GGUF's vocab and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    import gguf
    from hag_chain.templates import fallback_chat_template

    fields = gguf.GGUFReader(gguf_path).fields

    def get(key: str):
        return fields[key].contents() if key in fields else None

    if get("tokenizer.ggml.model") != "gpt2":
        msg = f"{gguf_path} does not hold a GPT-2 style BPE tokenizer."
        raise ValueError(msg)
    tokens = get("tokenizer.ggml.tokens")
    types = get("tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in get("tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if get("tokenizer.ggml.pre") == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    control = [t for t, ty in zip(tokens, types) if ty == gguf.TokenType.CONTROL]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    special = {}
    for kind, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        if (tid := get(f"tokenizer.ggml.{key}_token_id")) is not None:
            special[f"{kind}_token"] = tokens[int(tid)]
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    # The runtime's template for a GGUF without one, so that training renders prompts as the runtime does.
    fast.chat_template = get("tokenizer.chat_template") or fallback_chat_template(get("general.architecture"))
    fast.save_pretrained(out_dir)
