"""The structured tasks: asked as ChatHAG's structured output asks, generated under its grammar, scored on the object.

The runtime side is checked here too: the planner of a structured request reads the schema instructions the tasks'
prompts carry, so an adapter tuned on these tasks sees at run time what it was tuned on.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.generation.local import local_engine
from hag_training.scoring import FAMILY_MAX_TOKENS, Scorer, answer_tokens
from hag_training.tasks import Task, get_task
from hag_training.tasks.structured import (
    EXTRACTION_SCHEMAS,
    LOOP_SHARE,
    WRITING_SCHEMAS,
    census_last_names,
    parse_object,
    repeated_share,
)
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from hag_chain import ChatHAG, DecodingConfig, json_grammar, structured_output_messages
from hag_chain.chat.request import Request

NAMES = ("structured_output", "structured_writing")


class Joke(BaseModel):
    """Joke to tell user."""

    setup: str = Field(description="question to set up a joke")
    punchline: str = Field(description="answer to resolve the joke")


def _joke_schema() -> dict:
    """The schema ``with_structured_output`` sends for LangChain's standard-test Joke (the class above)."""
    from langchain_core.utils.function_calling import convert_to_json_schema

    return convert_to_json_schema(Joke)


def _as_langchain(messages: list[dict[str, str]]) -> list:
    kinds = {"system": SystemMessage, "user": HumanMessage}
    return [kinds[m["role"]](m["content"]) for m in messages]


@pytest.mark.unit
@pytest.mark.parametrize("name", NAMES)
def test_tasks_are_deterministic_and_phrased_many_ways(name):
    task = get_task(name)
    assert task.family == "structured" and task.max_tokens == answer_tokens(task) <= FAMILY_MAX_TOKENS["structured"]
    examples = task.load()
    assert [e.target for e in examples] == [e.target for e in get_task(name).load()]
    assert len(examples) >= 300
    task.check_phrasings(min_phrasings=8, min_test_only=2)
    assert sum(p.test_only for p in task.phrasings) == 2
    split = task.split(0)
    assert len(split.test) >= 80


@pytest.mark.unit
def test_extraction_targets_are_in_their_sentences():
    task = get_task("structured_output")
    examples = task.load()
    assert {e.meta["schema"] for e in examples} == set(EXTRACTION_SCHEMAS)
    last = set(census_last_names())
    assert len(last) == 500 and {"Smith", "Johnson"} <= last
    for e in examples:
        assert list(e.target) == EXTRACTION_SCHEMAS[e.meta["schema"]]["required"]
        for field, value in e.target.items():
            if field != "check_in":  # a date may be written out ("May 23, 2027") and asked for as 2027-05-23
                assert str(value) in e.input, (field, value, e.input)


@pytest.mark.unit
@pytest.mark.parametrize("name", NAMES)
def test_prompts_and_grammar_are_what_chathag_asks_with(name):
    """Each phrasing's prompt is the conversation ChatHAG builds for structured output, and both phases read it."""
    task = get_task(name)
    example = task.load()[0]
    schemas = {**EXTRACTION_SCHEMAS, **WRITING_SCHEMAS}
    for phrasing in task.phrasings:
        ex = replace(example, phrasing=phrasing.name)
        schema = schemas[ex.meta["schema"]]
        plain = Task.messages(task, ex)  # the phrasing alone, as a user would send it
        response_format = {"type": "json_object", "schema": schema}
        request = Request.build(
            _as_langchain(plain), {"response_format": response_format}, pins={}, stop=None, max_tokens=None, seed=None
        )
        assert task.messages(ex) == request.chat == structured_output_messages(plain, schema)
        assert request.chat[0]["role"] == "system" and json.dumps(schema) in request.chat[0]["content"]
        first = plain[0]["content"] + "\n\n" if phrasing.system else ""
        assert request.chat[0]["content"].startswith(first + "Reply with a single JSON object that matches")
    assert task.grammar(example) == json_grammar(task.schema(example))
    assert get_task("arithmetic").grammar(get_task("arithmetic").load()[0]) is None


@pytest.mark.unit
def test_the_joke_is_langchains():
    task = get_task("structured_writing")
    assert WRITING_SCHEMAS["joke"] == _joke_schema()
    first = replace(next(e for e in task.load() if e.id == "structured_writing-joke-cats"), phrasing="tell")
    assert task.messages(first)[-1] == {"role": "user", "content": "Tell me a joke about cats."}  # the suite's words


@pytest.mark.unit
def test_extraction_is_scored_per_field():
    task = get_task("structured_output")
    e = next(e for e in task.load() if e.meta["schema"] == "person")
    right = json.dumps(e.target)
    assert task.score(e, right) == 1.0 and task.extract(e, right) == e.target
    assert task.score(e, " " + json.dumps({**e.target, "name": e.target["name"].upper()}) + " ") == 1.0
    assert task.score(e, json.dumps({**e.target, "age": e.target["age"] + 1})) == pytest.approx(2 / 3)
    assert task.score(e, json.dumps({**e.target, "age": str(e.target["age"])})) == pytest.approx(2 / 3)
    assert task.score(e, json.dumps({"name": "Nobody", "age": True, "city": "Nowhere"})) == 0.0
    assert task.score(e, right[:-1]) == 0.0  # cut off by max_tokens: not an object
    assert task.score(e, "[1, 2]") == 0.0 and parse_object("[1, 2]") is None
    booking = next(e for e in task.load() if e.meta["schema"] == "booking" and e.target["check_in"] not in e.input)
    assert task.score(booking, json.dumps(booking.target)) == 1.0  # the date asked for in ISO form


