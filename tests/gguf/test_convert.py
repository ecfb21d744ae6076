"""Full-model conversion of a tiny random llama: logits against transformers for every outtype."""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest
from hag_gguf import OUTTYPES, convert_model, inspect_gguf

from ..tiny_models import TOKENIZER_PROBES, hf_logits, llama_logits, llama_tokenize, load_hf

# Measured on the tiny model (2 layers, hidden 64, weights ~N(0, 0.2), logits of order 5):
# f32 0.007, f16 0.018, bf16 0.13, q8_0 0.43, q4_0 3.1, q4_1 3.7 max abs difference. Bounds leave headroom.
MAX_ABS_DIFF = {"f32": 0.04, "f16": 0.05, "bf16": 0.3, "q8_0": 1.0, "q4_0": 6.0, "q4_1": 6.0}
MIN_CORRELATION = {"f32": 0.9999, "f16": 0.9999, "bf16": 0.999, "q8_0": 0.99, "q4_0": 0.8, "q4_1": 0.8}


@pytest.fixture(scope="module")
def reference_logits(tiny_model_dir: Path, sample_ids: list[int]) -> np.ndarray:
    return hf_logits(load_hf(tiny_model_dir), sample_ids)


@pytest.fixture(scope="module")
def converted(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("converted")
    return {t: convert_model(tiny_model_dir, out / f"tiny-{t}.gguf", t).path for t in OUTTYPES}


@pytest.mark.parametrize("outtype", list(OUTTYPES))
def test_logits_match_transformers(outtype, converted, reference_logits, sample_ids):
    got = llama_logits(converted[outtype], sample_ids)
    diff = np.abs(got - reference_logits).max()
    corr = np.corrcoef(got.ravel(), reference_logits.ravel())[0, 1]
    print(f"{outtype}: max abs logit diff {diff:.4f}, correlation {corr:.6f}")
    assert diff <= MAX_ABS_DIFF[outtype]
    assert corr >= MIN_CORRELATION[outtype]
    if outtype in ("f32", "f16"):
        np.testing.assert_array_equal(got.argmax(axis=1), reference_logits.argmax(axis=1))


def test_untied_model_writes_output_matrix(tiny_untied_dir, sample_ids, tmp_path):
    out = convert_model(tiny_untied_dir, tmp_path / "untied.gguf", "f32").path
    names = {t["name"] for t in inspect_gguf(out)["tensors"]}
    assert "output.weight" in names
    ref = hf_logits(load_hf(tiny_untied_dir), sample_ids)
    assert np.abs(llama_logits(out, sample_ids) - ref).max() <= MAX_ABS_DIFF["f32"]


def test_tied_model_has_no_output_matrix(converted):
    names = {t["name"] for t in inspect_gguf(converted["f32"])["tensors"]}
    assert "output.weight" not in names
    assert "token_embd.weight" in names


def test_header_keys(converted, tiny_model_dir):
    meta = inspect_gguf(converted["q8_0"])["metadata"]
    assert meta["general.architecture"] == "llama"
    assert meta["general.type"] == "model"
    assert meta["general.name"] == "tiny-llama"
    assert meta["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0
    assert meta["llama.rope.freq_base"] == pytest.approx(50000.0)
    assert meta["llama.attention.head_count_kv"] == 2
    assert meta["llama.rope.dimension_count"] == 16
    assert meta["tokenizer.ggml.model"] == "gpt2"
    assert meta["tokenizer.ggml.pre"] == "smollm"
    assert meta["tokenizer.ggml.add_bos_token"] is False
    assert "<|im_start|>" in meta["tokenizer.chat_template"]
    reader = gguf.GGUFReader(converted["q8_0"])
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    assert tokens[meta["tokenizer.ggml.bos_token_id"]] == "<|im_start|>"
    assert tokens[meta["tokenizer.ggml.eos_token_id"]] == "<|im_end|>"
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    assert types[:3] == [gguf.TokenType.CONTROL] * 3
    assert set(types[3:]) == {gguf.TokenType.NORMAL}


@pytest.mark.parametrize("outtype", ["q8_0", "q4_0", "q4_1"])
def test_quantized_types_and_f16_fallback(outtype, converted, tiny_model_dir, tmp_path):
    report = convert_model(tiny_model_dir, tmp_path / "m.gguf", outtype)
    types = {t["name"]: t["type"] for t in inspect_gguf(report.path)["tensors"]}
    # ffn_down rows are 144 long, not a multiple of the 32-element block: f16, and the report says so.
    assert types["blk.0.ffn_down.weight"] == "F16"
    assert "f16 fallback" in report.notes["blk.0.ffn_down.weight"]
    assert types["blk.0.attn_q.weight"] == outtype.upper()
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert types["token_embd.weight"] == "Q8_0"
    assert "blk.0.attn_q.weight" not in report.notes
    assert report.tensor_types[outtype.upper()] == sum(1 for t in types.values() if t == outtype.upper())


def test_llama_cpp_tokenizes_like_transformers(converted, tiny_model_dir):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_model_dir)
    for text in TOKENIZER_PROBES:
        assert llama_tokenize(converted["f16"], text) == hf.encode(text, add_special_tokens=False), text


def test_transformers_reads_back_the_original_weights(converted, tiny_model_dir):
    """transformers undoes the Q/K permutation when loading a GGUF, so f32 weights must round-trip exactly."""
    from transformers import AutoModelForCausalLM

    path = converted["f32"]
    back = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).state_dict()
    orig = load_hf(tiny_model_dir).state_dict()
    for name in ("model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight"):
        np.testing.assert_array_equal(back[name].numpy(), orig[name].numpy())


def test_qk_permutation_changes_rows(converted, tiny_model_dir):
    """The Q matrix in the file is a row permutation of HF's, not a copy (guards against a no-op permute)."""
    orig = load_hf(tiny_model_dir).state_dict()["model.layers.0.self_attn.q_proj.weight"].numpy()
    reader = gguf.GGUFReader(converted["f32"])
    stored = next(t for t in reader.tensors if t.name == "blk.0.attn_q.weight").data
    assert not np.array_equal(stored, orig)
    assert sorted(map(tuple, stored)) == sorted(map(tuple, orig))


def test_bf16_and_sharded_checkpoints(tiny_model_dir, tmp_path):
    """Real checkpoints are often bfloat16 and split into shards; both read exactly."""
    import torch

    model = load_hf(tiny_model_dir).to(torch.bfloat16)
    ckpt = tmp_path / "bf16-sharded"
    model.save_pretrained(ckpt, safe_serialization=True, max_shard_size="40KB")
    for file in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy2(tiny_model_dir / file, ckpt / file)
    assert len(list(ckpt.glob("model-*-of-*.safetensors"))) > 1
    path = convert_model(ckpt, tmp_path / "m.gguf", "f32").path
    stored = {t.name: t.data for t in gguf.GGUFReader(path).tensors}
    expected = model.state_dict()
    np.testing.assert_array_equal(stored["token_embd.weight"], expected["model.embed_tokens.weight"].float().numpy())
    np.testing.assert_array_equal(
        stored["blk.1.ffn_down.weight"], expected["model.layers.1.mlp.down_proj.weight"].float().numpy()
    )
