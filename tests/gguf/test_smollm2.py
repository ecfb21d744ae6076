"""The real SmolLM2-135M-Instruct: Q4_1 GGUF → transformers → safetensors → hag-gguf → llama.cpp.

Slow (about a minute on 2 cores): transformers dequantizes the shipped Q4_1 file, the checkpoint is saved as float32
safetensors, then converted back to f32, f16 and q8_0 and compared with transformers. Measured max abs logit
differences along the greedy paths: f32 0.02, f16 0.07, q8_0 2.3 (logits span about -30..40).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hag_gguf import convert_adapter, convert_model

from ..tiny_models import hf_logits, llama_logits, llama_tokenize, load_hf

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n",
]
TOKENIZER_PROBES = [
    "Order 66: 1234567890, 3.14159265, 2026-11-26T07:40Z, 0x1F",
    "Größe über Straße — déjà vu, 東京都, Привет мир, مرحبا, 😀👍",
    "   indented\tcode = [1, 22, 333]\n\n",
]
N_NEW = 12


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory):
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from hag_gguf import hf_checkpoint_from_gguf

    from hag_chain import default_model_path

    original = Path(default_model_path())
    hf_dir = hf_checkpoint_from_gguf(original, tmp_path_factory.mktemp("smollm2") / "SmolLM2-135M-Instruct")
    out = tmp_path_factory.mktemp("smollm2-gguf")
    converted = {t: convert_model(hf_dir, out / f"smollm2-{t}.gguf", t).path for t in ("f32", "f16", "q8_0")}
    return original, hf_dir, converted


@pytest.fixture(scope="module")
def llms(smollm2):
    import llama_cpp

    _, _, converted = smollm2
    loaded = {
        t: llama_cpp.Llama(model_path=str(p), n_ctx=256, n_threads=1, logits_all=True, verbose=False)
        for t, p in converted.items()
    }
    yield loaded
    for llm in loaded.values():
        llm.close()


@pytest.fixture(scope="module")
def references(smollm2):
    """Prompt ids, transformers' greedy continuation and its logits over prompt + continuation."""
    import torch
    from transformers import AutoTokenizer

    _, hf_dir, _ = smollm2
    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = load_hf(hf_dir)
    out = []
    for prompt in PROMPTS:
        ids = tok.encode(prompt, add_special_tokens=False)
        with torch.no_grad():
            seq = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=N_NEW,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )[0].tolist()
        out.append((ids, seq[len(ids) :], hf_logits(model, seq)))
    return out


def test_f16_greedy_output_equals_transformers(llms, references):
    llm = llms["f16"]
    for ids, continuation, _ in references:
        llm.reset()
        got = []
        for tok in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
            got.append(tok)
            if len(got) == len(continuation):
                break
        assert got == continuation


@pytest.mark.parametrize(
    ("outtype", "max_diff", "near_tie"), [("f32", 0.04, 0.0), ("f16", 0.3, 0.0), ("q8_0", 2.5, 1.0)]
)
def test_logits_along_the_greedy_path(llms, references, outtype, max_diff, near_tie):
    """Teacher-forced on transformers' greedy path; q8_0 may pick another token only where the reference nearly ties."""
    llm = llms[outtype]
    worst = 0.0
    for ids, continuation, ref in references:
        seq = ids + continuation
        llm.reset()
        llm.eval(seq)
        got = np.array(llm.scores[: len(seq)], dtype=np.float32)
        worst = max(worst, float(np.abs(got - ref).max()))
        picked = ref[np.arange(len(seq)), got.argmax(1)]
        assert np.all(picked >= ref.max(1) - near_tie), f"{outtype} disagrees with a clear reference choice"
    print(f"SmolLM2 {outtype}: max abs logit diff {worst:.4f} along the greedy paths")
    assert worst <= max_diff


def test_token_ids_match_the_original_file(smollm2):
    from transformers import AutoTokenizer

    original, hf_dir, converted = smollm2
    hf = AutoTokenizer.from_pretrained(hf_dir)
    for text in TOKENIZER_PROBES + PROMPTS:
        expected = llama_tokenize(original, text)
        assert llama_tokenize(converted["f16"], text) == expected, text
        assert hf.encode(text, add_special_tokens=False) == expected, text


def test_ctrl_c_leaves_nothing_at_destination(smollm2, tmp_path):
    """SIGINT in the middle of a real conversion: exit status 130, no file, no temporary left behind."""
    _, hf_dir, _ = smollm2
    dest = tmp_path / "interrupted.gguf"
    cmd = [sys.executable, "-m", "hag_gguf.cli", "convert", str(hf_dir), "-o", str(dest), "--outtype", "q4_1"]
    # A shell without job control starts background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt; give the child the default disposition, as a terminal would.
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    assert proc.poll() is None, "conversion finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # at once: on an idle machine the whole write takes well under a second
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert os.listdir(tmp_path) == []


def test_lora_adapter_on_smollm2(smollm2, tmp_path):
    """A peft LoRA on the real model (9 query heads, 3 KV heads): llama.cpp with the adapter reproduces peft."""
    import peft
    import torch
    from transformers import AutoTokenizer

    _, hf_dir, converted = smollm2
    torch.manual_seed(0)
    config = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = peft.get_peft_model(load_hf(hf_dir), config).eval()
    with torch.no_grad():  # peft starts B at zero; give it a small random value so the adapter does something
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    model.save_pretrained(tmp_path / "lora")
    ids = AutoTokenizer.from_pretrained(hf_dir).encode(PROMPTS[2])
    expected = hf_logits(model, ids)
    with model.disable_adapter():
        base = hf_logits(model, ids)
    adapter = convert_adapter(tmp_path / "lora", tmp_path / "adapter.gguf", hf_dir).path
    got = llama_logits(converted["f32"], ids, lora_path=str(adapter))
    diff, effect = np.abs(got - expected).max(), np.abs(expected - base).max()
    print(f"SmolLM2 adapter: max abs diff vs peft {diff:.4f}, adapter effect {effect:.2f}")
    assert effect > 0.5
    assert diff <= 0.05
