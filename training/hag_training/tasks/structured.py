"""Structured output (structured): the JSON requests agent builders send all day, answered under the schema's grammar.

``ChatHAG().with_structured_output(schema)`` adds the schema to the system prompt
(:func:`hag_chain.structured_output_messages`) and generates the answer under the schema's llama.cpp grammar
(:func:`hag_chain.json_grammar`). These tasks ask the same way and generate under the same grammar
(:meth:`~hag_training.tasks.Task.grammar`), so the configurations the search ranks are those that work at run time,
and the planner is tuned on prompts that show it the request is structured.

The grammar guarantees the JSON's shape but not its content: what a decoding configuration decides is whether the
model fills the fields or loops inside a string until ``max_tokens`` cuts the object off (SmolLM2-135M greedily
writes LangChain's Joke as ``{"setup": "A cat is a cat, a cat is a cat, ...`` and never closes it).

- ``structured_output``: extraction. A sentence about a person, a hotel booking, a contact or an order, built from
  known values (census first and last names from ``names==0.3.0``, cities, numbers, dates), into the schema an
  agent would declare for it (as ``convert_to_json_schema`` writes a pydantic model). Scored per field.
- ``structured_writing``: open fields. LangChain's ``Joke`` (the schema of its standard integration tests), a riddle
  and a story opening on a topic. Scored on a complete object whose fields are not loops, and on topic.
"""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from typing import Any

from typing_extensions import override

from ..data_sources import read_member
from .base import Example, Phrasing, Task
from .coinflip import census_first_names
from .registry import register_task

__all__ = [
    "StructuredOutput",
    "StructuredTask",
    "StructuredWriting",
    "census_last_names",
    "field_matches",
    "is_prose",
    "parse_object",
    "repeated_share",
]


@lru_cache(maxsize=1)
def census_last_names(n: int = 500) -> tuple[str, ...]:
    """The ``n`` most frequent last names of the 1990 US census (``names==0.3.0``), title-cased."""
    lines = read_member("names", "names-0.3.0/names/dist.all.last").decode().splitlines()
    return tuple(line.split()[0].title() for line in lines[:n])


def parse_object(text: str) -> dict[str, Any] | None:
    """The JSON object a reply holds, or ``None`` (not JSON, not an object, or cut off by ``max_tokens``)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _model_schema(title: str, description: str, fields: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A JSON schema as ``langchain_core``'s ``convert_to_json_schema`` writes a pydantic model's (required fields).

    ``fields`` maps each field to its JSON type (``"date"``: a string of format date, as a ``datetime.date`` field
    gives) and description.
    """
    properties: dict[str, Any] = {}
    for name, (kind, description_) in fields.items():
        typed = {"format": "date", "type": "string"} if kind == "date" else {"type": kind}
        properties[name] = {"description": description_, **typed}
    return {
        "title": title,
        "description": description,
        "properties": properties,
        "required": list(fields),
        "type": "object",
    }


class StructuredTask(Task):
    """A task whose examples ask for a JSON object matching a schema, as ``ChatHAG``'s structured output asks.

    Subclasses set :attr:`schemas` (name to JSON schema) and give each example ``meta["schema"]``; the messages are
    the phrasing's with the schema instructions added, the grammar is the schema's.
    """

    family = "structured"
    schemas: dict[str, dict[str, Any]]

    def schema(self, example: Example) -> dict[str, Any]:
        """The JSON schema ``example`` asks for."""
        return self.schemas[example.meta["schema"]]

    @override
    def messages(self, example: Example) -> list[dict[str, str]]:
        from hag_chain import structured_output_messages

        return structured_output_messages(super().messages(example), self.schema(example))

    @override
    def grammar(self, example: Example) -> str:
        from hag_chain import json_grammar

        return json_grammar(self.schema(example))

    @override
    def extract(self, example: Example, text: str) -> dict[str, Any] | None:
        return parse_object(text)


# -- extraction ----------------------------------------------------------------------------------------------------

CITIES = (
    "Amsterdam", "Athens", "Auckland", "Austin", "Bangkok", "Barcelona", "Berlin", "Boston", "Brussels", "Budapest",
    "Cairo", "Chicago", "Copenhagen", "Dallas", "Denver", "Dublin", "Edinburgh", "Florence", "Geneva", "Hamburg",
    "Helsinki", "Istanbul", "Kyoto", "Lisbon", "London", "Madrid", "Manchester", "Melbourne", "Miami", "Milan",
    "Montreal", "Munich", "Nairobi", "Oslo", "Paris", "Porto", "Prague", "Rome", "Seattle", "Seoul", "Stockholm",
    "Sydney", "Tokyo", "Toronto", "Vancouver", "Vienna", "Warsaw", "Zurich",
)  # fmt: skip
"""Cities the extraction sentences name: one or two tokens each, well known."""
PRODUCTS = (
    "backpack", "bike helmet", "coffee mug", "desk lamp", "phone case", "notebook", "water bottle", "yoga mat",
    "umbrella", "keyboard", "teapot", "wall clock", "pillow", "scarf", "travel adapter", "frying pan",
)  # fmt: skip
"""What the orders are for."""
DOMAINS = ("example.com", "mail.com", "acme.org", "inbox.net")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)  # fmt: skip

