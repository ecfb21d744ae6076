"""peft LoRA → GGUF adapter (and merged model) on the tiny llama, checked against peft in llama.cpp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hag_gguf import GGUFExportError, UnsupportedModelError, convert_adapter, convert_model, inspect_gguf, merge_adapter

from ..tiny_models import ADAPTER_TOLERANCE, hf_logits, llama_logits, load_hf, make_lora


@pytest.fixture(scope="module")
def base_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_model(tiny_model_dir, tmp_path_factory.mktemp("base") / "base-f32.gguf", "f32").path


@pytest.fixture(scope="module")
def base_logits(tiny_model_dir: Path, sample_ids: list[int]) -> np.ndarray:
    return hf_logits(load_hf(tiny_model_dir), sample_ids)


@pytest.mark.parametrize(
    "variant",
    [{}, {"use_rslora": True}, {"alpha_pattern": {"q_proj": 4}, "rank_pattern": {"down_proj": 4}}],
    ids=["plain", "rslora", "patterns"],
)
def test_adapter_reproduces_peft(variant, tiny_model_dir, base_gguf, base_logits, sample_ids, tmp_path):
    lora_dir, peft_model = make_lora(tiny_model_dir, tmp_path / "lora", **variant)
    expected = hf_logits(peft_model, sample_ids)
    adapter = convert_adapter(lora_dir, tmp_path / "adapter.gguf", tiny_model_dir).path
    got = llama_logits(base_gguf, sample_ids, lora_path=str(adapter))
    diff = np.abs(got - expected).max()
    print(
        f"adapter {variant}: max abs diff vs peft {diff:.4f}; adapter effect {np.abs(expected - base_logits).max():.2f}"
    )
    assert diff <= ADAPTER_TOLERANCE
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))


def test_adapter_changes_output_and_scale_zero_is_the_base(
    tiny_model_dir, base_gguf, base_logits, sample_ids, tmp_path
):
    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora")
    adapter = str(convert_adapter(lora_dir, tmp_path / "adapter.gguf", tiny_model_dir).path)
    on = llama_logits(base_gguf, sample_ids, lora_path=adapter, lora_scale=1.0)
    off = llama_logits(base_gguf, sample_ids, lora_path=adapter, lora_scale=0.0)
    plain = llama_logits(base_gguf, sample_ids)
    assert np.abs(on - off).max() > 1.0
    assert np.abs(off - plain).max() <= 1e-4
    assert np.abs(off - base_logits).max() <= ADAPTER_TOLERANCE


def test_adapter_file_layout(tiny_model_dir, tmp_path):
    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "my-lora", target_modules=["q_proj", "k_proj"])
    info = inspect_gguf(convert_adapter(lora_dir, tmp_path / "a.gguf", tiny_model_dir, "q8_0").path)
    meta = info["metadata"]
    assert (info["architecture"], info["type"]) == ("llama", "adapter")
    assert meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == pytest.approx(16.0)
    assert meta["general.name"] == "my-lora"
    assert info["hag"]["hag.base_model"] == "tiny-llama"
    tensors = {t["name"]: t for t in info["tensors"]}
    assert set(tensors) == {f"blk.{i}.attn_{m}.weight.lora_{ab}" for i in (0, 1) for m in "qk" for ab in "ab"}
    a, b = tensors["blk.0.attn_k.weight.lora_a"], tensors["blk.0.attn_k.weight.lora_b"]
    assert a["shape"] == [8, 64] and b["shape"] == [32, 8]
    assert a["type"] == "Q8_0" and b["type"] == "F16"  # lora_b rows are r = 8 long: no q8_0 block fits


def test_base_model_name_matches_the_converted_base(tiny_model_dir, base_gguf, tmp_path):
    from hag_chain import HAGKeys, read_gguf_metadata

    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora")
    adapter = convert_adapter(lora_dir, tmp_path / "a.gguf", tiny_model_dir).path
    assert read_gguf_metadata(str(adapter))[HAGKeys.BASE_MODEL] == read_gguf_metadata(str(base_gguf))["general.name"]
    renamed = convert_adapter(lora_dir, tmp_path / "b.gguf", tiny_model_dir, base_name="SmolLM2-135M-Instruct").path
    assert read_gguf_metadata(str(renamed))[HAGKeys.BASE_MODEL] == "SmolLM2-135M-Instruct"


def test_an_adapter_of_another_base_name_warns_at_the_caller(tiny_model_dir, base_gguf, tmp_path):
    import warnings

    from hag_chain import ModelKey, load_model

    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora")
    own = convert_adapter(lora_dir, tmp_path / "own.gguf", tiny_model_dir).path
    other = convert_adapter(lora_dir, tmp_path / "other.gguf", tiny_model_dir, base_name="SmolLM2-135M-Instruct").path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(ModelKey(str(base_gguf), str(own), n_ctx=64))
    with pytest.warns(UserWarning, match="other.gguf was trained on base model 'SmolLM2-135M-Instruct'") as record:
        load_model(ModelKey(str(base_gguf), str(other), n_ctx=64))
    assert [w.filename for w in record] == [__file__]  # pointed at the code that loaded it


def test_merge_reproduces_peft(tiny_model_dir, sample_ids, tmp_path):
    lora_dir, peft_model = make_lora(tiny_model_dir, tmp_path / "lora")
    expected = hf_logits(peft_model, sample_ids)
    report = merge_adapter(lora_dir, tmp_path / "merged.gguf", tiny_model_dir, "f32")
    assert report.kind == "model"
    assert inspect_gguf(report.path)["metadata"]["general.name"] == "lora"
    assert np.abs(llama_logits(report.path, sample_ids) - expected).max() <= ADAPTER_TOLERANCE
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # temporary checkpoint removed


def test_merge_handles_dora_that_an_adapter_cannot(tiny_model_dir, sample_ids, tmp_path):
    lora_dir, peft_model = make_lora(tiny_model_dir, tmp_path / "dora", use_dora=True, target_modules=["v_proj"])
    with pytest.raises(UnsupportedModelError, match="DoRA.*hag-gguf merge"):
        convert_adapter(lora_dir, tmp_path / "a.gguf", tiny_model_dir)
    assert not (tmp_path / "a.gguf").exists()
    merged = merge_adapter(lora_dir, tmp_path / "m.gguf", tiny_model_dir, "f32").path
    expected = hf_logits(peft_model, sample_ids)
    assert np.abs(llama_logits(merged, sample_ids) - expected).max() <= ADAPTER_TOLERANCE


def test_refuses_lm_head_on_a_tied_model(tiny_model_dir, tmp_path):
    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora", target_modules=["q_proj", "lm_head"])
    with pytest.raises(UnsupportedModelError, match="lm_head.*tie"):
        convert_adapter(lora_dir, tmp_path / "a.gguf", tiny_model_dir)
    with pytest.raises(UnsupportedModelError, match="lm_head"):
        merge_adapter(lora_dir, tmp_path / "m.gguf", tiny_model_dir)


def test_lm_head_on_an_untied_model_is_exported(tiny_untied_dir, sample_ids, tmp_path):
    lora_dir, peft_model = make_lora(tiny_untied_dir, tmp_path / "lora", target_modules=["q_proj", "lm_head"])
    adapter = convert_adapter(lora_dir, tmp_path / "a.gguf", tiny_untied_dir).path
    assert "output.weight.lora_b" in {t["name"] for t in inspect_gguf(adapter)["tensors"]}
    base = convert_model(tiny_untied_dir, tmp_path / "base.gguf", "f32").path
    got = llama_logits(base, sample_ids, lora_path=str(adapter))
    assert np.abs(got - hf_logits(peft_model, sample_ids)).max() <= ADAPTER_TOLERANCE


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"bias": "lora_only"}, "trains biases"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"peft_type": "IA3"}, "only peft LoRA"),
    ],
)
def test_refuses_adapters_llama_cpp_cannot_apply(change, match, tiny_model_dir, tmp_path):
    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora", target_modules=["q_proj"])
    cfg_path = lora_dir / "adapter_config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), **change}))
    with pytest.raises(UnsupportedModelError, match=match):
        convert_adapter(lora_dir, tmp_path / "a.gguf", tiny_model_dir)


def test_refuses_a_non_llama_base(tiny_model_dir, tmp_path):
    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora", target_modules=["q_proj"])
    other = tmp_path / "mistral"
    shutil.copytree(tiny_model_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(
        json.dumps({**cfg, "model_type": "mistral", "architectures": ["MistralForCausalLM"]})
    )
    with pytest.raises(UnsupportedModelError, match="hag-gguf converts LlamaForCausalLM, Qwen2ForCausalLM"):
        convert_adapter(lora_dir, tmp_path / "a.gguf", other)
    with pytest.raises(UnsupportedModelError, match="hag-gguf converts LlamaForCausalLM, Qwen2ForCausalLM"):
        convert_model(other, tmp_path / "m.gguf")


def test_refuses_an_adapter_for_another_base(tiny_model_dir, tmp_path):
    import torch
    import transformers

    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora", target_modules=["q_proj", "down_proj"])
    other = tmp_path / "wider-llama"
    config = transformers.AutoConfig.from_pretrained(tiny_model_dir)
    config.intermediate_size = 160
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(other, safe_serialization=True)
    with pytest.raises(GGUFExportError, match="trained on another base model"):
        convert_adapter(lora_dir, tmp_path / "a.gguf", other)
    assert not (tmp_path / "a.gguf").exists()
