"""Helpers and constants shared by the test directories (fixtures live in the conftests).

The tiny randomly initialised llama with its own BPE tokenizer, logits from both runtimes (transformers and
llama.cpp), a float32 copy of a quantized GGUF, a random peft LoRA with the tolerance it is checked to, and the
miniature search output (labels) that the SFT and aLoRA tests train on. Test modules import them relatively
(``from ..tiny_models import build_tiny_llama``).

Loaded by ``tests/conftest.py``, so by ``make unit`` too, whose environment has no torch, transformers or peft:
those are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hag_chain import SearchSpace

if TYPE_CHECKING:
    from hag_training.labels import Label

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# A template that writes tools, as Qwen2.5's does: in the system message, with how to call one in <tool_call> tags.
TOOLS_CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% else %}You are an assistant.{% endif %}"
    "\n\n# Tools\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools>\n"
    'Call one as <tool_call>{"name": ..., "arguments": ...}</tool_call><|im_end|>\n'
    "{% elif messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
    "{% endif %}{% for m in messages %}{% if not (loop.first and m['role'] == 'system') %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
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


def corpus(n: int = 400) -> list[str]:
    """``n`` seeded lines of words, numbers and accented text: what the tiny tokenizers are trained on."""
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


def build_tokenizer(out_dir: Path, vocab_size: int = 384, style: str = "smollm", chat_template: str = CHAT_TEMPLATE):
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
    tok.train_from_iterator(corpus(), trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
    )
    fast.chat_template = chat_template
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


def build_tiny_llama(
    out_dir: Path, *, tie: bool = True, seed: int = 0, context: int = 128, chat_template: str = CHAT_TEMPLATE
) -> Path:
    """Save a 2-layer, hidden-64 llama with GQA (4 heads, 2 KV heads) and random weights, norms included."""
    import torch
    import transformers

    tokenizer = build_tokenizer(out_dir, chat_template=chat_template)
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


def with_recommended_sampling(src: Path, dst: Path, **values: float) -> Path:
    """``src`` with ``general.sampling.<key>`` set to each value, as llama.cpp's converter records a model's
    recommended sampling (``temp=0.6, top_k=20``), copied by gguf-py's own gguf_new_metadata script."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, arch=str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents()))
    types = {int: gguf.GGUFValueType.INT32, float: gguf.GGUFValueType.FLOAT32}
    new = {f"general.sampling.{k}": MetadataDetails(types[type(v)], v) for k, v in values.items()}
    copy_with_new_metadata(reader, writer, new, remove_metadata=[])
    return dst


TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Measured: llama.cpp with the adapter vs peft 0.011 (plain), 0.015 (rsLoRA), 0.009 (alpha_pattern) max abs
# difference, while the adapter moves the logits by about 9.
ADAPTER_TOLERANCE = 0.04


def make_lora(base_dir: Path, out_dir: Path, seed: int = 1, **config) -> tuple[Path, object]:
    """Save a peft LoRA with random A and B (so it changes the output) and return it with the peft model."""
    import peft
    import torch

    torch.manual_seed(seed)
    config = {"r": 8, "lora_alpha": 16, "target_modules": TARGETS, "init_lora_weights": False, **config}
    model = peft.get_peft_model(load_hf(base_dir), peft.LoraConfig(**config))
    model.save_pretrained(out_dir)
    return out_dir, model.eval()


# The search output in miniature that the SFT tests train on (the `labels` fixture in tests/conftest.py writes it).
# Knobs deliberately not in alphabetical order: the search stores its provenance with sorted keys.
SPACE = SearchSpace(values={"top_k": (10, 50), "temperature": (0.0, 1.0)})
COOL, WARM = '{"top_k":10,"temperature":0.0}', '{"top_k":50,"temperature":1.0}'
MATH = ["What is 3 + 4?", "Compute 12 * 7.", "What is 81 / 9?", "Solve 5 + 8."]
POEMS = ["Write a poem about rain.", "Write a story about a fox.", "Write a song about the sea.", "Write a haiku."]
# Stand-ins for the base model's own answers, which the search records as `label_answer`.
ANSWERS = dict(zip(MATH + POEMS, ["7", "84", "9", "13", "Rain on the lake.", "The fox ran.", "Waves.", "Old pond."]))

# top_layers=1: only the second of the two layers is adapted, as the default adapts only the top of SmolLM2.
TRAINING = {"epochs": 30, "learning_rate": 1e-2, "batch_size": 4, "top_layers": 1, "outtype": "f32"}


def label_record(task: str, question: str, line: str, scores: dict, answer: str = "") -> Label:
    """One :class:`hag_training.labels.Label` of the miniature search over :data:`SPACE`."""
    from hag_training.labels import Label

    provenance = {"space": json.loads(SPACE.to_json()), "prompt_version": "hag-v1", "engine": "test"}
    return Label(
        task=task,
        messages=[{"role": "user", "content": question}],
        label_line=line,
        label_answer=answer,
        scores=scores,
        provenance=json.dumps(provenance, sort_keys=True),
    )
