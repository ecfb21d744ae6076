"""GGUF model → transformers checkpoint directory: the way back, for training on a model shipped as GGUF.

``hag_training`` fine-tunes a base it only has as a GGUF file (hag-chain's default SmolLM2) by converting it here
first; the tests and benchmarks use it to get a real float32 checkpoint to convert back with
:func:`~hag_gguf.convert_model`. Needs torch and transformers (the ``training`` extra).

transformers loads a GGUF with ``gguf_file=`` (dequantizing to float32) but refuses to ``save_pretrained`` the
result, so the weights are copied into a fresh model. The tokenizer transformers rebuilds from a GGUF is not the
one the model ships with, so it is rebuilt here from the GGUF's vocabulary, token for token as llama.cpp splits
text:

- a GPT-2 style byte-level BPE (``tokenizer.ggml.model`` ``gpt2``, SmolLM2, Qwen2): transformers adds byte fallback,
  drops the one-digit-at-a-time split and names the BOS string as EOS; here it is the original ``tokenizer.json``
  again, from the tokens and merges;
- a SentencePiece BPE (``llama``, Gemma 3): transformers reads it as a Unigram model, which splits most words
  differently (``"Hello world"``: 4 tokens, llama.cpp 2); here it is a BPE whose merges rank by the score of the
  piece they make, which is how SentencePiece and llama.cpp's ``llm_tokenizer_spm`` choose the next merge.

Example::

    from hag_chain import default_model_path
    from hag_gguf import hf_checkpoint_from_gguf

    ckpt = hf_checkpoint_from_gguf(default_model_path(), "smollm2-hf/")  # config.json, model.safetensors, tokenizer
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hag_gguf.vocab import KNOWN_PRE_TOKENIZERS, SPLIT_PATTERNS

__all__ = ["hf_checkpoint_from_gguf", "hf_tokenizer_from_gguf"]


#: Bumped when a conversion's output changes, so that an older conversion is redone (2: Qwen2's pre-tokenizer).
_CONVERTER_VERSION = 2


def hf_checkpoint_from_gguf(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Save the model in ``gguf_path`` as a float32 safetensors checkpoint with its tokenizer in ``out_dir``.

    Only GGUF files with a GPT-2 style BPE tokenizer (``tokenizer.ggml.model`` ``gpt2``, as SmolLM2's) are
    supported. The whole model is dequantized to float32 in memory. ``out_dir`` records which file it holds
    (``source.json``: its path and size); when it already holds a conversion of ``gguf_path``, nothing is done.

    Args:
        gguf_path: A GGUF model (any quantization transformers can dequantize).
        out_dir: Directory to write ``config.json``, ``model.safetensors`` and the tokenizer files into.

    Returns:
        ``out_dir``.

    Raises:
        ImportError: torch or transformers is missing.
        ValueError: The GGUF's tokenizer is of another kind (WordPiece, Unigram, RWKV...) or a SentencePiece one
            with a space prefix (Llama 2).

    """
    try:
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        msg = f"`hf_checkpoint_from_gguf` needs torch and transformers (`pip install hag-chain[training]`): {e}"
        raise ImportError(msg) from e

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    stamp = out_dir / "source.json"
    source = {"gguf": str(gguf_path.resolve()), "size": gguf_path.stat().st_size, "converter": _CONVERTER_VERSION}
    if stamp.is_file() and json.loads(stamp.read_text()) == source:
        return out_dir
    stamp.unlink(missing_ok=True)  # a conversion cut short must not pass for a finished one
    kwargs = {"gguf_file": gguf_path.name}
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    del loaded
    model.save_pretrained(out_dir, safe_serialization=True)

    hf_tokenizer_from_gguf(gguf_path, out_dir)
    stamp.write_text(json.dumps(source))
    return out_dir


