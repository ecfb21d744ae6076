"""The real instruction-following bases: each GGUF back to transformers, an aLoRA tuned on it, exported.

Gemma 3 270M (gemma3, a SentencePiece vocabulary of 262,144 pieces, a GGUF without a chat template) and
Qwen2.5-Coder-0.5B-Instruct (qwen2, byte-level BPE with Qwen's own split pattern, ChatML), both Q4_K_M files of
their registry packages, by name. Logits are compared on a float32 copy of each file
(:func:`tests.tiny_models.dequantized_copy`): on the K-quant file itself llama.cpp's quantized activations put them a
few units apart (measured on Gemma: at most 4.0 on logits of magnitude 97, the same argmax everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hag_gguf import UnsupportedModelError, convert_model, inspect_gguf
from hag_training import get_task
from hag_training.labels import load_records
from hag_training.sft import train_adapter
from hag_training.sft_config import SFTConfig

from hag_chain import MODELS, ChatHAG, ModelKey, invocation_text, load_model, planner_messages
from hag_chain.chat.planner import with_planner_suffix
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

#: transformers (float32) against llama.cpp on the float32 copy, same prompt (measured: Gemma about 0.06).
BASE_TOLERANCE = 0.15
#: Tuning epochs on the miniature labels. Measured: after 15, the Qwen planner on its Q4_K_M file still gave
#: "Write a story about a fox." the maths code.
EPOCHS = {"gemma3-270m": 15, "qwen2.5-coder-0.5b": 25}


@dataclass(frozen=True)
class Real:
    name: str
    gguf: Path
    f32: Path
    tuned: object

    @property
    def base_dir(self) -> Path:
        return self.tuned.adapter_path.parent / "base-hf"

    @property
    def invocation(self) -> str:
        return invocation_text(load_model(ModelKey(str(self.gguf), n_ctx=256)).render, TUNED_PROMPT_VERSION)


@pytest.fixture(scope="module", params=["gemma3-270m", "qwen2.5-coder-0.5b"])
def real(request, labels, tmp_path_factory) -> Real:
    """An aLoRA tuned on the real model from its GGUF file (converted to a transformers checkpoint on the way)."""
    gguf = Path(MODELS[request.param].path())
    f32 = dequantized_copy(gguf, tmp_path_factory.mktemp("f32") / f"{request.param}-f32.gguf")
    config = SFTConfig(epochs=EPOCHS[request.param], learning_rate=1e-2, batch_size=4, top_layers=2, outtype="f32")
    tuned = train_adapter(labels, tmp_path_factory.mktemp(f"sft-{request.param}"), config, base=gguf, progress=False)
    return Real(request.param, gguf, f32, tuned)


def _prompts(real: Real) -> list[str]:
    texts = [
        *TOKENIZER_PROBES,
        real.invocation,
        "  def f(x):\n\treturn x**2  # (squared)",
        "Order 66: 1234567890, 3.14159265\n\n\n  indented\ttab",
        "a  1 b   22",
    ]
    for name in ("arithmetic", "translation", "pig_latin", "haiku"):
        task = get_task(name)
        texts += [task.messages(e)[0]["content"] for e in task.split(0).train[:12]]
    return texts


def test_the_tokenizer_rebuilt_from_the_gguf_splits_text_as_llama_cpp(real):
    import llama_cpp
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real.base_dir)
    llm = llama_cpp.Llama(model_path=str(real.gguf), vocab_only=True, verbose=False)
    try:
        for text in _prompts(real):
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert ids == llm.tokenize(text.encode(), add_bos=False, special=True), text
            assert tokenizer.decode(ids) == text
    finally:
        llm.close()
    if real.name == "gemma3-270m":
        # transformers' own GGUF tokenizer is a Unigram model: "Hello world" in 4 pieces, not SentencePiece's 2.
        assert len(tokenizer("Hello world", add_special_tokens=False).input_ids) == 2
        assert tokenizer("Hi").input_ids[0] == tokenizer.bos_token_id == 2


def test_the_checkpoint_computes_what_llama_cpp_computes(real):
    model = load_model(ModelKey(str(real.f32), n_ctx=256))
    ids = model.prompt_tokens([{"role": "user", "content": "What is 7 times 8? Reply with the number only."}])
    got = hf_logits(load_hf(real.base_dir), ids)
    llm_logits = llama_logits(real.f32, ids, n_ctx=512)
    assert np.abs(got - llm_logits).max() <= BASE_TOLERANCE
    assert (got.argmax(1) == llm_logits.argmax(1)).all()


def test_the_alora_export_reproduces_peft_on_the_planner_turn(real, labels):
    from peft import PeftModel

    tuned, base_dir = real.tuned, real.base_dir
    model = load_model(ModelKey(str(real.gguf), str(tuned.adapter_path), n_ctx=512))
    invocation = model.tokenize(real.invocation)
    assert model.is_alora and list(model.invocation) == invocation
    assert inspect_gguf(tuned.adapter_path)["metadata"]["general.architecture"] == MODELS[real.name].architecture

    record = load_records(labels)[0]
    prompt = with_planner_suffix(
        model, model.prompt_tokens(planner_messages(record.messages, TUNED_PROMPT_VERSION)), TUNED_PROMPT_VERSION
    )
    values = SPACE.parse(record.label_line).model_dump(include=set(SPACE.knobs))
    ids = prompt + model.tokenize(planner_reply(SPACE, values, TUNED_PROMPT_VERSION), special=False)
    start = len(prompt) - len(invocation)
    base = hf_logits(load_hf(base_dir), ids)
    peft_logits = hf_logits(PeftModel.from_pretrained(load_hf(base_dir), tuned.peft_dir).eval(), ids)
    np.testing.assert_array_equal(peft_logits[:start], base[:start])

    got = llama_logits(real.f32, ids, adapter=tuned.adapter_path, adapter_from=start, n_ctx=512)
    conversation, planner = np.abs(got[:start] - base[:start]).max(), np.abs(got[start:] - peft_logits[start:]).max()
    effect = np.abs(peft_logits[start:] - base[start:]).max()
    print(
        f"llama.cpp vs base before the invocation {conversation:.4f}; vs peft after {planner:.4f}; effect {effect:.2f}"
    )
    assert conversation <= BASE_TOLERANCE and planner <= BASE_TOLERANCE < effect


def test_the_tuned_planner_chooses_the_labels_on_the_quantized_model(real):
    chat = ChatHAG(model=real.name, adapter_path=str(real.tuned.adapter_path), n_ctx=512)
    lines = {q: chat.choose_config(q).planner.line for q in MATH + POEMS}
    assert lines == {**dict.fromkeys(MATH, COOL), **dict.fromkeys(POEMS, WARM)}


def test_a_whole_gemma_model_is_refused_with_what_to_do(real, tmp_path):
    if real.name != "gemma3-270m":
        pytest.skip("hag-gguf exports whole qwen2 models (tests/gguf/test_qwen2.py); only gemma3 is adapters-only")
    base_dir = real.base_dir
    with pytest.raises(UnsupportedModelError, match="exports LoRA adapters for Gemma3ForCausalLM.*convert_hf_to_gguf"):
        convert_model(base_dir, tmp_path / "gemma.gguf", "f32")
    assert not (tmp_path / "gemma.gguf").exists()
