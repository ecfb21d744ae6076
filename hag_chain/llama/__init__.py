"""The in-process llama.cpp backend the runtime, the training engines and the tests share.

The model cache and KV-prefix handling (``model``), LoRA adapters (``adapter``), chat templates (``templates``),
threads (``threads``), the one thread every computation runs on (``compute``) and GGUF files on disk (``files``).
"""