EXTRACTION_SCHEMAS = {
    "person": _model_schema(
        "Person",
        "A person mentioned in the text.",
        {
            "name": ("string", "The person's full name"),
            "age": ("integer", "Age in years"),
            "city": ("string", "The city where the person lives"),
        },
    ),
    "booking": _model_schema(
        "HotelBooking",
        "A hotel booking request.",
        {
            "guest": ("string", "Full name of the guest"),
            "city": ("string", "City of the hotel"),
            "check_in": ("date", "Arrival date"),
            "nights": ("integer", "Number of nights"),
        },
    ),
    "contact": _model_schema(
        "Contact",
        "Contact details found in the text.",
        {
            "name": ("string", "Full name"),
            "email": ("string", "Email address"),
            "city": ("string", "City"),
        },
    ),
    "order": _model_schema(
        "Order",
        "A customer order.",
        {
            "customer": ("string", "Full name of the customer"),
            "product": ("string", "The product ordered"),
            "quantity": ("integer", "How many items"),
        },
    ),
}
"""What an agent declares for each kind of record (``convert_to_json_schema`` of a pydantic model)."""

#: Per kind of record: the noun the phrasings call it by, and the sentences it is written in (over its values).
SENTENCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "person": (
        "person",
        (
            "{name} is {age} years old and lives in {city}.",
            "Meet {name} from {city}, aged {age}.",
            "{name}, {age}, has just moved to {city}.",
            "At {age}, {name} still calls {city} home.",
        ),
    ),
    "booking": (
        "hotel booking",
        (
            "Please book {nights} nights in {city} for {guest}, arriving on {date}.",
            "{guest} needs a room in {city} from {date} for {nights} nights.",
            "Reservation: {guest}, {city}, check-in {date}, {nights} nights.",
            "Hi, this is {guest}. I'd like a hotel in {city} for {nights} nights starting {date}.",
        ),
    ),
    "contact": (
        "contact",
        (
            "You can reach {name} in {city} at {email}.",
            "{name} ({email}) works from our {city} office.",
            "New lead: {name}, based in {city}, email {email}.",
            "Write to {email} if you need {name} in {city}.",
        ),
    ),
    "order": (
        "order",
        (
            "{customer} ordered {quantity} x {product}.",
            "Order from {customer}: {product}, quantity {quantity}.",
            "{customer} would like {quantity} of the {product}, please.",
            "Ship {quantity} {product} units to {customer}.",
        ),
    ),
}


