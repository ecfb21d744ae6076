"""Recognising llama.cpp pre-tokenizer names from a tokenizer.json pre-tokenizer."""

from __future__ import annotations

import pytest
from hag_gguf.vocab import _LLAMA3_SPLIT, detect_bpe_pre

pytestmark = pytest.mark.unit

BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}


@pytest.mark.parametrize(
    ("pre_tokenizer", "expected"),
    [
        # SmolLM / SmolLM2: every digit on its own, then the GPT-2 regex.
        ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, BYTE_LEVEL]}, "smollm"),
        (BYTE_LEVEL, "gpt-2"),
        # Llama 3: an isolating regex split, then byte mapping without the GPT-2 regex.
        (
            {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": _LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
                    {**BYTE_LEVEL, "use_regex": False},
                ],
            },
            "llama-bpe",
        ),
        # Digits grouped, not split one by one: not SmolLM's tokenizer.
        ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False}, BYTE_LEVEL]}, None),
        ({**BYTE_LEVEL, "use_regex": False}, None),
        ({"type": "Metaspace", "replacement": "▁"}, None),
    ],
)
def test_detect_bpe_pre(pre_tokenizer, expected):
    assert detect_bpe_pre({"pre_tokenizer": pre_tokenizer}) == expected