def hf_tokenizer_from_gguf(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Save the tokenizer a GGUF's vocabulary describes, with its special tokens and chat template, in ``out_dir``.

    It splits text into the same tokens as llama.cpp does on the file (the pre-tokenizer ``tokenizer.ggml.pre``
    names included), so that training sees the token ids the runtime will feed the model.

    Raises:
        ValueError: The GGUF's tokenizer is of a kind that cannot be rebuilt (see :func:`hf_checkpoint_from_gguf`).

    """
    import gguf
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    from hag_chain import fallback_chat_template, read_gguf_metadata

    meta = read_gguf_metadata(gguf_path, arrays=True)

    def get(key: str) -> Any:
        return meta.get(key)

    kind = get("tokenizer.ggml.model")
    builders = {"gpt2": _byte_level_bpe, "llama": _sentencepiece_bpe}
    if kind not in builders:
        msg = (
            f"{gguf_path} holds a {kind!r} tokenizer; training can rebuild only GPT-2 style BPE ('gpt2') and "
            "SentencePiece BPE ('llama') tokenizers from a GGUF. Pass the model's transformers checkpoint instead."
        )
        raise ValueError(msg)
    tokens, types = get("tokenizer.ggml.tokens"), get("tokenizer.ggml.token_type")
    tok = builders[kind](get, tokens, types)
    # llama.cpp matches control tokens only when asked to parse special tokens, user-defined ones always, both on
    # the raw text: special and plain added tokens, unnormalized.
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == gguf.TokenType.CONTROL]
    )
    tok.add_tokens(
        [
            AddedToken(t, special=False, normalized=False)
            for t, ty in zip(tokens, types)
            if ty == gguf.TokenType.USER_DEFINED
        ]
    )
    special = {}
    for kind, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        if (tid := get(f"tokenizer.ggml.{key}_token_id")) is not None:
            special[f"{kind}_token"] = tokens[int(tid)]
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    # The runtime's template for a GGUF without one, so that training renders prompts as the runtime does.
    fast.chat_template = get("tokenizer.chat_template") or fallback_chat_template(get("general.architecture"))
    fast.save_pretrained(out_dir)
    return Path(out_dir)


def _byte_level_bpe(get, tokens: list[str], types: list[int]):
    """The original byte-level BPE ``tokenizer.json`` (as SmolLM2 ships it), from the GGUF's tokens and merges."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    merges = [tuple(m.split(" ", 1)) for m in get("tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    pre = get("tokenizer.ggml.pre")
    if pre not in KNOWN_PRE_TOKENIZERS:
        msg = (
            f"The GGUF's pre-tokenizer {pre!r} is not one training can rebuild ({', '.join(KNOWN_PRE_TOKENIZERS)}): "
            "its token ids would differ from llama.cpp's. Pass the model's transformers checkpoint instead."
        )
        raise ValueError(msg)
    if pre in SPLIT_PATTERNS:
        # transformers' own GGUF loader gives these GPT-2's pattern, which cuts `(x` and `\tx` in two where
        # llama.cpp keeps them one token (and warns "incorrect regex pattern").
        split = pre_tokenizers.Split(Regex(SPLIT_PATTERNS[pre]), behavior="isolated")
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    elif pre == "smollm":
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _sentencepiece_bpe(get, tokens: list[str], types: list[int]):
    """A SentencePiece BPE vocabulary (pieces with ``▁`` for spaces, scores, byte tokens) as a tokenizers BPE.

    SentencePiece (and llama.cpp) merge, among the adjacent pairs of a text, the pair whose joined piece has the
    highest score; a BPE whose merges are ranked by that score picks the same pair. Written here because the GGUF
    holds scores, not merges, and transformers' GGUF converter builds a Unigram model instead (see the module
    docstring); the merges are the pairs of normal pieces that join into a normal piece.
    """
    import gguf
    from tokenizers import Tokenizer, decoders, models, normalizers, processors

    if get("tokenizer.ggml.add_space_prefix") is not False:
        # llama.cpp then prepends a space to the text but not after special tokens; not rebuilt (untested).
        msg = (
            "The GGUF's SentencePiece tokenizer adds a space prefix (Llama 2 style); training can rebuild only "
            "those without one (Gemma 3). Pass the model's transformers checkpoint instead."
        )
        raise ValueError(msg)
    scores = get("tokenizer.ggml.scores")
    vocab = {t: i for i, t in enumerate(tokens)}
    normal = {t for t, ty in zip(tokens, types) if ty == gguf.TokenType.NORMAL}
    ranked = []
    for piece in normal:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-scores[vocab[piece]], vocab[piece], vocab[left], left, right))
    merges = [(left, right) for *_, left, right in sorted(ranked)]
    unk = get("tokenizer.ggml.unknown_token_id")
    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=None if unk is None else tokens[int(unk)], byte_fallback=True)
    )
    # No pre-tokenizer: SentencePiece merges across the whole text, spaces included (as "▁").
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    bos = get("tokenizer.ggml.bos_token_id")
    if get("tokenizer.ggml.add_bos_token") and bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{tokens[int(bos)]} $A",
            pair=f"{tokens[int(bos)]} $A $B",
            special_tokens=[(tokens[int(bos)], int(bos))],
        )
    return tok
