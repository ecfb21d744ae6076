"""The architecture registry: one registration adds an architecture, a name is taken once, refusals list them all."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
from gguf import MODEL_ARCH
from hag_gguf import (
    ARCHITECTURES,
    Architecture,
    UnsupportedModelError,
    convert_model,
    inspect_gguf,
    register_architecture,
)
from hag_gguf.architecture import LLAMA_BLOCK_TENSORS, write_llama_hparams

from hag_chain.registry import DuplicateEntryError, Registry

from ..tiny_models import hf_logits, llama_logits, load_hf


def _write_with_marker(writer, hp):
    write_llama_hparams(writer, hp)
    writer.add_string("test.header", f"{hp.n_layers} layers")


@pytest.fixture
def my_llama():
    """A llama under another transformers class name, with its own header writer; unregistered afterwards."""
    arch = Architecture(
        "MyLlamaForCausalLM",
        "my_llama",
        MODEL_ARCH.LLAMA,
        "a test variant of llama",
        permute_qk=True,
        write_hparams=_write_with_marker,
    )
    yield register_architecture(arch)
    ARCHITECTURES.unregister(arch.hf_class)


@pytest.mark.unit
def test_builtin_architectures():
    assert isinstance(ARCHITECTURES, Registry)
    assert list(ARCHITECTURES) == ["LlamaForCausalLM", "Qwen2ForCausalLM", "Gemma3ForCausalLM"]
    llama, qwen2, gemma3 = ARCHITECTURES.values()
    assert (llama.name, llama.permute_qk, llama.block_tensors) == ("llama", True, LLAMA_BLOCK_TENSORS)
    assert (qwen2.name, qwen2.permute_qk) == ("qwen2", False)
    assert {"attn_q.bias", "attn_k.bias", "attn_v.bias"} == set(qwen2.block_tensors) - set(LLAMA_BLOCK_TENSORS)
    # Gemma 3: adapters only (no whole-model header writer), NEOX RoPE, the extra norms around each sublayer.
    assert (gemma3.name, gemma3.model_type, gemma3.permute_qk, gemma3.write_hparams) == (
        "gemma3",
        "gemma3_text",
        False,
        None,
    )
    assert {"attn_q_norm.weight", "post_ffw_norm.weight"} <= set(gemma3.block_tensors)


@pytest.mark.unit
@pytest.mark.parametrize("hf_class", ["LlamaForCausalLM", "Qwen2ForCausalLM"])
def test_a_name_is_registered_once(hf_class):
    before = dict(ARCHITECTURES)
    with pytest.raises(DuplicateEntryError, match=f"named '{hf_class}' is already registered"):
        register_architecture(replace(ARCHITECTURES[hf_class], description="another one"))
    assert dict(ARCHITECTURES) == before


@pytest.mark.unit
def test_registry_is_read_only():
    with pytest.raises(TypeError):
        ARCHITECTURES["MistralForCausalLM"] = ARCHITECTURES["LlamaForCausalLM"]  # type: ignore[index]


def test_one_registration_adds_an_architecture(my_llama, tiny_model_dir, sample_ids, tmp_path):
    ckpt = shutil.copytree(tiny_model_dir, tmp_path / "my-llama")
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(
        json.dumps({**cfg, "architectures": [my_llama.hf_class], "model_type": "my_llama"})
    )
    path = convert_model(ckpt, tmp_path / "m.gguf", "f32").path
    meta = inspect_gguf(path)["metadata"]
    assert (meta["general.architecture"], meta["test.header"]) == ("llama", "2 layers")
    ref = hf_logits(load_hf(tiny_model_dir), sample_ids)
    assert np.abs(llama_logits(path, sample_ids) - ref).max() <= 0.04  # Q/K permuted as for llama


def test_refusal_lists_every_architecture(my_llama, tiny_model_dir, tmp_path):
    ckpt = shutil.copytree(tiny_model_dir, tmp_path / "gemma")
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "architectures": ["GemmaForCausalLM"], "model_type": "gemma"}))
    expected = (
        "hag-gguf converts LlamaForCausalLM, Qwen2ForCausalLM, Gemma3ForCausalLM, MyLlamaForCausalLM checkpoints "
        "(SmolLM2, the Llama family; Qwen2, Qwen2.5; Gemma 3 text models, adapters only; a test variant of llama)"
    )
    with pytest.raises(UnsupportedModelError, match=re.escape(expected)):
        convert_model(ckpt, tmp_path / "m.gguf")
