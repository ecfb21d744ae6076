"""A checkpoint whose tokenizer transformers loaded from a GGUF (``gguf_file=``) and saved again (``save_pretrained``).

transformers writes the GGUF itself as ``tokenizer.model`` and a ``tokenizer.json`` that is a byte-level BPE with
``byte_fallback`` and a decoder ``Sequence``; it drops SmolLM2's digit split and names the BOS string as EOS.
llama.cpp's convert_hf_to_gguf.py stops on such a checkpoint ("could not parse ModelProto" from sentencepiece);
hag-gguf takes the tokens from tokenizer.json and the rest from the GGUF copy, and gets the original tokenizer back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gguf
import pytest
from hag_gguf import convert_model, inspect_gguf

from ..tiny_models import TOKENIZER_PROBES

# Spaces before digits are where SmolLM2's pre-tokenizer ("smollm": every digit alone first) and the GPT-2 regex
# transformers keeps disagree.
PROBES = [
    *TOKENIZER_PROBES,
    "Order 66: 1234567890, 3.14159265, 2026-11-26T07:40Z, 0x1F",
    "a  1 b   22 c\t333  x  2026",
    "Größe über Straße — déjà vu, 東京都, Привет мир, مرحبا, 😀👍",
]
TOKENIZER_KEYS = [
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.chat_template",
]


def _tokenizer_fields(path: Path) -> dict:
    fields = gguf.GGUFReader(path).fields
    return {k: fields[k].contents() if k in fields else None for k in TOKENIZER_KEYS}


def _llama_token_ids(path: Path) -> list[list[int]]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return [llm.tokenize(text.encode(), add_bos=False, special=True) for text in PROBES]
    finally:
        llm.close()


def _assert_same_tokenizer(converted: Path, original: Path) -> None:
    got, expected = _tokenizer_fields(converted), _tokenizer_fields(original)
    for key in TOKENIZER_KEYS:
        assert got[key] == expected[key], key
    for text, got_ids, expected_ids in zip(PROBES, _llama_token_ids(converted), _llama_token_ids(original)):
        assert got_ids == expected_ids, text


def _as_transformers_saves_it(tokenizer_json: Path) -> None:
    """Rewrite a byte-level BPE tokenizer.json the way transformers (4.x) builds one from a GGUF."""
    tok = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    tok["model"]["byte_fallback"] = True
    tok["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}
    tok["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        ],
    }
    tokenizer_json.write_text(json.dumps(tok), encoding="utf-8")


def test_tiny_checkpoint_gets_its_gguf_tokenizer_back(tiny_model_dir, tmp_path):
    """Test the same shape on the tiny llama: its GGUF as tokenizer.model, tokenizer files as transformers has them."""
    original = convert_model(tiny_model_dir, tmp_path / "tiny.gguf", "f32").path
    ckpt = shutil.copytree(tiny_model_dir, tmp_path / "via-transformers")
    shutil.copy2(original, ckpt / "tokenizer.model")
    _as_transformers_saves_it(ckpt / "tokenizer.json")
    cfg = json.loads((ckpt / "tokenizer_config.json").read_text())
    cfg.update(eos_token="<|im_start|>", add_bos_token=True)  # transformers' GGUF tokenizer: BOS string as EOS
    (ckpt / "tokenizer_config.json").write_text(json.dumps(cfg))

    report = convert_model(ckpt, tmp_path / "back.gguf", "f32")
    assert "from tokenizer.model (the GGUF transformers loaded)" in report.details["tokenizer"]
    _assert_same_tokenizer(report.path, original)


@pytest.fixture(scope="module")
def smollm2_via_transformers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """SmolLM2's tokenizer as `AutoTokenizer.from_pretrained(..., gguf_file=...)` saves it, beside a 2-layer model.

    The tokenizer is what is under test; the real weights go through transformers in test_smollm2.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from hag_chain import default_model_path

    original = Path(default_model_path())
    out = tmp_path_factory.mktemp("via-transformers") / "smollm2"
    kwargs = {"gguf_file": original.name}
    AutoTokenizer.from_pretrained(original.parent, **kwargs).save_pretrained(out)
    config = AutoConfig.from_pretrained(original.parent, **kwargs)
    config.num_hidden_layers = 2
    AutoModelForCausalLM.from_config(config).save_pretrained(out, safe_serialization=True)
    return original, out


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_tokenizer_saved_by_transformers(smollm2_via_transformers, tmp_path):
    import llama_cpp

    original, ckpt = smollm2_via_transformers
    # The checkpoint is what the issue describes: a GGUF under the SentencePiece name, byte fallback, no digit split,
    # EOS named as the BOS string.
    assert (ckpt / "tokenizer.model").read_bytes()[:4] == b"GGUF"
    tok = json.loads((ckpt / "tokenizer.json").read_text(encoding="utf-8"))
    assert tok["model"]["byte_fallback"] and tok["decoder"]["type"] == "Sequence"
    assert json.loads((ckpt / "tokenizer_config.json").read_text())["eos_token"] == "<|im_start|>"

    path = convert_model(ckpt, tmp_path / "smollm2.gguf", "f16").path
    assert inspect_gguf(path)["metadata"]["tokenizer.ggml.pre"] == "smollm"
    _assert_same_tokenizer(path, original)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_threads=1, verbose=False)  # the whole file loads
    try:
        ids = llm.tokenize(b"The capital of France is", add_bos=False)
        llm.eval(ids)
        assert llm.n_tokens == len(ids)
    finally:
        llm.close()
