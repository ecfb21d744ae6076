"""Tool calls and structured output are grammar-constrained; the planner reads the schema and picks the sampling
settings (a penalty nobody set gets its grammar default: frequency_penalty 0.5 keeps JSON from looping).

    python examples/tools_and_structured.py
"""

from pydantic import BaseModel, Field

from hag_chain import ChatHAG


def get_weather(location: str) -> str:
    """Get the current weather at a location."""
    return f"It is sunny in {location}."


class Recipe(BaseModel):
    """A short recipe."""

    dish: str = Field(description="name of the dish")
    ingredients: list[str] = Field(description="three to five ingredients")


chat = ChatHAG(max_tokens=96, seed=0)

call = chat.bind_tools([get_weather], tool_choice="get_weather").invoke("What's the weather in Lisbon?")
print("tool call:", call.tool_calls[0]["name"], call.tool_calls[0]["args"])
print("result:   ", get_weather(**call.tool_calls[0]["args"]))

recipe = chat.with_structured_output(Recipe).invoke("Give me a recipe for pancakes.")
print("structured:", recipe)
