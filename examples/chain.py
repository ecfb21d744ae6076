"""An LCEL chain, ``prompt | ChatHAG() | parser``, whose model picks its own decoding settings for every input.

    python examples/chain.py

The parser turns the answer into a plain string, so the chosen configuration is read from the trace: ChatHAG
dispatches it as the ``hag_config`` callback event, which any callback handler (or ``astream_events``) sees.
"""

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from hag_chain import CONFIG_EVENT, ChatHAG


class PrintConfig(BaseCallbackHandler):
    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == CONFIG_EVENT:
            print(f"   chosen by the model: {data['line']}")


prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
chain = prompt | ChatHAG(max_tokens=48) | StrOutputParser()

for question in ["What is 12 * 7?", "Write a two-line poem about rain."]:
    print(f"Q: {question}")
    answer = chain.invoke({"question": question}, config={"callbacks": [PrintConfig()]})
    print(f"A: {answer.strip()}\n")
