"""The second architecture: a tiny random Qwen2 (q/k/v biases, NEOX RoPE, so no Q/K permutation)."""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest
from hag_gguf import GGUFExportError, convert_adapter, convert_model, inspect_gguf

from ..tiny_models import (
    SAMPLE_TEXT,
    TINY_DIMS,
    TOKENIZER_PROBES,
    build_tokenizer,
    hf_logits,
    llama_logits,
    llama_tokenize,
    make_lora,
)

MAX_ABS_DIFF = {"f32": 0.04, "f16": 0.05, "q8_0": 1.0}


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    import transformers

    out = tmp_path_factory.mktemp("models") / "tiny-qwen2"
    tokenizer = build_tokenizer(out, style="qwen2")
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        intermediate_size=128,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        **TINY_DIMS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(3)
    model = transformers.Qwen2ForCausalLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                param.normal_(0.0, 0.2)  # Qwen2 initialises its q/k/v biases at zero; make them count
    model.save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="module")
def qwen2_model(qwen2_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(qwen2_dir).eval()


@pytest.fixture(scope="module")
def qwen2_ids(qwen2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen2_dir).encode(SAMPLE_TEXT, add_special_tokens=False)


@pytest.mark.parametrize("outtype", list(MAX_ABS_DIFF))
def test_qwen2_logits_match_transformers(outtype, qwen2_dir, qwen2_model, qwen2_ids, tmp_path):
    path = convert_model(qwen2_dir, tmp_path / "q.gguf", outtype).path
    ref = hf_logits(qwen2_model, qwen2_ids)
    got = llama_logits(path, qwen2_ids)
    print(f"qwen2 {outtype}: max abs logit diff {np.abs(got - ref).max():.4f}")
    assert np.abs(got - ref).max() <= MAX_ABS_DIFF[outtype]
    if outtype != "q8_0":
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


def test_qwen2_file_layout_and_tokenizer(qwen2_dir, qwen2_model, tmp_path):
    from transformers import AutoTokenizer

    path = convert_model(qwen2_dir, tmp_path / "q.gguf", "f32").path
    info = inspect_gguf(path)
    assert info["architecture"] == "qwen2"
    assert info["metadata"]["qwen2.rope.freq_base"] == pytest.approx(1e6)
    assert info["metadata"]["tokenizer.ggml.pre"] == "qwen2"
    stored = {t.name: t.data for t in gguf.GGUFReader(path).tensors}
    state = qwen2_model.state_dict()
    # NEOX RoPE: Q/K are stored exactly as in transformers, biases included.
    np.testing.assert_array_equal(stored["blk.0.attn_q.weight"], state["model.layers.0.self_attn.q_proj.weight"])
    np.testing.assert_array_equal(stored["blk.1.attn_k.bias"], state["model.layers.1.self_attn.k_proj.bias"])
    hf = AutoTokenizer.from_pretrained(qwen2_dir)
    for text in TOKENIZER_PROBES:
        assert llama_tokenize(path, text) == hf.encode(text, add_special_tokens=False), text


def test_qwen2_needs_its_qkv_biases(qwen2_dir, tmp_path):
    """llama.cpp's qwen2 requires the q/k/v biases: a checkpoint without one is refused before anything is written."""
    from safetensors.numpy import load_file, save_file

    ckpt = shutil.copytree(qwen2_dir, tmp_path / "no-bias")
    weights = load_file(ckpt / "model.safetensors")
    del weights["model.layers.1.self_attn.v_proj.bias"]
    save_file(weights, ckpt / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(GGUFExportError, match=r"lacks 1 tensor\(s\) a qwen2 model needs, e.g. \['blk.1.attn_v.bias'\]"):
        convert_model(ckpt, tmp_path / "q.gguf", "f32")
    assert not (tmp_path / "q.gguf").exists()


def test_qwen2_adapter_reproduces_peft(qwen2_dir, qwen2_model, qwen2_ids, tmp_path):
    lora_dir, peft_model = make_lora(qwen2_dir, tmp_path / "lora")
    expected = hf_logits(peft_model, qwen2_ids)
    base = convert_model(qwen2_dir, tmp_path / "base.gguf", "f32").path
    adapter = convert_adapter(lora_dir, tmp_path / "a.gguf", qwen2_dir).path
    assert inspect_gguf(adapter)["architecture"] == "qwen2"
    got = llama_logits(base, qwen2_ids, lora_path=str(adapter))
    assert np.abs(expected - hf_logits(qwen2_model, qwen2_ids)).max() > 1.0
    assert np.abs(got - expected).max() <= 0.04
