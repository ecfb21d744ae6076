"""A SentencePiece (``tokenizer.model``) llama: the other tokenizer family llama checkpoints ship with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hag_gguf import convert_model, inspect_gguf

from ..tiny_models import SAMPLE_TEXT, TINY_DIMS, TOKENIZER_PROBES, corpus, hf_logits, llama_logits


@pytest.fixture(scope="module")
def spm_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sentencepiece as spm
    import torch
    import transformers

    out = tmp_path_factory.mktemp("models") / "tiny-spm-llama"
    out.mkdir()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_prefix=str(out / "tokenizer"),
        vocab_size=320,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        remove_extra_whitespaces=False,  # as in Llama's tokenizer.model
        normalization_rule_name="identity",
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    transformers.LlamaTokenizer(vocab_file=str(out / "tokenizer.model"), add_bos_token=True).save_pretrained(out)
    config = transformers.LlamaConfig(
        vocab_size=320,
        intermediate_size=128,
        **TINY_DIMS,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(2)
    transformers.LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="module")
def spm_gguf(spm_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_model(spm_model_dir, tmp_path_factory.mktemp("spm") / "spm.gguf", "f32").path


def test_sentencepiece_vocab_keys(spm_gguf):
    meta = inspect_gguf(spm_gguf)["metadata"]
    assert meta["tokenizer.ggml.model"] == "llama"
    assert meta["tokenizer.ggml.add_bos_token"] is True
    assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]) == (1, 2)


def test_sentencepiece_tokens_and_logits(spm_gguf, spm_model_dir):
    import llama_cpp
    import sentencepiece
    from transformers import AutoModelForCausalLM

    sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_dir / "tokenizer.model"))
    llm = llama_cpp.Llama(model_path=str(spm_gguf), vocab_only=True, verbose=False)
    try:
        for text in TOKENIZER_PROBES[:4]:
            assert llm.tokenize(text.encode(), add_bos=True) == [1, *sp.encode(text)], text
    finally:
        llm.close()
    ids = [1, *sp.encode(SAMPLE_TEXT)]
    ref = hf_logits(AutoModelForCausalLM.from_pretrained(spm_model_dir).eval(), ids)
    got = llama_logits(spm_gguf, ids)
    assert np.abs(got - ref).max() <= 0.04
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
