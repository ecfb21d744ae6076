"""Shared fixtures: a tiny randomly initialised llama with its own BPE tokenizer, and logits from both runtimes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SAMPLE_TEXT = "The 42 quick foxes jumped over 7 lazy dogs; café naïve 2024!"
TOKENIZER_PROBES = [
    SAMPLE_TEXT,
    "1234567890 3.14159 and 1,000,000 items",
    "Größe über straße, déjà vu, 東京 und 😀",
    "  leading spaces\nnew line\t tab  ",
    "<|im_start|>user\nhello<|im_end|>",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds (real SmolLM2 conversions)")


@pytest.fixture(scope="session", autouse=True)
def _torch_beside_llama_cpp(single_threaded_torch: None) -> None:
    """The tests here run torch and llama.cpp in one process: torch on one thread (see tests/conftest.py)."""


def _corpus(n: int = 400) -> list[str]:
    rng = random.Random(0)
    words = (
        "the quick brown fox jumps over lazy dog model token adapter weight layer over under and of to in "
        "café naïve über straße déjà 東京 hello world llama gguf export number"
    ).split()
    lines = []
    for _ in range(n):
        parts = [rng.choice(words) for _ in range(rng.randint(4, 12))]
        parts.insert(rng.randint(0, len(parts)), str(rng.randint(0, 99999)))
        lines.append(" ".join(parts) + rng.choice([".", "!", "?", ";", ""]))
    return lines


QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def build_tokenizer(out_dir: Path, vocab_size: int = 384, style: str = "smollm"):
    """A byte-level BPE trained on a small corpus, with SmolLM2's pre-tokenizer (digits one by one) or Qwen2's."""
    import tokenizers
    import transformers
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    if style == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
    else:
        split = pre_tokenizers.Split(tokenizers.Regex(QWEN2_SPLIT), behavior="isolated", invert=False)
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


#: Sizes shared by every tiny test model: 2 layers, hidden 64, 4 heads / 2 KV heads, weights ~N(0, 0.2).
TINY_DIMS = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "initializer_range": 0.2,
}


def build_tiny_llama(out_dir: Path, *, tie: bool = True, seed: int = 0, context: int = 128) -> Path:
    """Save a 2-layer, hidden-64 llama with GQA (4 heads, 2 KV heads) and random weights, norms included."""
    import torch
    import transformers

    tokenizer = build_tokenizer(out_dir)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        intermediate_size=144,  # 144 % 32 != 0: ffn_down rows cannot be block-quantized -> f16 fallback
        rms_norm_eps=1e-5,
        rope_theta=50000.0,
        tie_word_embeddings=tie,
        **(TINY_DIMS | {"max_position_embeddings": context}),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_untied_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama-untied", tie=False, seed=1)


@pytest.fixture(scope="session")
def sample_ids(tiny_model_dir: Path) -> list[int]:
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(tiny_model_dir).encode(SAMPLE_TEXT, add_special_tokens=False)
    assert len(ids) >= 16
    return ids


def hf_logits(model, ids: list[int]) -> np.ndarray:
    """Logits of a transformers (or peft) model for every position, as float32 numpy."""
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def load_hf(model_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype="float32").eval()


def llama_logits(
    gguf_path: Path, ids: list[int], *, adapter: Path | None = None, adapter_from: int = 0, n_ctx: int = 128, **kwargs
) -> np.ndarray:
    """Logits llama.cpp (llama-cpp-python) computes for every position of ``ids``.

    With ``adapter`` (a GGUF LoRA), the adapter is set from position ``adapter_from`` on, as an aLoRA is applied.
    """
    import ctypes

    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf_path), logits_all=True, n_ctx=n_ctx, n_threads=1, verbose=False, **kwargs)
    try:
        if adapter is None:
            llm.eval(ids)
        else:
            lora = llama_cpp.llama_adapter_lora_init(llm.model, str(adapter).encode())
            llm.eval(ids[:adapter_from])  # adapter off: the base model's own computation
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora)
            assert llama_cpp.llama_set_adapters_lora(llm.ctx, arr, 1, (ctypes.c_float * 1)(1.0)) == 0
            llm.eval(ids[adapter_from:])
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def llama_tokenize(gguf_path: Path, text: str) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    try:
        return llm.tokenize(text.encode(), add_bos=False, special=True)
    finally:
        llm.close()


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def dequantized_copy(src: Path, dst: Path) -> Path:
    """``src`` with every tensor dequantized to float32 and every key kept: the same weights, computed exactly.

    llama.cpp multiplies quantized weights with quantized activations, so a K-quant GGUF's logits are a few units
    off transformers' (dequantized float32) ones; on the float32 copy they agree to rounding. gguf-py reads,
    dequantizes and writes; only the copying loop (as gguf-py's gguf_new_metadata script does it) is here.
    """
    import gguf

    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, arch=reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    for f in reader.fields.values():
        if f.name == gguf.Keys.General.ARCHITECTURE or f.name.startswith("GGUF."):
            continue
        value = gguf.LlamaFileType.ALL_F32 if f.name == gguf.Keys.General.FILE_TYPE else f.contents()
        sub_type = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(f.name, value, f.types[0], sub_type=sub_type)
    for t in reader.tensors:
        writer.add_tensor(t.name, gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
