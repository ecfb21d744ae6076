"""The German-English tasks on the real Ding dictionary (Debian's trans-de-en .deb) and the .deb download they use."""

from __future__ import annotations

import dataclasses
import os
import re

import pytest
from hag_training import data_sources as ds
from hag_training.tasks import get_task
from hag_training.tasks.german import DING, GermanEnglish, GermanWords, answer_clause, ding_pairs, ding_words
from hag_training.tasks.translation import Translation

needs_mirror = pytest.mark.skipif(
    os.environ.get("HAG_OFFLINE", "").lower() not in ("", "0", "false", "no"), reason="HAG_OFFLINE is set"
)


@pytest.fixture(scope="module")
def task() -> GermanEnglish:
    t = get_task("german_english")
    assert isinstance(t, GermanEnglish)
    t.load()
    return t


def test_count_and_groups(task):
    examples = task.load()
    assert len(examples) == 14019
    assert len({e.group for e in examples}) == 13967  # one German sentence, up to two translations
    assert len({e.id for e in examples}) == len(examples)


def test_a_known_pair(task):
    [dog] = [e for e in task.load() if e.input == "Der Hund wedelte mit dem Schwanz."]
    assert dog.target == "The dog wagged its tail."
    assert dog.meta == {"source_lang": "de"}


def test_every_pair_is_two_clean_sentences(task):
    for e in task.load():
        for side in (e.input, e.target):
            assert side[-1] in ".?!", side
            assert 4 <= len(side.split()) <= 15, side
            assert not re.search(r"[(\[{</…]|\b(?:etw|jdn|jdm|sth|sb)\.", side), side
            assert " | " not in side and "; " not in side and " :: " not in side, side


def test_pairs_sharing_a_german_sentence_share_a_split(task):
    turn = [e for e in task.load() if e.input == "Wer ist an der Reihe?"]
    assert sorted(e.target for e in turn) == ["Whose turn is it next?", "Whose turn is it?"]
    assert turn[0].group == turn[1].group
    split = task.split(0)
    parts = {e.id: i for i, part in enumerate((split.train, split.dev, split.test)) for e in part}
    assert parts[turn[0].id] == parts[turn[1].id]
    groups = [{e.group for e in part} for part in (split.train, split.dev, split.test)]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])


def test_loading_and_splitting_are_deterministic(task):
    other = GermanEnglish()
    assert [e.id for e in other.load()] == [e.id for e in task.load()]
    a, b = task.split(0), other.split(0)
    assert [(e.id, e.phrasing) for e in a.test] == [(e.id, e.phrasing) for e in b.test]
    assert ding_pairs() == [(e.input, e.target) for e in task.load()]


def test_phrasings(task):
    task.check_phrasings(min_phrasings=6, min_test_only=2)
    assert len(task.phrasings) >= 8
    assert sum(p.test_only for p in task.phrasings) == 2
    assert any(p.system for p in task.phrasings) and any(p.system is None for p in task.phrasings)
    django = {(p.user, p.system) for p in Translation.phrasings}
    assert not django & {(p.user, p.system) for p in task.phrasings}
    split = task.split(0)
    test_only = {p.name for p in task.phrasings if p.test_only}
    assert not test_only & {e.phrasing for e in split.train + split.dev}
    assert test_only <= {e.phrasing for e in split.test}
    example = split.test[0]
    assert example.input in task.messages(example)[-1]["content"]


def test_score_reads_the_first_line_and_ignores_typographic_quotes(task):
    [sorry] = [e for e in task.load() if e.input == "Tut mir leid, ich weiß die Antwort nicht."]
    assert sorry.target == "I’m sorry, I don’t know the answer."
    assert task.score(sorry, "I'm sorry, I don't know the answer.") == 1.0
    assert task.score(sorry, 'Translation: "I’m sorry, I don’t know the answer."\n\nLiterally: ...') == 1.0
    assert 0.3 < task.score(sorry, "Sorry, I do not know the answer.") < 0.9
    assert task.score(sorry, "") == 0.0


@pytest.fixture(scope="module")
def words() -> GermanWords:
    t = get_task("german_words")
    assert isinstance(t, GermanWords)
    t.load()
    return t


def _word(task: GermanWords, german: str):
    [example] = [e for e in task.load() if e.input == german]
    return example


def test_words_count_and_split(words):
    examples = words.load()
    assert len(examples) == 263
    assert len({e.id for e in examples}) == len(examples)
    assert (words.family, words.chance, words.max_tokens) == ("translation", 0.0, 24)
    split = words.split(0)
    assert (len(split.train), len(split.dev), len(split.test)) == (156, 51, 56)
    for e in examples:
        assert re.fullmatch(r"[A-Za-zÄÖÜäöüß]{3,}", e.input), e.input
        assert e.target and all(re.fullmatch(r"[a-z][a-z' ]*", v) and len(v.split()) <= 3 for v in e.target), e
        assert e.input.lower() not in e.target
        assert e.meta["pos"] in ("noun", "verb", "adjective")


def test_known_words(words):
    music = _word(words, "Musik")
    assert (music.id, music.target, music.meta) == (
        "german_words-Musik",
        ["music"],
        {"source_lang": "de", "pos": "noun"},
    )
    assert _word(words, "Garten").target == ["garden", "yard"]
    kept = {e.input for e in words.load()}
    # Not kept: a word that is also an English one ("Kind"), a function word ("sein"), a nominalised verb beside its
    # verb ("Sitzen"), a word Ding lacks the common sense of ("machen"), an off-colour entry ("Fick").
    assert not kept & {"Kind", "Hand", "Problem", "sein", "Aber", "Sitzen", "machen", "Fick"}


