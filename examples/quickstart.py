"""Quickstart: a local model picks its own decoding settings, then answers with them. Offline, on a CPU.

python examples/quickstart.py
"""

from hag_chain import ChatHAG

chat = ChatHAG(max_tokens=40)  # the default model: SmolLM2-135M-Instruct, loaded on first use

msg = chat.invoke("Write a haiku about autumn.")
print(msg.content.strip())
hag = msg.response_metadata["hag"]
print(f"[chosen by the model in {hag['planner_ms']:.0f} ms: {hag['line']}]\n")

for chunk in chat.stream("What is 12 * 7?", temperature=0.0):  # a call argument beats the model's choice
    print(chunk.content, end="", flush=True)
print()
