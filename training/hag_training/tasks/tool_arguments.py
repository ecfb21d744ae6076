"""Tool arguments (structured): an agent's forced tool call, its arguments copied from the request.

An agent binds tools and makes the model call one (``ChatHAG().bind_tools(tools, tool_choice="any")``): the answer is
one ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` generated under the tools' llama.cpp grammar
(:func:`hag_chain.tool_call_grammar`), the tools offered as ``ChatHAG`` offers them to the same model
(:func:`hag_chain.tool_prompt`, through :meth:`tools`): in a chat template's own tools slot where it has one
(Qwen2.5's), else listed in the system message (SmolLM2's). The grammar fixes the call's shape;
the decoding configuration decides whether the model picks the right tool and copies the request's values into its
arguments (a repetition penalty, on the call's own repeated quotes and punctuation, keeps strings from closing as
they should; a high temperature misspells them).

This is the structured family's closed task beside the extraction (``structured_output``): both copy values, while
``structured_writing`` fills open fields. Each request names one of five tools and binds it with two others.

Room on SmolLM2-135M (``hag-train room --tasks tool_arguments``, 16 dev inputs, k 4; docs/room/tool_arguments):
greedy 0.510 [0.333, 0.688], the best static configuration; greedy with the 1.15 penalty 0.302; llama.cpp's default
0.417, ChatLlamaCpp's 0.315; the worst (1.0, top_k 10, the penalty) 0.253, a gap of 0.258 [0.086, 0.440].
"""

from __future__ import annotations

import random
from typing import Any

from typing_extensions import override

from .base import Example, Phrasing, Task
from .coinflip import census_first_names
from .registry import register_task
from .structured import CITIES, DOMAINS, PRODUCTS, census_last_names, field_matches

__all__ = ["TOOLS", "ToolArguments"]


def _tool(name: str, description: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A tool as LangChain's ``convert_to_openai_tool`` writes a function or pydantic model (every field required)."""
    parameters = {"properties": fields, "required": list(fields), "type": "object"}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


TOOLS = {
    "get_weather": _tool(
        "get_weather",
        "Get the current weather in a city.",
        {
            "city": {"description": "The city", "type": "string"},
            "unit": {"description": "Temperature unit", "enum": ["celsius", "fahrenheit"], "type": "string"},
        },
    ),
    "convert_currency": _tool(
        "convert_currency",
        "Convert an amount of money from one currency to another.",
        {
            "amount": {"description": "The amount to convert", "type": "integer"},
            "from_currency": {"description": "ISO code of the currency to convert from", "type": "string"},
            "to_currency": {"description": "ISO code of the currency to convert to", "type": "string"},
        },
    ),
    "book_table": _tool(
        "book_table",
        "Book a table at the restaurant.",
        {
            "name": {"description": "Name the booking is under", "type": "string"},
            "people": {"description": "Number of people", "type": "integer"},
            "time": {"description": "Time of the booking, HH:MM", "type": "string"},
        },
    ),
    "send_email": _tool(
        "send_email",
        "Send an email.",
        {
            "to": {"description": "Email address of the recipient", "type": "string"},
            "subject": {"description": "Subject line", "type": "string"},
        },
    ),
    "add_to_cart": _tool(
        "add_to_cart",
        "Add a product to the shopping cart.",
        {
            "product": {"description": "The product", "type": "string"},
            "quantity": {"description": "How many", "type": "integer"},
        },
    ),
}
"""The tools an agent binds, by name."""

#: Per tool, the requests that call it (over its arguments' values).
REQUESTS: dict[str, tuple[str, ...]] = {
    "get_weather": (
        "What's the weather like in {city}? Give me the temperature in {unit}.",
        "Is it cold in {city} right now? Answer in {unit}.",
        "{city} weather, in {unit} please.",
        "Check the temperature in {city} (in {unit}).",
    ),
    "convert_currency": (
        "How much is {amount} {from_currency} in {to_currency}?",
        "Convert {amount} {from_currency} to {to_currency}.",
        "I have {amount} {from_currency}. What is that in {to_currency}?",
        "{amount} {from_currency} to {to_currency}, what's the rate today?",
    ),
    "book_table": (
        "Book a table for {people} at {time} under the name {name}.",
        "Reserve a table at {time} for {people} people, name: {name}.",
        "{name} here, a table for {people} at {time} please.",
        "Can you get us a table? {people} people, {time}, it's for {name}.",
    ),
    "send_email": (
        'Send an email to {to} with the subject "{subject}".',
        "Email {to}, subject: {subject}.",
        'Write to {to} about "{subject}" (that\'s the subject line).',
        'Mail {to}, subject line "{subject}".',
    ),
    "add_to_cart": (
        "Add {quantity} x {product} to my cart.",
        "Put {quantity} of the {product} in my cart.",
        "Add the {product} to the cart, quantity {quantity}.",
        "Cart: {product}, {quantity} pieces.",
    ),
}
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "INR")
SUBJECTS = (
    "Quarterly report", "Lunch on Friday", "Invoice 2291", "Team offsite", "Project update", "Meeting notes",
    "Holiday schedule", "Welcome aboard", "Budget review", "Flight details", "Contract renewal", "Weekly sync",
)  # fmt: skip