def test_hund_is_dog_before_the_cognate_filter():
    everyday = {word: (pos, variants) for word, pos, variants in ding_words(min_similarity=0)}
    assert everyday["Hund"] == ("noun", ["dog", "dawg", "canine"])  # all the variants of all its headword lines
    assert everyday["gehen"] == ("verb", ["go", "walk", "step", "prove"])  # "to go {went; gone}": no `to `, no note
    assert everyday["Buch"] == ("noun", ["book"]) and "buch" not in everyday  # not the typestyle
    assert "Hund" not in {e.input for e in GermanWords().load()}  # "dog" is not spelled like "Hund"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("dog", 1.0),
        ("Dog.", 1.0),
        ("'Hund' means dog in English.", 1.0),
        ('The English word is "dog".', 1.0),
        ("English: dogs", 1.0),
        ('Sure! The German word "Hund" translates to "dog" in English.', 1.0),
        ("Hund, in English, is dog.", 1.0),
        ("Here is the translation:\n\nThe dog", 1.0),
        ("Hund (dog)", 1.0),
        ("Hund. It means dog.", 1.0),
        ("1. dog\n2. cat", 1.0),
        ("cat", 0.0),
        ("hotdog", 0.0),
        ("Hund", 0.0),
        ("", 0.0),
        ("The word is not known.\ndog", 0.0),  # only the first line counts
        ("cat, dog, hound", 0.0),  # a list: only its first candidate counts
        ("cat or dog", 0.0),
        ("The German word Hund means cat, dog or house.", 0.0),
        ("Possible translations: cat, dog", 0.0),
    ],
)
def test_word_score(words, reply, expected):
    hund = dataclasses.replace(_word(words, "Musik"), input="Hund", target=["dog", "dawg", "canine"])
    assert words.score(hund, reply) == expected


def test_word_score_on_real_entries(words):
    music, meaning = _word(words, "Musik"), dataclasses.replace(_word(words, "Musik"), input="meinen", target=["mean"])
    assert words.score(music, 'The German word "Musik" translates to "music" in English. It is a') == 1.0
    assert words.score(music, "MUSIC") == 1.0
    assert words.score(music, "Musik") == 0.0  # the input copied
    assert words.score(music, 'Musik is a German word that means "song".') == 0.0
    assert words.extract(music, "Sure! In English, Musik is: music, or tune") == "music"
    assert words.score(meaning, 'Meinen: a German word that means "middle"') == 0.0  # "means" does not name "mean"
    assert words.score(meaning, 'Meinen means "to mean".') == 1.0
    assert answer_clause("In German:\nMusik", "Musik", ["music"]) == ""


def test_word_phrasings(words):
    words.check_phrasings(min_phrasings=6, min_test_only=2)
    assert len(words.phrasings) >= 8
    assert sum(p.test_only for p in words.phrasings) == 2
    assert any(p.system for p in words.phrasings) and any(p.system is None for p in words.phrasings)
    assert all("{input}" in p.user for p in words.phrasings)
    split = words.split(0)
    test_only = {p.name for p in words.phrasings if p.test_only}
    assert not test_only & {e.phrasing for e in split.train + split.dev}
    assert test_only <= {e.phrasing for e in split.test}
    example = next(e for e in split.train if e.phrasing == "one_word")
    assert f'German {example.meta["pos"]} "{example.input}"' in words.messages(example)[-1]["content"]


def test_words_are_deterministic(words):
    other = GermanWords()
    assert [(e.id, e.target) for e in other.load()] == [(e.id, e.target) for e in words.load()]
    a, b = words.split(0), other.split(0)
    assert [(e.id, e.phrasing) for e in a.test] == [(e.id, e.phrasing) for e in b.test]
    assert [(e.input, e.meta["pos"], e.target) for e in words.load()] == ding_words()


def test_the_deb_is_an_ar_archive_of_xz_tarballs():
    path = ds.deb_file(DING[0])
    assert path.stat().st_size == ds.DEBIAN_ARTIFACTS[DING[0]].size
    assert ds._ar_member(path, "debian-binary") == ("debian-binary", b"2.0\n")
    assert ds._ar_member(path, "data.tar")[0] == "data.tar.xz"
    assert ds.deb_member(*DING).startswith(b"# Version :: devel 2023-01-30\n")
    with pytest.raises(KeyError, match="no pinned Debian package 'nope'"):
        ds.deb_file("nope")
    with pytest.raises(KeyError, match="usr/share/trans/en-de is not in"):
        ds.deb_member(DING[0], "usr/share/trans/en-de")


@pytest.mark.unit
def test_missing_deb_offline_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("HAG_DATA_DIR", raising=False)
    monkeypatch.setenv("HAG_OFFLINE", "1")
    with pytest.raises(ds.DataUnavailableError, match="HAG_OFFLINE is set") as e:
        ds.deb_member(*DING)
    message = str(e.value)
    assert "https://deb.debian.org/debian/pool/main/d/ding/trans-de-en_1.9-6_all.deb" in message
    assert "apt-get download trans-de-en=1.9-6" in message and "HAG_DATA_DIR" in message


@needs_mirror
def test_a_download_with_another_hash_is_refused(tmp_path, monkeypatch):
    # The real .deb from Debian's mirror, pinned here to a wrong SHA-256: pooch refuses it and nothing is kept.
    monkeypatch.setenv("HAG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HAG_OFFLINE", raising=False)
    monkeypatch.delenv("HAG_DATA_DIR", raising=False)
    wrong = dataclasses.replace(ds.DEBIAN_ARTIFACTS[DING[0]], sha256="0" * 64)
    with pytest.raises(ds.DataUnavailableError, match=r"could not download trans-de-en=1\.9-6 .*hash") as e:
        ds.deb_file(wrong)
    assert "0" * 64 in str(e.value)
    assert list(tmp_path.iterdir()) == []
