"""Group scores (`Task.score_group`) on known reply sets, and the haiku task's metric on hand-written replies."""

from __future__ import annotations

import pytest
from hag_training import metrics as m
from hag_training.tasks import TASKS, Task
from hag_training.tasks.haiku import NOT_TOPICS, haiku_lines, line_syllables, poem_topics, syllable_counts

from .test_writing import MOON_STORY, OTHER_MOON_STORY

OPEN_ENDED = {"pig_latin": 0.2, "haiku": 0.5, "concepts": 0.3, "story": 0.5}

HAIKU = "Pale moon in the sky\nwatching over sleeping fields\nsoft light on the snow"
OTHER_HAIKU = "The moon rises high\nover the quiet river\nsilver light on stones"
THIRD_HAIKU = "A full moon tonight\nowls are calling through the pines\ncold wind from the north"
PROSE = (
    "The moon is the natural satellite of the Earth, and it orbits our planet roughly every twenty-seven days, "
    "which is why its phases repeat each month."
)


@pytest.mark.unit
def test_group_diversity():
    same = ["a kid sits on the bench"] * 4
    near = ["a kid sits on the bench", "a kid sits on the chair", "a boy sits on the bench", "a kid sat on the bench"]
    apart = ["a kid sits on the bench", "children wait in line for a ride", "the park was crowded", "rain fell"]
    assert m.group_diversity(same) == 0.0
    assert 0.2 < m.group_diversity(near) < 0.5 < 0.85 < m.group_diversity(apart) <= 1.0
    assert m.group_diversity(["A kid.", "a kid."]) == 0.0  # case is no diversity
    assert m.group_diversity(["", ""]) == 0.0  # two empty replies are copies, not novel
    assert m.group_diversity(["", "a kid sits"]) == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        m.group_diversity(["one"])


@pytest.mark.unit
def test_open_ended_flags():
    assert {n: TASKS[n].diversity_weight for n in TASKS if TASKS[n].diversity_weight} == OPEN_ENDED
    for name, cls in TASKS.items():
        assert 0.0 <= cls.diversity_weight < 1.0
        assert cls().open_ended == (name in OPEN_ENDED)


def test_closed_task_group_is_the_mean(tasks):
    task = tasks["gsm8k"]
    e = task.load()[0]
    right, wrong = "Answer: 18", "Answer: 20"
    assert task.score_group(e, [right] * 4) == 1.0  # identical right answers cost nothing
    assert task.score_group(e, [right, wrong, right, wrong]) == pytest.approx(0.5)
    assert task.score_group(e, [wrong]) == 0.0
    with pytest.raises(ValueError, match="at least one reply"):
        task.score_group(e, [])


@pytest.mark.parametrize("name", sorted(OPEN_ENDED))
def test_identical_replies_score_below_distinct_ones_of_equal_quality(tasks, name):
    task: Task = tasks[name]
    w = task.diversity_weight
    e, same, distinct = _equal_quality_sets(task)
    q = task.score(e, same[0])
    assert q > 0 and [task.score(e, t) for t in distinct] == pytest.approx([q] * len(distinct))
    d = m.group_diversity([task.extract(e, t) for t in distinct])
    assert d > 0.5
    assert task.score_group(e, same) == pytest.approx(q * (1 - w))
    assert task.score_group(e, distinct) == pytest.approx(q * (1 - w + w * d))
    assert task.score_group(e, same) < task.score_group(e, distinct) <= q


def _equal_quality_sets(task: Task):
    """An example, four identical replies and four distinct replies of the same per-reply quality."""
    if task.name == "pig_latin":
        e = task.load()[0]
        words = e.target.split()
        # Each reply gets one word right and two exactly wrong (the English word left as it is).
        src = e.input.split()
        distinct = [" ".join(words[j] if j == i else src[j] for j in range(3)) for i in range(3)]
        return e, [distinct[0]] * 3, distinct
    if task.name == "concepts":  # "drop lift weight": three sentences using all three words, each scoring 1
        e = next(x for x in task.load() if x.id == "concepts-43946-0")
        distinct = [
            "The man lifts the heavy weight and then drops it.",
            "She dropped the weight after she lifted it over her head.",
            "Lifting a weight is easy until you drop it on your foot.",
        ]
        return e, [distinct[0]] * 4, distinct
    e = next(x for x in task.load() if x.input == "moon")
    if task.name == "story":
        return e, [MOON_STORY] * 4, [MOON_STORY, OTHER_MOON_STORY]
    return e, [HAIKU] * 4, [HAIKU, OTHER_HAIKU, THIRD_HAIKU]


@pytest.mark.parametrize("name", sorted(OPEN_ENDED) + ["gsm8k", "coinflip"])
def test_one_reply_is_scored_by_its_quality_alone(tasks, name):
    task = tasks[name]
    e = task.load()[0]
    for text in (str(e.target), e.input, "I don't know."):
        assert task.score_group(e, [text]) == task.score(e, text)


def test_haiku_topics_are_real_common_nouns(tasks):
    topics = poem_topics()
    assert len(topics) == len(tasks["haiku"].load()) == 1228
    assert len(set(topics)) == len(topics)
    assert {"city", "coffee", "moon", "river", "winter", "autumn", "tree"} <= set(topics)
    assert not {"can", "will", "full", "maybe", "want", "bob", "warren"} & set(topics)
    assert not NOT_TOPICS & set(topics)
    e = tasks["haiku"].load()[0]
    assert e.id == "haiku-people" and tasks["haiku"].messages(e)[0]["content"] == "Write a haiku about people."


def test_syllables():
    assert syllable_counts("autumn") == {2} and syllable_counts("fire") == {1, 2}
    assert syllable_counts("whispers") == {2} and syllable_counts("haiku") == {2}
    assert syllable_counts("twilight's") == {2}  # possessive of a known word
    assert syllable_counts("glorpify") == {3}  # not in the dictionary: vowel groups
    assert line_syllables("An old silent pond") == (5, 5)
    assert line_syllables("every fire") == (3, 5)


@pytest.mark.unit
def test_haiku_lines():
    reply = f'Here is a haiku about the moon:\n\n**{HAIKU.splitlines()[0]}**\n"{HAIKU.splitlines()[1]}"\n'
    reply += f"{HAIKU.splitlines()[2]}\n\nThis haiku captures the calm of night."
    assert haiku_lines(reply) == HAIKU.splitlines()
    assert haiku_lines("") == [] and haiku_lines("...\n\n") == []


def test_haiku_score(tasks):
    task = tasks["haiku"]
    e = next(x for x in task.load() if x.input == "moon")
    assert task.score(e, HAIKU) == pytest.approx(1.0)
    assert task.score(e, f"Here is a haiku about the moon:\n\n{HAIKU}\n\nThis haiku captures the night.") == 1.0
    off_topic = task.score(e, "An old silent pond\nA frog jumps into the pond\nSplash! Silence again.")
    assert off_topic == pytest.approx(0.5)  # perfect form, no moon
    prose = task.score(e, PROSE)
    assert 0 < prose < 0.15 < off_topic
    five_lines = task.score(e, HAIKU + "\nthe night is so long\nand I am awake")
    assert five_lines == pytest.approx(0.6)  # 3 of 5 lines count
    loop = task.score(e, "A moon, a moon, a moon\nA moon, a moon, a moon, a moon\nA moon, a moon, a moon")
    assert loop < 0.2
    long_lines = "The moon is shining brightly over the hills\nand the night is long\nI see it"
    assert 0.3 < task.score(e, long_lines) < 0.9
    assert task.score(e, "") == 0.0
