from __future__ import annotations

import pytest
from hag_training.tasks import TASKS, get_task
from hag_training.tasks.gym import GymTask

GYM_TASKS = {"chain_sum": "mathematics", "needle_haystack": "reasoning"}

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(GYM_TASKS))
def test_generated_examples_are_complete_and_deterministic(name):
    task = get_task(name)
    assert isinstance(task, GymTask) and task.family == GYM_TASKS[name] and name in TASKS
    examples = task.load()
    assert [e.id for e in examples] == [f"{name}-{i}" for i in range(600)]
    assert all(e.input.strip() and e.target and e.group == e.input for e in examples)
    again = get_task(name).load()
    assert [(e.id, e.input, e.target, e.meta) for e in again] == [(e.id, e.input, e.target, e.meta) for e in examples]


@pytest.mark.parametrize("name", sorted(GYM_TASKS))
def test_phrasings(name):
    task = get_task(name)
    task.check_phrasings(min_phrasings=6, min_test_only=2)
    assert len(task.phrasings) >= 8 and sum(p.test_only for p in task.phrasings) == 2
    # The first phrasing is a plain user message that carries the input (what test_tasks checks of every task).
    assert task.phrasings[0].system is None and "{input}" in task.phrasings[0].user
    split = task.split(0)
    assert {e.phrasing for e in split.train} == {p.name for p in task.phrasings if not p.test_only}
    assert {e.phrasing for e in split.test} == {p.name for p in task.phrasings}


@pytest.mark.parametrize("name", sorted(GYM_TASKS))
def test_every_target_is_what_the_generator_accepts_and_scores_1(name):
    task = get_task(name)
    items = list(task.dataset())
    for example, item in zip(task.load(), items, strict=True):
        assert example.meta["question"] == item["question"] and example.target == item["answer"]
        assert task.dataset().score_answer(item["answer"], item) == 1.0
        assert task.score(example, f"Sure! The answer is {example.target}.") == 1.0


def test_chain_sum_known_example_and_scores():
    task = get_task("chain_sum")
    e = task.load()[0]
    assert e.input == "State the final answer to the following arithmetic problem: 15 - 43 - 75 ="
    assert (e.target, e.meta["expression"]) == ("-103", "15 - 43 - 75")
    assert task.messages(e) == [{"role": "user", "content": e.input}]
    for right in ("Sure! The answer is -103.", "-103", "15 - 43 - 75 = -103", "Let me see... Answer: -103"):
        assert task.score(e, right) == 1.0, right
    for wrong in ("The answer is 103.", "15 - 43 - 75 = -28", "I don't know.", ""):
        assert task.score(e, wrong) == 0.0, wrong
    # 2 or 3 terms of 1 or 2 digits, + and - only.
    for ex in task.load():
        terms = ex.meta["expression"].split()[::2]
        assert 2 <= len(terms) <= 3 and all(len(t) == len(terms[0]) <= 2 for t in terms)
        assert set(ex.meta["expression"].split()[1::2]) <= {"+", "-"}


def test_needle_haystack_known_example_and_scores():
    task = get_task("needle_haystack")
    assert task.chance == pytest.approx(1 / 3)
    e = task.load()[1]
    assert (
        e.input
        == "Tayo accepts the color red. Ayan bears playing rugby. Hubert values pandas.\nWho accepts the color red?"
    )
    assert (e.target, e.meta["names"]) == ("Tayo", ["Tayo", "Ayan", "Hubert"])
    assert e.meta["question"].endswith("\nWho accepts the color red? Reply only with a name.")
    for right in (
        "Tayo",
        "Sure! The name of the person who accepts the color red is Tayo.",
        "tayo.",
        "TAYO IS THE ONE",
        "The answer is: tayo",
        "Ayan bears playing rugby, Hubert values pandas... Answer: Tayo",
    ):
        assert task.score(e, right) == 1.0, right
    for wrong in ("Ayan.", "Hubert and Tayo", "Taho", "Tayos", "I don't know.", "hubert, then tayo"):
        assert task.score(e, wrong) == 0.0, wrong
    assert task.extract(e, "Taho") is None and task.extract(e, "Hubert and Tayo") == "Hubert"
    # Every answer is one of its example's names; a name joined by a hyphen is one name.
    for ex in task.load():
        assert ex.target in ex.meta["names"] and 2 <= len(ex.meta["names"]) <= 3
    hyphened = next(ex for ex in task.load() if any("-" in n for n in ex.meta["names"]))
    name = next(n for n in hyphened.meta["names"] if "-" in n)
    assert task.extract(hyphened, f"It is {name}.") == name
    # A name that is also a word counts only written as a name.
    hope = next(ex for ex in task.load() if "Hope" in ex.meta["names"] and ex.target != "Hope")
    assert task.score(hope, f"I hope it is {hope.target}.") == 1.0 and task.extract(hope, "Hope!") == "Hope"
