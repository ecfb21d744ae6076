"""The tokenizer part of a GGUF: GPT-2 style byte-level BPE (``tokenizer.json``) or SentencePiece (``tokenizer.model``).

Special token ids, merges, ``add_bos``/``add_eos`` and the chat template come from ``gguf.vocab.SpecialVocab``;
token texts and types are read here, the way llama.cpp's converter reads them (added special tokens are CONTROL,
other added tokens USER_DEFINED, ids the model has but the tokenizer lacks ``[PAD<i>]`` UNUSED);
``gguf.vocab.BpeVocab`` would mark every added token CONTROL and refuses a ``tokenizer.json`` with byte fallback.

A checkpoint whose tokenizer transformers loaded from a GGUF (``AutoTokenizer.from_pretrained(..., gguf_file=...)``)
and saved again is recognised: its ``tokenizer.model`` is a copy of that GGUF file, not a SentencePiece model, and
its ``tokenizer.json`` a byte-level BPE with ``byte_fallback`` and a decoder ``Sequence`` around ``ByteLevel``. The
tokens and merges are taken from ``tokenizer.json``; what transformers' rebuilt tokenizer gets wrong (no
``tokenizer.ggml.pre``, the BOS string as EOS, ``add_bos_token``) is taken from the GGUF copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf.vocab
from gguf import GGUFWriter, Keys, SpecialVocab, TokenType
from gguf.vocab import SentencePieceVocab

from hag_chain import ModelLoadError, read_gguf_metadata
from hag_gguf.errors import GGUFExportError, UnsupportedModelError

__all__ = ["KNOWN_PRE_TOKENIZERS", "SPLIT_PATTERNS", "detect_bpe_pre", "write_vocab"]

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_QWEN2_SPLIT = _LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")

#: The split pattern of each pre-tokenizer that splits by a regex other than GPT-2's own, as llama.cpp splits (its
#: ``llama-vocab.cpp``) and the model's ``tokenizer.json`` does.
SPLIT_PATTERNS: dict[str, str] = {"llama-bpe": _LLAMA3_SPLIT, "qwen2": _QWEN2_SPLIT}

KNOWN_PRE_TOKENIZERS: dict[str, str] = {
    "smollm": "Digits(individual_digits) then ByteLevel(use_regex): SmolLM, SmolLM2",
    "gpt-2": "ByteLevel(use_regex) alone: GPT-2 style",
    "llama-bpe": "Split(Llama 3 regex) then ByteLevel: Llama 3",
    "qwen2": "Split(Llama 3 regex with single digits) then ByteLevel: Qwen2, Qwen2.5",
}
"""llama.cpp ``tokenizer.ggml.pre`` values recognised from a ``tokenizer.json`` pre-tokenizer, with their shape."""


def write_vocab(writer: GGUFWriter, model_dir: Path, vocab_size: int, pre: str | None = None) -> str:
    """Write the ``tokenizer.*`` keys for the tokenizer saved in ``model_dir``.

    Args:
        writer: The GGUF writer, before its header is written.
        model_dir: Directory holding ``tokenizer.json`` (and ``tokenizer_config.json``) or ``tokenizer.model``.
        vocab_size: The model's embedding rows; the token list is padded to it.
        pre: llama.cpp pre-tokenizer name; when ``None``, read from the GGUF copy transformers saved as
            ``tokenizer.model`` if there is one, else detected from ``tokenizer.json``.

    Returns:
        A short description of what was written, e.g. ``"gpt2/smollm, 49152 tokens"``.

    Raises:
        GGUFExportError: No tokenizer is there, it has more tokens than the model, ``tokenizer.model`` is neither a
            SentencePiece model nor a GGUF copy of this vocabulary, or sentencepiece is missing.
        UnsupportedModelError: The tokenizer is of a kind llama.cpp's llama architecture cannot run.

    """
    tok_json = model_dir / "tokenizer.json"
    spm_model = model_dir / "tokenizer.model"
    gguf_copy = spm_model if _is_gguf(spm_model) else None
    if tok_json.is_file():
        tokenizer = json.loads(tok_json.read_text(encoding="utf-8"))
        if _is_byte_level_bpe(tokenizer):
            return _write_gpt2(writer, model_dir, tokenizer, vocab_size, pre, gguf_copy)
    if gguf_copy is not None:
        msg = (
            f"{spm_model} is a GGUF file, not a SentencePiece model: transformers saves the GGUF it loaded a "
            "tokenizer from (`gguf_file=`) under that name. hag-gguf converts such a checkpoint only when its "
            "tokenizer.json is a byte-level BPE (GPT-2 style, as SmolLM2's), and this one is not. Save the "
            "model's original tokenizer (tokenizer.json or a real tokenizer.model) next to it instead."
        )
        raise UnsupportedModelError(msg)
    if spm_model.is_file():
        return _write_sentencepiece(writer, model_dir, vocab_size)
    if tok_json.is_file():
        msg = (
            f"{tok_json} is neither a byte-level BPE (GPT-2 style) tokenizer nor accompanied by a SentencePiece "
            "`tokenizer.model`; hag-gguf cannot convert it. Use llama.cpp's convert_hf_to_gguf.py."
        )
        raise UnsupportedModelError(msg)
    msg = f"{model_dir} has no tokenizer.json or tokenizer.model; save the tokenizer next to the model."
    raise GGUFExportError(msg)


def detect_bpe_pre(tokenizer: dict[str, Any]) -> str | None:
    """The llama.cpp pre-tokenizer name matching a ``tokenizer.json`` pre-tokenizer, or ``None`` if unknown."""
    pre = tokenizer.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"]:
        regex = steps[0].get("pattern", {}).get("Regex")
        return {_LLAMA3_SPLIT: "llama-bpe", _QWEN2_SPLIT: "qwen2"}.get(regex)
    return None


def _is_byte_level_bpe(tokenizer: dict[str, Any]) -> bool:
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in _step_types(tokenizer.get("decoder"), "decoders"):
        return False
    if not model.get("byte_fallback"):
        return True
    # Byte fallback beside ByteLevel (transformers' tokenizer rebuilt from a GGUF). Fallback produces `<0xXX>` tokens;
    # in a vocabulary without them it can produce nothing, and the tokenizer is a plain byte-level BPE, as llama.cpp's
    # gpt2 tokenizer is.
    vocab = model.get("vocab") or {}
    no_byte_tokens = not any(f"<0x{b:02X}>" in vocab for b in range(256))
    return no_byte_tokens and "ByteLevel" in _step_types(tokenizer.get("pre_tokenizer"), "pretokenizers")


def _step_types(component: dict[str, Any] | None, steps_key: str) -> list[str | None]:
    """The types of a tokenizer.json pre-tokenizer or decoder, with a ``Sequence`` flattened one level."""
    component = component or {}
    steps = component.get(steps_key, []) if component.get("type") == "Sequence" else [component]
    return [step.get("type") for step in steps]


def _is_gguf(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"


def _write_gpt2(
    writer: GGUFWriter,
    model_dir: Path,
    tokenizer: dict[str, Any],
    vocab_size: int,
    pre: str | None,
    gguf_copy: Path | None,
) -> str:
    texts: dict[int, str] = {i: t for t, i in tokenizer["model"]["vocab"].items()}
    types: dict[int, TokenType] = dict.fromkeys(texts, TokenType.NORMAL)
    for added in tokenizer.get("added_tokens", []):
        texts[added["id"]] = added["content"]
        types[added["id"]] = TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED
    _check_fits(texts, vocab_size, model_dir)
    tokens = [texts.get(i, f"[PAD{i}]") for i in range(vocab_size)]
    toktypes = [int(types.get(i, TokenType.UNUSED)) for i in range(vocab_size)]
    origin = _GGUFTokenizer.read(gguf_copy, tokens) if gguf_copy is not None else None
    if pre is None and origin is not None:
        pre = origin.pre
    if pre is None:
        pre = detect_bpe_pre(tokenizer)
        if pre is None:
            msg = (
                f"The BPE pre-tokenizer in {model_dir / 'tokenizer.json'} ({tokenizer.get('pre_tokenizer')}) is not "
                f"one hag-gguf recognises ({', '.join(KNOWN_PRE_TOKENIZERS)}). Pass the matching llama.cpp name "
                "with `--tokenizer-pre` (`tokenizer_pre=`); a wrong one silently changes tokenization."
            )
            raise UnsupportedModelError(msg)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(toktypes)
    special = SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size)
    if not special.merges:
        msg = f"{model_dir / 'tokenizer.json'} has no BPE merges; llama.cpp cannot load a BPE tokenizer without them."
        raise GGUFExportError(msg)
    described = f"gpt2/{pre}, {vocab_size} tokens, {len(special.merges)} merges"
    if origin is not None:
        origin.apply(special)
        described += f"; pre-tokenizer and special tokens from {origin.path.name} (the GGUF transformers loaded)"
    _add_special(writer, special)
    return described


@dataclass(frozen=True)
class _GGUFTokenizer:
    """What transformers' tokenizer rebuilt from a GGUF loses, read back from the GGUF it was rebuilt from.

    transformers (4.x) builds that tokenizer without the GGUF's pre-tokenizer (SmolLM2's one-digit-at-a-time split
    is gone), with the BOS string as EOS and with ``add_bos_token`` on; the GGUF itself still has all three right.
    """

    _IDS = {
        "bos": Keys.Tokenizer.BOS_ID,
        "eos": Keys.Tokenizer.EOS_ID,
        "unk": Keys.Tokenizer.UNK_ID,
        "sep": Keys.Tokenizer.SEP_ID,
        "pad": Keys.Tokenizer.PAD_ID,
        "mask": Keys.Tokenizer.MASK_ID,
    }
    _ADD = {"bos": Keys.Tokenizer.ADD_BOS, "eos": Keys.Tokenizer.ADD_EOS, "sep": Keys.Tokenizer.ADD_SEP}

    path: Path
    pre: str | None
    ids: dict[str, int]
    add: dict[str, bool]

    @classmethod
    def read(cls, path: Path, tokens: list[str]) -> _GGUFTokenizer:
        """Read ``path``, checking that it holds the same BPE vocabulary as ``tokens`` (from tokenizer.json).

        Raises:
            GGUFExportError: The GGUF is unreadable, not a GPT-2 style BPE, or its tokens differ from ``tokens``.

        """
        try:
            get = read_gguf_metadata(path, arrays=True).get
        except ModelLoadError as e:
            raise GGUFExportError(f"{path} starts like a GGUF file but cannot be read: {e}") from e

        gguf_tokens = get(Keys.Tokenizer.LIST) or []
        if get(Keys.Tokenizer.MODEL) != "gpt2" or gguf_tokens != tokens[: len(gguf_tokens)]:
            msg = (
                f"{path} is a GGUF file (transformers saves the GGUF it loaded a tokenizer from under that name), "
                "but not the byte-level BPE vocabulary of the tokenizer.json beside it, so the pre-tokenizer and "
                "special tokens it would supply cannot be trusted. Delete it and pass `--tokenizer-pre` "
                "(`tokenizer_pre=`), or save the model's original tokenizer next to it."
            )
            raise GGUFExportError(msg)
        ids = {kind: int(v) for kind, key in cls._IDS.items() if (v := get(key)) is not None}
        add = {kind: bool(v) for kind, key in cls._ADD.items() if (v := get(key)) is not None}
        return cls(path, get(Keys.Tokenizer.PRE), ids, add)

    def apply(self, special: SpecialVocab) -> None:
        """Replace what ``special`` read from the tokenizer files with the GGUF's special token ids and flags."""
        special.special_token_ids = dict(self.ids)
        special.add_special_token = dict(self.add)


