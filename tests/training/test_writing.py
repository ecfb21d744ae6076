"""The open-ended writing tasks `concepts` (CommonGen's one sentence from given words) and `story` (a very short
story of a given length): real data, phrasings, and their metrics on hand-written replies."""

from __future__ import annotations

import pytest
from hag_training.data_sources import olmo_docs
from hag_training.metrics import concept_coverage
from hag_training.scoring import answer_tokens
from hag_training.tasks import Task, get_task
from hag_training.tasks.concepts import (
    NOT_CONCEPTS,
    WIKIHOW_CATEGORIES,
    activitynet_sentences,
    assistant_talk,
    first_sentence,
    sentences,
    uses_concept,
)
from hag_training.tasks.haiku import poem_topics
from hag_training.tasks.story import story_sentences

COUNTS = {"concepts": 2853, "story": 1228}


@pytest.fixture(scope="module")
def concepts() -> Task:
    task = get_task("concepts")
    task.load()
    return task


@pytest.fixture(scope="module")
def story() -> Task:
    task = get_task("story")
    task.load()
    return task


@pytest.fixture(scope="module")
def lift(concepts):
    """The example drawn from "A man is lifting very heavy weight above his head and dropping it ."."""
    return next(e for e in concepts.load() if e.id == "concepts-43946-0")


@pytest.fixture(scope="module")
def moon(story):
    """The story example about the moon: two sentences asked."""
    return next(e for e in story.load() if e.input == "moon")


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_tasks_load_real_data_deterministically(name):
    task = get_task(name)
    examples = task.load()
    assert len(examples) == COUNTS[name]
    assert len({e.id for e in examples}) == len(examples) and all(e.id.startswith(f"{name}-") for e in examples)
    assert (task.family, task.chance, task.open_ended) == ("creativity", 0.0, True)
    again = get_task(name).load()
    assert [(e.id, e.input, e.target, e.meta) for e in again] == [(e.id, e.input, e.target, e.meta) for e in examples]
    s = task.split(0)
    assert [e.id for e in get_task(name).split(0).dev] == [e.id for e in s.dev]
    assert {len(s.train), len(s.dev), len(s.test)} and sum(map(len, (s.train, s.dev, s.test))) == len(examples)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_phrasings(name):
    task = get_task(name)
    task.check_phrasings(min_phrasings=6, min_test_only=2)
    assert len(task.phrasings) >= 8 and sum(p.test_only for p in task.phrasings) == 2
    assert any(p.system for p in task.phrasings) and any(p.system is None for p in task.phrasings)
    first = task.load()[0]
    # The canonical phrasing is a plain user message holding the input (as every task's first phrasing is).
    messages = task.messages(first)
    assert [m["role"] for m in messages] == ["user"] and first.input.split()[0] in messages[0]["content"]
    from dataclasses import replace

    for p in task.phrasings:
        rendered = task.messages(replace(first, phrasing=p.name))
        assert [m["role"] for m in rendered] == (["user"] if p.system is None else ["system", "user"])
        text = " ".join(m["content"] for m in rendered)
        assert "{" not in text and first.input.split()[0] in text


def test_answer_lengths(concepts, story):
    assert answer_tokens(concepts) == 64 and answer_tokens(story) == 160


def test_concept_sets_come_from_activitynet_captions(concepts, lift):
    examples = concepts.load()
    assert lift.input == "drop lift weight" and lift.meta["concepts"] == ["drop", "lift", "weight"]
    assert lift.target == "A man is lifting very heavy weight above his head and dropping it ."
    assert concepts.messages(lift) == [
        {"role": "user", "content": "Write one sentence using all of these words: drop, lift, weight."}
    ]
    captions = [c for _, _, c in activitynet_sentences()]
    assert len(captions) > 5000 and "The lady stands and lifts the weight over her head." in captions
    sets = [tuple(e.meta["concepts"]) for e in examples]
    assert len(set(sets)) == len(sets)
    for e in examples:
        c = e.meta["concepts"]
        assert 3 <= len(c) <= 4 and c == sorted(c) and e.input == " ".join(c) and not NOT_CONCEPTS & set(c)
        assert all(uses_concept(e.target, w) for w in c)  # every concept occurs in the caption it was read from
    # The captions come from HellaSwag's ActivityNet records, none from its WikiHow instructions.
    labels = {d["ind"]: d["query"].split(": ", 1)[0] for d in olmo_docs("hellaswag/rc_0shot")}
    used = {labels[int(e.id.split("-")[1])] for e in examples}
    assert len(used) > 150 and "Roof shingle removal" in used and not used & WIKIHOW_CATEGORIES
    assert 0.2 < sum(len(e.meta["concepts"]) == 4 for e in examples) / len(examples) < 0.35
    # Each caption is a good answer to its own concept set.
    scores = [concepts.score(e, e.target) for e in examples]
    assert min(scores) >= 0.8 and sum(s == 1.0 for s in scores) / len(scores) > 0.9


def test_concept_forms_include_irregular_ones():
    assert uses_concept("He sat on the bench.", "sit") and not concept_coverage("He sat on the bench.", ["sit"])
    assert uses_concept("She caught the ball.", "catch") and uses_concept("Two men ran.", "run")
    assert uses_concept("The dogs bark.", "dog") and not uses_concept("A cat naps.", "dog")