def _values(kind: str, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record of ``kind`` drawn with ``rng``: the target values, and the values its sentence is written with."""
    full = f"{rng.choice(census_first_names())} {rng.choice(census_last_names())}"
    city = rng.choice(CITIES)
    if kind == "person":
        target = {"name": full, "age": rng.randint(18, 90), "city": city}
        return target, dict(target)
    if kind == "booking":
        year, month, day = rng.randint(2024, 2027), rng.randint(1, 12), rng.randint(1, 28)
        iso = f"{year:04d}-{month:02d}-{day:02d}"
        written = iso if rng.random() < 0.5 else f"{MONTHS[month - 1]} {day}, {year}"
        target = {"guest": full, "city": city, "check_in": iso, "nights": rng.randint(1, 14)}
        return target, {**target, "date": written}
    if kind == "contact":
        first, last = full.lower().split()
        email = f"{first}.{last}@{rng.choice(DOMAINS)}"
        target = {"name": full, "email": email, "city": city}
        return target, dict(target)
    target = {"customer": full, "product": rng.choice(PRODUCTS), "quantity": rng.randint(2, 20)}
    return target, dict(target)


def field_matches(value: Any, gold: Any) -> bool:
    """A field's value equals the gold one: integers exactly, text up to case and surrounding space."""
    if isinstance(gold, int):
        return isinstance(value, int) and not isinstance(value, bool) and value == gold
    return isinstance(value, str) and " ".join(value.split()).casefold() == str(gold).casefold()


@register_task
class StructuredOutput(StructuredTask):
    """Extraction into a schema: 400 sentences (100 per kind of record), the target the record's field values.

    A reply scores the share of the schema's fields it got right (0 when it is not a complete JSON object).
    """

    name = "structured_output"
    source = (
        "generated: sentences over census names (names==0.3.0, MIT), a fixed list of cities, products and dates; "
        "schemas as LangChain's convert_to_json_schema writes pydantic models"
    )
    schemas = EXTRACTION_SCHEMAS
    fractions = (0.6, 0.1, 0.3)
    """30% to test: the test mean is measured on ~120 requests."""
    per_kind = 100
    max_tokens = 64
    """The longest object (a booking with a guest's name and a date) is about 35 tokens under the grammar."""
    phrasings = (
        Phrasing("extract", "Extract the {record} from this text:\n{input}"),
        Phrasing("text_only", "{input}"),
        Phrasing(
            "service",
            "{input}",
            system="You are a data extraction service. Fill in the fields from the user's text.",
        ),
        Phrasing("form", 'Fill in the {record} form from this message: "{input}"'),
        Phrasing("chatty", "hey, can you pull the {record} details out of this for me? {input}"),
        Phrasing("parse", "Parse the following into JSON.\n\nText: {input}"),
        Phrasing(
            "crm",
            "New message from the inbox:\n{input}",
            system="You keep a company's records up to date from its incoming messages.",
            test_only=True,
        ),
        Phrasing("bullet", "Read this and give me the {record} as structured data:\n- {input}", test_only=True),
    )

    @override
    def _load(self) -> list[Example]:
        out = []
        for kind, (record, templates) in SENTENCES.items():
            for i in range(self.per_kind):
                rng = random.Random(f"structured_output:{kind}:{i}")
                target, written = _values(kind, rng)
                text = rng.choice(templates).format(**written)
                meta = {"schema": kind, "record": record}
                out.append(Example(id=f"structured_output-{kind}-{i}", input=text, target=target, meta=meta))
        return out

    @override
    def score(self, example: Example, text: str) -> float:
        obj = self.extract(example, text)
        if obj is None:
            return 0.0
        gold: dict[str, Any] = example.target
        return sum(field_matches(obj.get(k), v) for k, v in gold.items()) / len(gold)


# -- open fields ---------------------------------------------------------------------------------------------------

WRITING_SCHEMAS = {
    # LangChain's standard integration tests ask for this Joke ("Tell me a joke about cats.").
    "joke": _model_schema(
        "Joke",
        "Joke to tell user.",
        {"setup": ("string", "question to set up a joke"), "punchline": ("string", "answer to resolve the joke")},
    ),
    "riddle": _model_schema(
        "Riddle",
        "A riddle for the user.",
        {"question": ("string", "the riddle itself"), "answer": ("string", "the solution")},
    ),
    "story": _model_schema(
        "StoryIdea",
        "The start of a short story.",
        {"title": ("string", "a short title"), "opening": ("string", "the first sentence of the story")},
    ),
}

#: Topics, as a request names them ("a joke about cats"), and the stem an on-topic reply mentions.
TOPICS = (
    ("cats", "cat"), ("dogs", "dog"), ("coffee", "coffee"), ("Mondays", "monday"), ("pirates", "pirate"),
    ("robots", "robot"), ("pizza", "pizza"), ("the ocean", "ocean"), ("trains", "train"), ("bees", "bee"),
    ("libraries", "librar"), ("dinosaurs", "dinosaur"), ("the moon", "moon"), ("bicycles", "bicycle"),
    ("snow", "snow"), ("computers", "computer"), ("cheese", "chees"), ("ghosts", "ghost"), ("gardens", "garden"),
    ("penguins", "penguin"), ("music", "music"), ("teachers", "teacher"), ("rain", "rain"), ("chess", "chess"),
    ("bananas", "banana"), ("wizards", "wizard"), ("airports", "airport"), ("birthdays", "birthday"),
    ("owls", "owl"), ("socks", "sock"), ("the desert", "desert"), ("elephants", "elephant"), ("bread", "bread"),
    ("football", "football"), ("dragons", "dragon"), ("clocks", "clock"), ("mountains", "mountain"),
    ("frogs", "frog"), ("tea", "tea"), ("spiders", "spider"), ("doctors", "doctor"), ("kings", "king"),
    ("cookies", "cookie"), ("the forest", "forest"), ("space", "space"), ("horses", "horse"), ("math", "math"),
    ("sharks", "shark"), ("shoes", "shoe"), ("winter", "winter"), ("farmers", "farmer"), ("apples", "apple"),
    ("rabbits", "rabbit"), ("the beach", "beach"), ("chickens", "chicken"), ("lighthouses", "lighthouse"),
    ("volcanoes", "volcano"), ("mice", "mouse"), ("hats", "hat"), ("cars", "car"), ("pencils", "pencil"),
    ("castles", "castle"), ("umbrellas", "umbrella"), ("soup", "soup"), ("monkeys", "monkey"),
    ("the weather", "weather"), ("bakers", "baker"), ("balloons", "balloon"), ("tigers", "tiger"),
    ("the internet", "internet"), ("camping", "camp"), ("detectives", "detective"), ("whales", "whale"),
    ("mirrors", "mirror"), ("vegetables", "vegetable"), ("astronauts", "astronaut"), ("bridges", "bridge"),
    ("cows", "cow"), ("ice cream", "ice cream"), ("keys", "key"), ("fish", "fish"), ("birds", "bird"),
    ("books", "book"), ("the sun", "sun"), ("pianos", "piano"), ("ducks", "duck"), ("islands", "island"),
    ("zombies", "zombie"), ("clouds", "cloud"), ("candles", "candle"), ("gorillas", "gorilla"),
    ("pumpkins", "pumpkin"), ("sandwiches", "sandwich"), ("kangaroos", "kangaroo"), ("nurses", "nurse"),
    ("boats", "boat"), ("trees", "tree"), ("lemons", "lemon"), ("jellyfish", "jellyfish"), ("squirrels", "squirrel"),
)  # fmt: skip

#: Per schema, how a request names what it wants.
WRITING_NOUNS = {"joke": "joke", "riddle": "riddle", "story": "story opening"}

_WORD = re.compile(r"\w+")
LOOP_SHARE = 0.3
"""A field whose word trigrams repeat more than this share is a loop ("a cat is a cat, a cat is a cat")."""


def is_prose(text: str) -> bool:
    """Whether a field holds words: one of two letters or more, and letters three quarters of what is not a space.

    A penalty on repeated tokens can push the model, once the grammar has opened a string, into punctuation
    (``"setup": "]["``), markup or a lone quote instead of words.
    """
    chars = "".join(text.split())
    letters = sum(c.isalpha() for c in chars)
    return bool(re.search(r"[^\W\d_]{2,}", text)) and letters >= 0.75 * len(chars)


def repeated_share(text: str) -> float:
    """The share of a text's word trigrams that repeat an earlier one (0 for fewer than 3 words)."""
    words = _WORD.findall(text.casefold())
    grams = list(zip(words, words[1:], words[2:]))
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


@register_task
class StructuredWriting(StructuredTask):
    """Open fields under a schema: a joke (LangChain's ``Joke``), a riddle or a story opening about one of 100 topics.

    300 examples. A reply scores 0 unless it is a complete object with every field words (:func:`is_prose`), no field
    a loop (:func:`repeated_share` above :data:`LOOP_SHARE`) and not all fields the same text; such a reply scores
    1/2, and 1 when it mentions the topic.
    """

    name = "structured_writing"
    source = "generated: LangChain's standard-test Joke schema and two like it, over a fixed list of 100 topics"
    schemas = WRITING_SCHEMAS
    fractions = (0.6, 0.1, 0.3)
    """30% to test: the test mean is measured on ~90 requests."""
    max_tokens = 96
    """A joke object is 25-45 tokens; a loop runs to the cap and leaves the object unclosed."""
    phrasings = (
        Phrasing("tell", "Tell me a {what} about {topic}."),
        Phrasing("write", "Write a {what} about {topic}."),
        Phrasing("short", "{what} about {topic}, please"),
        Phrasing("assistant", "I need a {what} about {topic}.", system="You are a creative writing assistant."),
        Phrasing("chatty", "my friend is obsessed with {topic} lol, got a good {what} for them?"),
        Phrasing("topic", "Topic: {topic}", system="Reply with a {what} on the topic the user gives."),
        Phrasing(
            "kids",
            "Can you make up a {what} about {topic}?",
            system="You write for children aged 8 to 10.",
            test_only=True,
        ),
        Phrasing("newsletter", "For our company newsletter, give me a {what} about {topic}.", test_only=True),
    )

    @override
    def _load(self) -> list[Example]:
        out = []
        for kind, what in WRITING_NOUNS.items():
            for topic, stem in TOPICS:
                slug = re.sub(r"\W+", "-", topic.casefold())
                meta = {"schema": kind, "what": what, "topic": topic, "stem": stem}
                out.append(Example(id=f"structured_writing-{kind}-{slug}", input=topic, target=stem, meta=meta))
        return out

    @override
    def score(self, example: Example, text: str) -> float:
        obj = self.extract(example, text)
        fields = list(self.schema(example)["required"])
        if obj is None or not all(isinstance(obj.get(f), str) and is_prose(obj[f]) for f in fields):
            return 0.0
        values = [" ".join(obj[f].split()).casefold() for f in fields]
        if len(set(values)) == 1 or any(repeated_share(v) > LOOP_SHARE for v in values):
            return 0.0
        on_topic = any(re.search(rf"\b{re.escape(example.target)}", v) for v in values)
        return 1.0 if on_topic else 0.5