@pytest.mark.unit
def test_writing_is_scored_on_a_complete_object_without_loops():
    task = get_task("structured_writing")
    cats = next(e for e in task.load() if e.id == "structured_writing-joke-cats")
    good = {"setup": "Why did the cat sit on the computer?", "punchline": "To keep an eye on the mouse."}
    assert task.score(cats, json.dumps(good)) == 1.0
    either = {"setup": "Why did the chicken cross the road?", "punchline": "To get away from the cats."}
    assert task.score(cats, json.dumps(either)) == 1.0  # the topic in any field
    off_topic = {"setup": "Why did the chicken cross the road?", "punchline": "To get to the other side."}
    assert task.score(cats, json.dumps(off_topic)) == 0.5
    loop = "A cat is a cat, a cat is a cat, a cat is a cat, a cat is a cat"
    assert repeated_share(loop) > LOOP_SHARE > repeated_share(good["setup"]) == 0.0
    assert task.score(cats, json.dumps({"setup": loop, "punchline": "Meow."})) == 0.0
    assert task.score(cats, '{"setup": "' + loop + ", a cat is") == 0.0  # what max_tokens leaves of a loop
    assert task.score(cats, json.dumps({"setup": "Cats.", "punchline": " cats. "})) == 0.0  # one text twice
    assert task.score(cats, json.dumps({"setup": "Why do cats purr?", "punchline": ""})) == 0.0
    for junk in ("][", "{{", '<pre><code>[<sub>cat</span>"', "- 3 -"):  # what a penalty on `"` leaves in a string
        assert task.score(cats, json.dumps({"setup": junk, "punchline": "I'm a cat. I have no legs."})) == 0.0
    assert task.score(cats, json.dumps({"setup": "Why do cats purr?"})) == 0.0
    assert task.score_group(cats, [json.dumps(good), json.dumps(off_topic)]) == 0.75


@pytest.mark.unit
def test_scorer_generates_under_the_tasks_grammar(tmp_path):
    class Recording:
        engine_id = "recording"

        def __init__(self):
            self.requests = []

        def generate(self, requests, on_reply=None):
            self.requests += requests
            return ['{"setup": "Why do cats purr?", "punchline": "Cat-isfaction."}'] * len(requests)

    task = get_task("structured_writing")
    example = task.split(0).train[0]
    engine = Recording()
    scorer = Scorer(task, CachedEngine(engine, GenerationCache(tmp_path / "g.sqlite")), k=2)
    scorer.score([(example, DecodingConfig(temperature=0.7))])
    assert [r.grammar for r in engine.requests] == [task.grammar(example)] * 2
    assert [dict(zip(("role", "content"), m)) for m in engine.requests[0].messages] == task.messages(example)
    arithmetic = get_task("arithmetic")
    free = Scorer(arithmetic, CachedEngine(engine, GenerationCache(tmp_path / "g.sqlite")))
    assert free.requests(arithmetic.load()[0], DecodingConfig())[0].grammar is None


def test_replies_on_the_real_model_follow_the_schema(tmp_path):
    """Greedy extraction under the grammar on SmolLM2-135M: the object the schema asks for, every field filled."""
    task = get_task("structured_output")
    examples = [next(e for e in task.split(0).dev if e.meta["schema"] == kind) for kind in EXTRACTION_SCHEMAS]
    scorer = Scorer(task, CachedEngine(local_engine(), GenerationCache(tmp_path / "g.sqlite")))
    groups = scorer.score([(e, DecodingConfig(temperature=0.0)) for e in examples])
    for example, group in zip(examples, groups, strict=True):
        obj = json.loads(group.texts[0])
        assert list(obj) == list(example.target), group.texts  # the grammar writes the fields in the schema's order
    assert sum(g.score for g in groups) > 0


def test_the_planner_reads_the_schema_instructions(prompted):
    """A structured request's planner prompt holds the schema the answer is asked for, as the tasks' prompts do."""
    seen = prompted
    chat = ChatHAG(max_tokens=8)
    schema = _joke_schema()
    chat.choose_config("Tell me a joke about cats.", response_format={"type": "json_object", "schema": schema})
    planner_prompt = seen[-1]
    expected = structured_output_messages([{"role": "user", "content": "Tell me a joke about cats."}], schema)
    assert planner_prompt[: len(expected)] == expected  # then the planner turn
    task = get_task("structured_writing")
    cats = replace(next(e for e in task.load() if e.id == "structured_writing-joke-cats"), phrasing="tell")
    assert task.messages(cats) == expected
    seen.clear()
    chat.choose_config("Tell me a joke about cats.")
    assert "JSON" not in json.dumps(seen[-1])
