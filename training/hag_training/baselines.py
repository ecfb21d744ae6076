"""The fixed decoding configurations HAG is compared with, and the search's reference for ties."""

from __future__ import annotations

from hag_chain import DecodingConfig

__all__ = ["CHAT_LLAMA_CPP_DEFAULT", "FIXED_CONFIGS", "GREEDY", "LLAMA_CPP_DEFAULT"]

#: llama.cpp's own sampling defaults (temperature 0.8, top_p 0.95, top_k 40, no repetition penalty), which
#: ``DecodingConfig``'s defaults are.
LLAMA_CPP_DEFAULT = DecodingConfig()
#: LangChain's ``ChatLlamaCpp`` defaults: llama.cpp's, with ``repeat_penalty`` 1.1.
CHAT_LLAMA_CPP_DEFAULT = DecodingConfig(repetition_penalty=1.1)
GREEDY = DecodingConfig(temperature=0.0)
#: The fixed baselines of the evaluation and the room, by method name.
FIXED_CONFIGS = {
    "llama.cpp default": LLAMA_CPP_DEFAULT,
    "ChatLlamaCpp default": CHAT_LLAMA_CPP_DEFAULT,
    "greedy": GREEDY,
}
