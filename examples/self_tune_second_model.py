"""Let the HAG planner choose the decoding settings of another local model: ChatLlamaCpp over the same GGUF.

    pip install "hag-chain[examples]"   # langchain-community, for ChatLlamaCpp
    python examples/self_tune_second_model.py

Any chat model in hag_chain.TARGETS works the same way (ChatOllama, ChatOpenAI, ...).
"""

import warnings

warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)

from langchain_community.chat_models import ChatLlamaCpp  # noqa: E402

from hag_chain import ChatHAG, with_self_tuning  # noqa: E402

planner = ChatHAG()  # chooses the settings; it never writes the answers here
target = ChatLlamaCpp(
    model_path=planner.resolved_model_path,  # the default GGUF; any llama.cpp model works
    rope_freq_base=0,  # take the RoPE base from the GGUF (ChatLlamaCpp's default 10000 is wrong for SmolLM2)
    n_ctx=2048,
    n_batch=256,
    max_tokens=40,
    verbose=False,
)
llm = with_self_tuning(target, planner=planner)

for question in ["What is the capital of France?", "Write a two-line poem about the sea."]:
    msg = llm.invoke(question, seed=0)
    hag = msg.response_metadata["hag"]
    print(f"Q: {question}\nA: {msg.content.strip()}")
    print(f"   sent to ChatLlamaCpp: {hag['sent']}  (planner: {hag['line']})\n")

print("streamed: ", end="")
for chunk in llm.stream("Name three colours.", seed=0):
    print(chunk.content, end="", flush=True)
print()