def _arguments(tool: str, rng: random.Random) -> dict[str, Any]:
    """Values for ``tool``'s arguments drawn with ``rng``: the target of a request written with them."""
    first, last = rng.choice(census_first_names()), rng.choice(census_last_names())
    if tool == "get_weather":
        return {"city": rng.choice(CITIES), "unit": rng.choice(("celsius", "fahrenheit"))}
    if tool == "convert_currency":
        source, target = rng.sample(CURRENCIES, 2)
        return {
            "amount": rng.choice((5, 10, 20, 50)) * rng.randint(1, 40),
            "from_currency": source,
            "to_currency": target,
        }
    if tool == "book_table":
        time = f"{rng.randint(11, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}"
        return {"name": f"{first} {last}", "people": rng.randint(2, 12), "time": time}
    if tool == "send_email":
        return {"to": f"{first.lower()}.{last.lower()}@{rng.choice(DOMAINS)}", "subject": rng.choice(SUBJECTS)}
    return {"product": rng.choice(PRODUCTS), "quantity": rng.randint(2, 20)}


@register_task
class ToolArguments(Task):
    """A forced call among three bound tools: 400 distinct requests (80 per tool), the target the tool's arguments.

    A reply scores 0 unless it calls the requested tool; then the share of its arguments that equal the request's
    values (integers exactly, text up to case and surrounding space).
    """

    name = "tool_arguments"
    family = "structured"
    source = (
        "generated: requests over census names (names==0.3.0, MIT), fixed lists of cities, products, currencies and "
        "subjects; tools as LangChain's convert_to_openai_tool writes them"
    )
    fractions = (0.6, 0.1, 0.3)
    """30% to test: the test mean is measured on ~120 requests."""
    per_tool = 80
    max_tokens = 80
    """The longest call (an email with an address and a subject) is about 45 tokens under the grammar."""
    phrasings = (
        Phrasing("plain", "{input}"),
        Phrasing("assistant", "{input}", system="You are a helpful assistant."),
        Phrasing("please", "Please use the right tool for this: {input}"),
        Phrasing(
            "agent",
            "{input}",
            system="You are an agent that acts through tools. Call the tool that handles the user's request.",
        ),
        Phrasing("chatty", "hey! quick one: {input} thx"),
        Phrasing("task", "Task: {input}"),
        Phrasing(
            "voice", "{input}", system="You are the voice assistant of a smart home. Keep it short.", test_only=True
        ),
        Phrasing("app", "Incoming request from the mobile app:\n\n{input}", test_only=True),
    )

    @override
    def tools(self, example: Example) -> list[dict[str, Any]]:
        """The tools bound for ``example``, in the order the request lists them."""
        return [TOOLS[name] for name in example.meta["tools"]]

    @override
    def _load(self) -> list[Example]:
        out, seen = [], set()
        for tool, templates in REQUESTS.items():
            for i in range(self.per_tool):
                rng = random.Random(f"tool_arguments:{tool}:{i}")
                text = ""
                while not text or text in seen:  # a request drawn twice would put one text in two splits: redraw
                    target = _arguments(tool, rng)
                    bound = [tool, *rng.sample([t for t in TOOLS if t != tool], 2)]
                    rng.shuffle(bound)
                    text = rng.choice(templates).format(**target)
                seen.add(text)
                meta = {"tool": tool, "tools": bound}
                out.append(Example(id=f"tool_arguments-{tool}-{i}", input=text, target=target, meta=meta))
        return out

    @override
    def grammar(self, example: Example) -> str:
        from hag_chain import tool_call_grammar

        return tool_call_grammar(self.tools(example))

    @override
    def extract(self, example: Example, text: str) -> tuple[str, dict[str, Any]] | None:
        """The first tool call's name and arguments, as ``ChatHAG`` parses them (``None``: no parseable call)."""
        from hag_chain import parse_tool_calls

        _, calls, _ = parse_tool_calls(text, example.meta["tools"])
        return (calls[0]["name"], calls[0]["args"]) if calls else None

    @override
    def score(self, example: Example, text: str) -> float:
        call = self.extract(example, text)
        if call is None or call[0] != example.meta["tool"]:
            return 0.0
        gold: dict[str, Any] = example.target
        return sum(field_matches(call[1].get(k), v) for k, v in gold.items()) / len(gold)