@pytest.mark.unit
def test_sentences_and_first_sentence():
    assert sentences('He ran. "Stop!" she said. "Go." He went!\nThe end') == [
        "He ran.",
        '"Stop!" she said.',
        '"Go."',
        "He went!",
        "The end",
    ]
    assert first_sentence("Here is a sentence:\n\n**The boy lifts the weight.**") == (
        "The boy lifts the weight.",
        False,
    )
    assert first_sentence('The sentence is: "He drops the weight."') == ("He drops the weight.", False)
    assert first_sentence("Sentence: He drops it. It falls.") == ("He drops it.", True)
    assert first_sentence("He drops it.\n\nThis uses all three words.") == ("He drops it.", True)
    assert first_sentence("") == ("", False) and first_sentence("...\n") == ("", False)
    assert assistant_talk("I'm sorry, but as a chatbot I cannot write stories.")
    assert assistant_talk("I'd be happy to create a sentence for you.") and not assistant_talk("The dog ran home.")


def test_concepts_score(concepts, lift):
    good = "The athlete lifts the heavy weight over his head and then drops it on the mat."
    other = "She lifted the weight, held it for a second and dropped it with a loud bang."
    assert concepts.score(lift, good) == 1.0 and concepts.score(lift, other) == 1.0
    assert concepts.score(lift, f"Here is one:\n{good}") == 1.0
    assert concepts.score(lift, f"{good} It was a new record.") == pytest.approx(0.8)  # more than one sentence
    assert concepts.score(lift, "He drops the cup on the kitchen floor.") == pytest.approx(1 / 3)  # one of three
    # A bare list, a loop to the token limit, an off-topic sentence, talk about the words: low.
    bare = concepts.score(lift, "drop, lift, weight")
    loop = concepts.score(
        lift,
        "He lifts the weight and drops the weight and lifts the weight and drops the weight "
        "and lifts the weight and drops the weight and lifts the weight and drops the weight and",
    )
    off = concepts.score(lift, "The sun is shining over the quiet village this morning.")
    talk = concepts.score(lift, 'The word "weight" is a noun, and drop and lift are verbs.')
    assert off == 0.0 and talk == 0.0 and 0.0 < loop < 0.35 and bare == pytest.approx(0.6)
    assert concepts.score(lift, "") == 0.0 and concepts.score(lift, "I'm sorry, I can't help with that.") == 0.0
    assert max(bare, loop, off, talk) < 0.7 < concepts.score(lift, good)


def test_concepts_group_rewards_variety(concepts, lift):
    good = "The athlete lifts the heavy weight over his head and then drops it on the mat."
    other = "She lifted the weight, held it for a second and dropped it with a loud bang."
    third = "At the gym a boy tries to lift a weight but drops it on his foot."
    same = concepts.score_group(lift, [good] * 3)
    varied = concepts.score_group(lift, [good, other, third])
    assert same == pytest.approx(0.7) and 0.95 < varied <= 1.0
    assert concepts.score_group(lift, [good, "The sun is shining.", "drop, lift, weight"]) < same


def test_story_examples(story, moon):
    examples = story.load()
    assert [e.input for e in examples] == list(poem_topics())
    assert {e.meta["sentences"] for e in examples} == {2, 3, 4} and all(
        e.target == e.meta["sentences"] for e in examples
    )
    assert moon.id == "story-moon" and moon.meta == {"topic": "moon", "sentences": 2}
    first = examples[0]
    assert story.messages(first) == [
        {"role": "user", "content": "Write a very short story (four sentences) about people."}
    ]
    counts = [sum(e.meta["sentences"] == n for e in examples) for n in (2, 3, 4)]
    assert min(counts) > 0.3 * len(examples)


MOON_STORY = (
    "Every night, Mia watched the moon from her window and told it about her day. "
    "One evening the moon winked back and dropped a silver feather on her sill."
)
OTHER_MOON_STORY = (
    "The old fisherman rowed out under a full moon to find the fish that had fled the storm. "
    "He came home with an empty net but a boat full of moonlight, and his wife said it was the better catch."
)


@pytest.mark.unit
def test_story_sentences():
    assert story_sentences(f"Here is a short story:\n\n**The Silver Feather**\n\n{MOON_STORY}") == sentences(MOON_STORY)
    assert story_sentences(f"Title: The Silver Feather\n{MOON_STORY}") == sentences(MOON_STORY)
    assert len(story_sentences(MOON_STORY)) == 2 and story_sentences("") == []


def test_story_score(story, moon):
    assert story.score(moon, MOON_STORY) == 1.0 and story.score(moon, OTHER_MOON_STORY) == 1.0
    assert story.score(moon, f"Here is a short story:\n\n**The Silver Feather**\n\n{MOON_STORY}") == 1.0
    # Twice the asked length keeps half; a story that never names the topic keeps half.
    assert story.score(moon, f"{MOON_STORY} {OTHER_MOON_STORY}") == pytest.approx(0.5)
    off_topic = "The dog ran across the field to fetch the ball. He brought it back and wagged his tail."
    assert story.score(moon, off_topic) == pytest.approx(0.5)
    loop = "The moon was bright. " + "The moon was bright and the night was long. " * 6
    refusal = (
        "I'm sorry, but as a chatbot I can't write bedtime stories. I can help with other requests about the moon."
    )
    assert story.score(moon, loop) < 0.1 and story.score(moon, refusal) == 0.0
    assert story.score(moon, "Moon. Moon.") < 0.4 and story.score(moon, "") == 0.0
    assert max(story.score(moon, t) for t in (loop, refusal, off_topic)) < story.score(moon, MOON_STORY)


def test_story_group_rewards_variety(story, moon):
    same = story.score_group(moon, [MOON_STORY] * 3)
    varied = story.score_group(moon, [MOON_STORY, OTHER_MOON_STORY])
    assert same == pytest.approx(0.5) and 0.95 < varied <= 1.0