def _write_sentencepiece(writer: GGUFWriter, model_dir: Path, vocab_size: int) -> str:
    if gguf.vocab.SentencePieceProcessor is None:
        msg = "Converting a SentencePiece tokenizer needs the `sentencepiece` package: `pip install sentencepiece`."
        raise GGUFExportError(msg)
    try:
        spm = SentencePieceVocab(model_dir)
    except (RuntimeError, OSError) as e:
        msg = (
            f"{model_dir / 'tokenizer.model'} is not a SentencePiece model sentencepiece can read ({e}); "
            "save the tokenizer again, or remove the file if tokenizer.json is the model's tokenizer."
        )
        raise GGUFExportError(msg) from e
    texts: dict[int, bytes] = {}
    scores: dict[int, float] = {}
    types: dict[int, TokenType] = {}
    for i, (text, score, toktype) in enumerate(spm.all_tokens()):
        texts[i], scores[i], types[i] = text, score, toktype
    _check_fits(texts, vocab_size, model_dir)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([texts.get(i, f"[PAD{i}]".encode()) for i in range(vocab_size)])
    writer.add_token_scores([float(scores.get(i, -1000.0)) for i in range(vocab_size)])
    writer.add_token_types([int(types.get(i, TokenType.UNUSED)) for i in range(vocab_size)])
    _add_special(writer, SpecialVocab(model_dir, load_merges=False, n_vocab=vocab_size))
    return f"llama (SentencePiece), {vocab_size} tokens"


def _add_special(writer: GGUFWriter, special: SpecialVocab) -> None:
    # llama.cpp falls back to BOS = EOS = 11 and guesses add_bos when these are absent: decide them explicitly.
    if "bos" not in special.special_token_ids or "eos" not in special.special_token_ids:
        msg = (
            "The tokenizer names no BOS or EOS token (tokenizer_config.json `bos_token`/`eos_token`); llama.cpp "
            "would then guess id 11. Set both in the tokenizer and save it again."
        )
        raise GGUFExportError(msg)
    special.add_special_token.setdefault("bos", False)
    special.add_special_token.setdefault("eos", False)
    special.add_to_gguf(writer, quiet=True)


def _check_fits(texts: dict[int, Any], vocab_size: int, model_dir: Path) -> None:
    if texts and max(texts) >= vocab_size:
        msg = (
            f"The tokenizer in {model_dir} has token id {max(texts)}, but the model has only {vocab_size} embedding "
            "rows; resize the embeddings (`model.resize_token_embeddings`) before saving."
        )
        raise GGUFExportError(msg)
