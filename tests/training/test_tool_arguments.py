"""The tool-arguments task: asked as ChatHAG asks for a forced call, generated under its grammar, scored on the call."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.generation.local import local_engine
from hag_training.scoring import FAMILY_MAX_TOKENS, Scorer, answer_tokens
from hag_training.tasks import Task, get_task
from hag_training.tasks.tool_arguments import TOOLS
from langchain_core.messages import HumanMessage, SystemMessage

from hag_chain import ChatHAG, DecodingConfig, tool_call_grammar, tool_call_messages
from hag_chain.chat.request import Request


def _call(name: str, arguments: dict) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


@pytest.mark.unit
def test_the_task_is_deterministic_and_phrased_many_ways():
    task = get_task("tool_arguments")
    assert task.family == "structured" and task.max_tokens == answer_tokens(task) <= FAMILY_MAX_TOKENS["structured"]
    examples = task.load()
    assert [(e.target, e.meta) for e in examples] == [(e.target, e.meta) for e in get_task("tool_arguments").load()]
    assert len(examples) == 400 and {e.meta["tool"] for e in examples} == set(TOOLS)
    assert len({e.input for e in examples}) == 400  # no request text twice: none in test is one tuning saw
    task.check_phrasings(min_phrasings=8, min_test_only=2)
    assert sum(p.test_only for p in task.phrasings) == 2
    assert len(task.split(0).test) >= 100


@pytest.mark.unit
def test_each_request_holds_its_arguments_and_binds_its_tool_with_two_others():
    task = get_task("tool_arguments")
    for e in task.load():
        tools = e.meta["tools"]
        assert len(set(tools)) == 3 and e.meta["tool"] in tools
        parameters = TOOLS[e.meta["tool"]]["function"]["parameters"]
        assert list(e.target) == parameters["required"] == list(parameters["properties"])
        for value in e.target.values():
            assert re.search(rf"\b{re.escape(str(value))}\b", e.input), (value, e.input)
    assert len({tuple(e.meta["tools"]) for e in task.load()}) > 20  # the bound tools and their order vary


@pytest.mark.unit
def test_prompts_and_grammar_are_what_chathag_asks_a_forced_call_with():
    task = get_task("tool_arguments")
    example = task.load()[0]
    kinds = {"system": SystemMessage, "user": HumanMessage}
    for phrasing in task.phrasings:
        ex = replace(example, phrasing=phrasing.name)
        plain = Task.messages(task, ex)  # the phrasing alone, as a user would send it
        options = {"tools": task.tools(ex), "tool_choice": "any"}
        request = Request.build(
            [kinds[m["role"]](m["content"]) for m in plain], options, pins={}, stop=None, max_tokens=None, seed=None
        )
        assert task.messages(ex) == plain == request.chat  # the tools are offered apart, as ChatHAG offers them
        assert request.forced_tools == request.offered_tools == task.tools(ex)
        assert task.grammar(ex) == tool_call_grammar(request.forced_tools)


def test_the_planner_reads_the_tools_as_the_search_asked_them(prompted, tmp_path):
    """On SmolLM2 (whose template writes no tools) the tools are listed in the system message, for both."""
    task = get_task("tool_arguments")
    example = replace(task.load()[0], phrasing="plain")
    messages, tools = Scorer(task, CachedEngine(local_engine(), GenerationCache(tmp_path / "g.sqlite"))).asked(example)
    assert tools is None and messages == tool_call_messages(task.messages(example), task.tools(example))
    ChatHAG(max_tokens=8).choose_config(example.input, tools=task.tools(example), tool_choice="any")
    assert prompted[-1][: len(messages)] == messages  # then the planner turn


@pytest.mark.unit
def test_a_call_is_scored_on_its_tool_and_each_argument():
    task = get_task("tool_arguments")
    e = next(e for e in task.load() if e.meta["tool"] == "book_table")
    name, gold = e.meta["tool"], e.target
    assert task.score(e, _call(name, gold)) == 1.0 and task.extract(e, _call(name, gold)) == (name, gold)
    assert task.score(e, _call(name, {**gold, "name": gold["name"].upper()})) == 1.0
    assert task.score(e, _call(name, {**gold, "people": gold["people"] + 1})) == pytest.approx(2 / 3)
    assert task.score(e, _call(name, {**gold, "people": str(gold["people"])})) == pytest.approx(2 / 3)
    assert task.score(e, _call(name, {k: v for k, v in gold.items() if k != "time"})) == pytest.approx(2 / 3)
    other = next(t for t in e.meta["tools"] if t != name)
    assert task.score(e, _call(other, gold)) == 0.0  # the wrong tool
    assert task.score(e, _call(name, gold)[:-14]) == 0.0  # cut off by max_tokens
    assert task.score(e, json.dumps(gold)) == 0.0 and task.extract(e, "I can't book tables.") is None


def test_greedy_calls_on_the_real_model_follow_the_grammar(tmp_path):
    """Greedy under the grammar on SmolLM2-135M: one complete call of a bound tool per request, some of them right."""
    task = get_task("tool_arguments")
    examples = [next(e for e in task.split(0).dev if e.meta["tool"] == tool) for tool in TOOLS]
    scorer = Scorer(task, CachedEngine(local_engine(), GenerationCache(tmp_path / "g.sqlite")))
    groups = scorer.score([(e, DecodingConfig(temperature=0.0)) for e in examples])
    for example, group in zip(examples, groups, strict=True):
        call = task.extract(example, group.texts[0])
        assert call is not None and call[0] in example.meta["tools"], group.texts
        assert list(call[1]) == list(TOOLS[call[0]]["function"]["parameters"]["properties"])
    assert sum(g.score for g in groups) > 0
