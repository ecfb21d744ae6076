from __future__ import annotations

import pytest
from hag_training import metrics as m


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("She makes 9 * 2 = $18 every day.\nAnswer: 18", "18"),
        ("The answer is $1,200.50.", "1200.50"),
        ("#### 42", "42"),
        ("First 3 apples, then 5 more, so 8", "8"),
        ("Answer: -7 degrees, not 3", "-7"),
        ("Answer: 3/4", "3/4"),
        ("no digits here", None),
        ("4. Now add them:\n5", "5"),
        ("It costs $ 12 in total", "12"),
    ],
)
def test_extract_number(text, number):
    assert m.extract_number(text) == number


@pytest.mark.unit
def test_numbers_equal():
    assert m.numbers_equal("18", "18.00") and m.numbers_equal("0.75", "3/4") and m.numbers_equal("$1,200", "1200")
    assert not m.numbers_equal("18", "19") and not m.numbers_equal(None, "1") and not m.numbers_equal("x", "x")


@pytest.mark.unit
def test_extract_yes_no():
    assert m.extract_yes_no("Yes, because flips cancel.") == "yes"
    assert m.extract_yes_no("The coin is not heads up, so no.") == "no"
    assert m.extract_yes_no("False.") == "no"
    assert m.extract_yes_no("Nobody knows; yesterday it was") is None


@pytest.mark.unit
def test_extract_choice():
    choices = ["bank", "library", "department store", "mall", "new york"]
    assert m.extract_choice("Answer: C", choices) == 2
    assert m.extract_choice("(B) library", choices) == 1
    assert m.extract_choice("B", choices) == 1
    assert m.extract_choice("I think it is a bank.", choices) == 0
    assert m.extract_choice("The correct option is E.", choices) == 4
    assert m.extract_choice("Maybe a bank or a mall.", choices) is None
    assert m.extract_choice("A bank", choices) == 0  # the article "A" is read as option A, which is the bank here
    assert m.extract_choice("I have no idea", choices) is None


@pytest.mark.unit
def test_chrf():
    ref = "That page number is not an integer"
    assert m.chrf(ref, ref) == pytest.approx(1.0)
    assert 0.5 < m.chrf("The page number is not an integer", ref) < 1.0
    assert m.chrf("Diese Seitennummer ist keine Ganzzahl", ref) < 0.3
    assert m.chrf("", ref) == 0.0
    assert m.chrf("igpay", "igpay") == pytest.approx(1.0)


@pytest.mark.unit
def test_concept_coverage_and_distinct():
    concepts = ["bench", "kid", "line", "ride", "sit", "carry"]
    text = "Kids lined up for rides while parents sitting on benches carried bags."
    assert m.concept_coverage(text, concepts) == 1.0
    assert m.concept_coverage("A kid sat down.", concepts) == pytest.approx(1 / 6)  # "sat" is irregular
    assert m.distinct_n("the cat sat on the mat") == 1.0
    assert m.distinct_n("the cat the cat the cat") == pytest.approx(2 / 5)


@pytest.mark.unit
def test_self_bleu():
    same = ["a kid sits on the bench"] * 3
    different = ["a kid sits on the bench", "children wait in line for a ride", "the park was crowded today"]
    assert m.self_bleu(same) == pytest.approx(1.0)
    assert m.self_bleu(different) < 0.2
    with pytest.raises(ValueError, match="at least 2"):
        m.self_bleu(["one"])


# Per-task scores on known right and wrong replies (real examples).


def test_gsm8k_score(tasks):
    task = tasks["gsm8k"]
    e = task.load()[0]
    assert task.score(e, "16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.\nAnswer: 18") == 1.0
    assert task.score(e, "Answer: $18.00") == 1.0
    assert task.score(e, "She makes 9 * 2 = 20 dollars. Answer: 20") == 0.0
    assert task.score(e, "I cannot solve this.") == 0.0


def test_arithmetic_score(tasks):
    task = tasks["arithmetic"]
    e = next(e for e in task.load() if e.input == "What is 3 minus 7?")
    assert task.messages(e)[-1]["content"].endswith("Reply with the number only.")
    assert task.score(e, "-4") == 1.0
    assert task.score(e, "3 minus 7 is -4.") == 1.0
    assert task.score(e, "4") == 0.0
    assert task.score(e, "I don't know.") == 0.0


@pytest.mark.parametrize("name", ["commonsense_qa", "arc_easy"])
def test_multiple_choice_score(tasks, name):
    task = tasks[name]
    for e in task.load()[:20]:
        right, wrong = "ABCDE"[e.target], "ABCDE"[(e.target + 1) % len(e.meta["choices"])]
        assert task.score(e, f"Answer: {right}") == 1.0
        assert task.score(e, f"{wrong}. {e.meta['choices'][(e.target + 1) % len(e.meta['choices'])]}") == 0.0


@pytest.mark.parametrize("name", ["boolq", "coinflip"])
def test_yes_no_score(tasks, name):
    task = tasks[name]
    for e in task.load()[:20]:
        other = "no" if e.target == "yes" else "yes"
        assert task.score(e, f"{e.target.capitalize()}.") == 1.0
        assert task.score(e, f"{other.capitalize()}, I am sure.") == 0.0
        assert task.score(e, "I don't know.") == 0.0


def test_pig_latin_score(tasks):
    task = tasks["pig_latin"]
    e = task.load()[0]
    assert task.score(e, e.target) == pytest.approx(1.0)
    assert task.score(e, f"Pig Latin: {e.target.title()}.\nThat was fun!") == pytest.approx(1.0)
    assert task.score(e, f"Sure! Here it is: {e.target}") == pytest.approx(1.0)
    assert task.score(e, e.input) == 0.0
    words = e.target.split()
    near_miss = task.score(e, " ".join([words[0], words[1], words[2][:-2]]))
    assert 2 / 3 < near_miss < 2 / 3 + 0.5 / 3
    assert task.score(e, " ".join(words + words)) == pytest.approx(1 / 2)
    assert task.score(e, "dishaydeadeadeadeadeadead mamama") < 0.1
    assert 0 < task.score(e, " ".join(w[:-2] for w in words)) <= 0.5


def test_translation_score(tasks):
    task = tasks["translation"]
    e = next(x for x in task.load() if x.input == "Dieses Feld ist zwingend erforderlich.")
    assert task.score(e, "This field is required.") == pytest.approx(1.0)
    assert task.score(e, 'Translation: "This field is required."') == pytest.approx(1.0)
    assert 0.4 < task.score(e, "This field is mandatory.") < 1.0
    assert task.score(e, e.input) < 0.3
