"""Atomic writes and refusals for unusable inputs."""

from __future__ import annotations

import json
import shutil

import pytest
from hag_gguf import GGUFExportError, UnsupportedModelError, convert_model, inspect_gguf


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "copy")


def test_failure_mid_write_leaves_the_previous_file(model_copy, tmp_path):
    dest = tmp_path / "out" / "model.gguf"
    dest.parent.mkdir()
    convert_model(model_copy, dest, "f32")
    before = dest.read_bytes()
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # later tensors now unreadable
    with pytest.raises(GGUFExportError, match="truncated"):
        convert_model(model_copy, dest, "f16")
    assert dest.read_bytes() == before
    assert [p.name for p in dest.parent.iterdir()] == ["model.gguf"]  # no temporary left behind


def test_failure_mid_write_leaves_no_file(model_copy, tmp_path):
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(GGUFExportError, match="truncated"):
        convert_model(model_copy, out / "model.gguf", "q8_0")
    assert list(out.iterdir()) == []


def test_missing_output_directory(tiny_model_dir, tmp_path):
    with pytest.raises(GGUFExportError, match="does not exist; create it first"):
        convert_model(tiny_model_dir, tmp_path / "nope" / "m.gguf")


def test_unknown_outtype(tiny_model_dir, tmp_path):
    with pytest.raises(GGUFExportError, match="`outtype` must be one of f32, f16, bf16, q8_0, q4_0, q4_1"):
        convert_model(tiny_model_dir, tmp_path / "m.gguf", "q4_k")


def test_missing_weights(model_copy, tmp_path):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(GGUFExportError, match="No `model\\*.safetensors`"):
        convert_model(model_copy, tmp_path / "m.gguf")


def test_missing_tensor(model_copy, tmp_path):
    cfg = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 3}))
    with pytest.raises(GGUFExportError, match="lacks .* tensor"):
        convert_model(model_copy, tmp_path / "m.gguf")


def test_unknown_pre_tokenizer_needs_an_explicit_name(model_copy, tmp_path):
    tok = json.loads((model_copy / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "use_regex": False, "trim_offsets": True}
    (model_copy / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(UnsupportedModelError, match="--tokenizer-pre"):
        convert_model(model_copy, tmp_path / "m.gguf")
    path = convert_model(model_copy, tmp_path / "m.gguf", tokenizer_pre="gpt-2").path
    assert inspect_gguf(path)["metadata"]["tokenizer.ggml.pre"] == "gpt-2"


def test_tokenizer_larger_than_the_model(model_copy, tmp_path):
    cfg = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**cfg, "vocab_size": 100}))
    with pytest.raises(GGUFExportError, match="resize the embeddings"):
        convert_model(model_copy, tmp_path / "m.gguf")


def test_unsupported_rope_scaling(model_copy, tmp_path):
    cfg = json.loads((model_copy / "config.json").read_text())
    cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0}
    (model_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedModelError, match="RoPE scaling"):
        convert_model(model_copy, tmp_path / "m.gguf")


def _write_vocab_gguf(path, tokens):
    """A GGUF holding only a GPT-2 style token list, as a stand-in for the model file transformers copies."""
    import gguf

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()


def test_gguf_as_tokenizer_model_beside_a_sentencepiece_style_tokenizer_json(model_copy, tmp_path):
    """transformers' copy of a GGUF under the SentencePiece name is recognised, not taken for a broken SentencePiece."""
    _write_vocab_gguf(model_copy / "tokenizer.model", ["a", "b"])
    tok = json.loads((model_copy / "tokenizer.json").read_text())
    tok["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    (model_copy / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(UnsupportedModelError, match="tokenizer.model is a GGUF file, not a SentencePiece model"):
        convert_model(model_copy, tmp_path / "m.gguf")


def test_gguf_as_tokenizer_model_with_another_vocabulary(model_copy, tmp_path):
    _write_vocab_gguf(model_copy / "tokenizer.model", ["a", "b"])
    with pytest.raises(GGUFExportError, match="not the byte-level BPE vocabulary of the tokenizer.json beside it"):
        convert_model(model_copy, tmp_path / "m.gguf")
    (model_copy / "tokenizer.model").unlink()  # the remedy the message names
    path = convert_model(model_copy, tmp_path / "m.gguf").path
    assert inspect_gguf(path)["metadata"]["tokenizer.ggml.pre"] == "smollm"


def test_unreadable_sentencepiece_model(model_copy, tmp_path):
    (model_copy / "tokenizer.json").unlink()
    (model_copy / "tokenizer.model").write_bytes(b"not a protobuf")
    with pytest.raises(GGUFExportError, match="tokenizer.model is not a SentencePiece model sentencepiece can read"):
        convert_model(model_copy, tmp_path / "m.gguf")
