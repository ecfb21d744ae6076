"""Tools, schemas and probes the integration tests share."""

import threading

from langchain_core.tools import tool
from pydantic import BaseModel


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class Answer(BaseModel):
    value: int


def evaluation_threads(llm, monkeypatch) -> list[str]:
    """The names of the threads each later ``llm.eval`` (a llama_cpp.Llama's) runs on; it still evaluates for real."""
    names: list[str] = []
    real_eval = llm.eval

    def recording_eval(tokens):
        names.append(threading.current_thread().name)
        return real_eval(tokens)

    monkeypatch.setattr(llm, "eval", recording_eval)
    return names
