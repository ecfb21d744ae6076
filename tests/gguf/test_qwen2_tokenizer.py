"""The tokenizer rebuilt from the real Qwen2.5-Coder-0.5B-Instruct GGUF splits text as llama.cpp does on the file.

transformers' own GGUF loader gives Qwen2 GPT-2's split pattern, which cuts ``(x`` and ``\\tx`` in two where
llama.cpp (and Qwen's tokenizer.json) keep one token: tuned on such ids, a planner would see other prompts than the
runtime feeds it.
"""

from __future__ import annotations

import pytest
from hag_gguf import hf_tokenizer_from_gguf

from hag_chain import MODELS

pytestmark = pytest.mark.integration

PROBES = [
    "  def f(x):\n\treturn x**2  # (squared)",
    "It's we'll I'D    spaces\r\n\r\nnew line, 1234567 and 3.14",
    "Übersetze: „Der Hund läuft schnell.“ 東京は日本の首都です。 😀👍 Привет",
    "<|im_start|>user\nsettings<|im_end|>\n<|im_start|>assistant\n",
]


def test_rebuilt_tokenizer_matches_llama_cpp_on_the_real_file(tmp_path):
    import llama_cpp
    from transformers import AutoTokenizer

    path = MODELS["qwen2.5-coder-0.5b"].path()
    tok = AutoTokenizer.from_pretrained(hf_tokenizer_from_gguf(path, tmp_path))
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    try:
        for text in PROBES:
            assert tok.encode(text, add_special_tokens=False) == llm.tokenize(
                text.encode(), add_bos=False, special=True
            )
    finally:
        llm.close()
    assert tok.eos_token == "<|im_end|>" and tok.chat_template.startswith("{%- if tools %}")
