"""Steer the model's choices: pin a knob, cap it, or override it for one call; see where each value came from.

python examples/bounds_and_pins.py
"""

from hag_chain import ChatHAG

chat = ChatHAG(max_tokens=32, bounds={"temperature": (None, 0.7)}, top_k=20)  # cap temperature, pin top_k

msg = chat.invoke("Invent a name for a dragon.")
print(msg.content.strip())
print(msg.response_metadata["hag"]["config"])
print(msg.response_metadata["hag"]["sources"])  # temperature: model or bound, top_k: init, ...

msg = chat.invoke("What is the capital of France?", temperature=0.0)  # a call argument beats everything
print(msg.response_metadata["hag"]["sources"]["temperature"], "->", msg.content.strip())
