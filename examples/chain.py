"""A LangChain chain whose model picks its own decoding settings for every input.

    python examples/chain.py
"""

from langchain_core.prompts import ChatPromptTemplate

from hag_chain import ChatHAG

chain = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")]) | ChatHAG(max_tokens=48)

for question in ["What is 12 * 7?", "Write a two-line poem about rain."]:
    msg = chain.invoke({"question": question})
    print(f"Q: {question}\nA: {msg.content.strip()}")
    print(f"   chosen by the model: {msg.response_metadata['hag']['line']}\n")
