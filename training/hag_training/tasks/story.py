"""Story (creativity, open-ended): "Write a very short story (3 sentences) about <topic>." for common English nouns.

Topics: haiku's (`haiku.poem_topics`: common nouns from wordfreq, wonderwords and lemminflect, see its docstring), one
example each, id "story-<topic>". Each asks for 2, 3 or 4 sentences, drawn by a seeded rule
(`random.Random("story:<topic>")`), named in words ("three sentences") or digits, as the phrasing has it.

Per-reply score = count x topic x repetition x length x on-task, in [0, 1]:

* The story is the reply's lines with letters, without markdown emphasis, heading marks or quotes, less a lead-in
  line ending in ":" ("Here is a short story:") and a title at the start ("Title: The Lost Moon", or a short line of
  at most 8 words without an end mark followed by more lines); it is cut into sentences after ".", "!" or "?"
  followed by a space and at line ends (`concepts.sentences`), a last piece cut off at the token limit counting as
  one.
* *Count*: min(n, N) / max(n, N) for n sentences where N were asked: a six-sentence reply to a three-sentence
  request keeps half, and so does a one-line reply to a request for two. An explanation after the story ("This
  story shows ...") counts too: the user asked for the story and nothing else.
* *Topic*: 1 if the topic word or an inflection of it appears (`concepts.uses_concept`), else 0.5.
* *Repetition*: distinct word trigrams over word trigrams of the story (`metrics.distinct_n` with n = 3): a loop
  loses it. Trigrams, not the haiku's bigrams, since prose repeats bigrams such as "the dog" or "in the" without
  looping (a hand-written three-sentence story keeps 1.0 of its trigrams and 0.95 of its bigrams).
* *Length*: min(1, w / 6) x min(1, 30 / w) for w words per sentence on average: three two-word sentences are no
  story, and a 90-word sentence is no "very short" one.
* *On-task*: the share of the sentences that do not talk about the request (`concepts.assistant_talk`: they name
  sentences, apologise, refuse, speak as a chatbot or offer help): "I'm sorry, but as a chatbot I can't write bedtime
  stories." is no story, and SmolLM2-135M writes such replies to some phrasings.

A story of the asked length on the topic without repetition scores 1. The task is as open-ended as haiku (a user who
asks again expects a new story): `score_group` multiplies the mean quality of `k` replies by (1 - w + w x
diversity), diversity = 1 - Self-BLEU of the extracted stories, w = `diversity_weight` = 0.5.

The answer length is `max_tokens` = 160, room for four sentences of 25 words and a title; a reply that rambles past
it is cut off, and its count pays for it.

Measured on SmolLM2-135M-Instruct (`hag-train room`, the first 16 dev inputs, k = 3, top_p 0.95 and top_k 40
throughout), mean quality / diversity / group score: greedy 0.313 / 0 / 0.156 (it loops and repeats sentences),
greedy with repetition penalty 1.15 0.420 / 0 / 0.210; temperature 0.7 0.384 / 0.95 / 0.374, with the penalty 0.402 /
0.96 / 0.395; llama.cpp's default (0.8) 0.366 / 0.95 / 0.355, ChatLlamaCpp's (0.8, penalty 1.1) 0.433 / 0.96 /
0.424; temperature 1.0 0.342 / 0.97 / 0.336, and with the penalty 0.467 / 0.98 / 0.462, the best, 0.305 above greedy
(95% interval 0.238 to 0.376). The penalty helps at every temperature. The model seldom writes the asked number
of sentences (15% of those 320 replies; more in 50%, fewer in 35%), and some wordings ("storyteller", "bedtime")
draw chatbot talk.
"""

from __future__ import annotations

import random
import re
from typing import Any

from typing_extensions import override

from ..metrics import distinct_n
from .base import Example, Phrasing, Task
from .concepts import assistant_talk, reply_lines, sentences, uses_concept
from .haiku import poem_topics
from .registry import register_task

__all__ = ["SENTENCE_COUNTS", "Story", "story_sentences"]

SENTENCE_COUNTS = (2, 3, 4)
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_TITLE = re.compile(r"^title\s*:", re.IGNORECASE)


def story_sentences(text: str) -> list[str]:
    """The sentences of the story in a reply: lead-in and title dropped (see the module docstring)."""
    lines = reply_lines(text)
    if lines and (
        _TITLE.match(lines[0]) or (len(lines) > 1 and len(lines[0].split()) <= 8 and lines[0][-1] not in ".!?")
    ):
        lines = lines[1:]

    return sentences("\n".join(lines))


@register_task
class Story(Task):
    """One prompt per topic: a very short story of 2, 3 or 4 sentences (see the module docstring)."""

    name = "story"
    family = "creativity"
    source = (
        "generated; topics are haiku's (wordfreq==3.1.1 (CC-BY-SA-4.0 data), wonderwords==3.0.1 and "
        "lemminflect==0.2.3 (MIT)); sentence counts drawn by a seeded rule"
    )
    diversity_weight = 0.5
    max_tokens = 160
    phrasings = (
        Phrasing("write", "Write a very short story ({sentences_word} sentences) about {topic}."),
        Phrasing("tell", "Tell me a story about {topic} in exactly {sentences} sentences."),
        Phrasing("tiny", "A tiny story about {topic}, please: {sentences_word} sentences, no more."),
        Phrasing(
            "storyteller",
            "Topic: {topic}",
            system="You are a storyteller. Answer every request with a story of {sentences_word} sentences.",
        ),
        Phrasing("terse", "story, {sentences} sentences: {topic}"),
        Phrasing(
            "bedtime",
            "My daughter wants a bedtime story about {topic}, but it's late. "
            "Could you make it just {sentences_word} sentences long?",
        ),
        Phrasing(
            "micro",
            "Micro-fiction challenge: a complete story in {sentences_word} sentences. The subject is {topic}.",
            test_only=True,
        ),
        Phrasing(
            "prompt",
            "Please write a {sentences}-sentence story about {topic}.",
            system="You are a helpful assistant.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return [
            Example(
                id=f"story-{topic}",
                input=topic,
                target=n,
                meta={"topic": topic, "sentences": n},
            )
            for topic in poem_topics()
            for n in [random.Random(f"story:{topic}").choice(SENTENCE_COUNTS)]
        ]

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        return {**super().fields(example), "sentences_word": _NUMBER_WORDS[example.meta["sentences"]]}

    @override
    def extract(self, example: Example, text: str) -> str:
        return " ".join(story_sentences(text))

    @override
    def score(self, example: Example, text: str) -> float:
        parts = story_sentences(text)
        if not parts:
            return 0.0
        story = " ".join(parts)
        n, asked = len(parts), example.meta["sentences"]
        count = min(n, asked) / max(n, asked)
        topic = 1.0 if uses_concept(story, example.meta["topic"]) else 0.5
        words = len(_WORD.findall(story.lower())) / n
        length = min(1.0, words / 6) * min(1.0, 30 / words) if words else 0.0
        on_task = sum(not assistant_talk(p) for p in parts) / n
        return count * topic * distinct_n(story, 3) * length * on_task
