"""Tools and schemas the self-tuning tests share."""

from langchain_core.tools import tool
from pydantic import BaseModel


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class Answer(BaseModel):
    value: int
