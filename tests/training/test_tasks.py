from __future__ import annotations

import json
import pkgutil
import re
import typing

import hag_training.tasks as tasks_package
import pytest
from hag_training.tasks import TASKS, Example, Family, Task, get_task, register_task
from hag_training.tasks.coinflip import census_first_names
from hag_training.tasks.piglatin import common_english_words, pig_latin

from hag_chain.registry import DuplicateEntryError, UnknownEntryError

EXPECTED_COUNTS = {
    "gsm8k": 1319,
    "arithmetic": 323,
    "commonsense_qa": 1221,
    "arc_easy": 2376,
    "boolq": 3270,
    "coinflip": 2000,
    "pig_latin": 2000,
    "haiku": 1228,
    "translation": 1243,
    "mbpp": 500,
    "humaneval": 164,
    "structured_output": 400,
    "structured_writing": 300,
    "tool_arguments": 400,
    "common_knowledge": 1037,
    "basic_arithmetic": 1047,
    "chain_sum": 600,
    "needle_haystack": 600,
    "concepts": 2853,
    "story": 1228,
    "german_english": 14019,
    "german_words": 263,
    "squad": 1000,
    "world_facts": 254,
}


@pytest.mark.unit
def test_registry_holds_every_task():
    assert set(TASKS) == set(EXPECTED_COUNTS)
    families = {get_task(n).family for n in TASKS}
    assert families == set(typing.get_args(Family))


@pytest.mark.unit
def test_registry_errors():
    gsm8k = TASKS["gsm8k"]
    with pytest.raises(UnknownEntryError, match=r"Unknown task 'nope'\. Known: .*Add one: a module") as e:
        get_task("nope")
    assert all(name in str(e.value) for name in EXPECTED_COUNTS)
    with pytest.raises(DuplicateEntryError, match="'gsm8k' is already registered"):
        register_task(type("Again", (gsm8k,), {}))
    for bad in ("Bad Name", "bad name", "bad-name", "badName"):
        with pytest.raises(
            ValueError, match=rf"^Task names are lower-case snake_case; got '{re.escape(bad)}' \(Bad\)\.$"
        ):
            register_task(type("Bad", (gsm8k,), {"name": bad}))
    # No refusal registered anything: the registry holds the same tasks, gsm8k still the original class.
    assert set(TASKS) == set(EXPECTED_COUNTS) and TASKS["gsm8k"] is gsm8k


@pytest.mark.unit
def test_registry_is_read_only_and_every_task_module_is_imported():
    with pytest.raises(TypeError):
        TASKS["other"] = TASKS["gsm8k"]  # type: ignore[index]
    # Adding a task is adding a module: the package imports all of its modules itself.
    modules = {m.name for m in pkgutil.iter_modules(tasks_package.__path__)} - {"base", "registry"}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in TASKS.values()} == modules


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_loader_reads_real_data(tasks, name):
    task: Task = tasks[name]
    examples = task.load()
    assert len(examples) == EXPECTED_COUNTS[name]
    assert len({e.id for e in examples}) == len(examples) == len(set(examples))
    for e in examples:
        assert isinstance(e, Example) and e.id.startswith(name.split("_")[0]) and e.input.strip()
        assert e.target not in (None, "", [])
    messages = task.messages(examples[0])
    # A structured task asks as ChatHAG's structured output does: the schema in a system message. A forced tool call's
    # tools are offered apart (Task.tools), as ChatHAG offers them.
    structured = task.grammar(examples[0]) is not None and task.tools(examples[0]) is None
    roles = ["system", "user"] if structured else ["user"]
    assert [m["role"] for m in messages] == roles and examples[0].input.split()[0] in messages[-1]["content"]


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_split_is_disjoint_complete_and_deterministic(tasks, name):
    task = tasks[name]
    s0, again, s1 = task.split(0), get_task(name).split(0), task.split(1)
    ids = [{e.id for e in part} for part in (s0.train, s0.dev, s0.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(map(len, ids)) == len(task.load())
    assert [e.id for e in again.test] == [e.id for e in s0.test]
    assert {e.id for e in s1.test} != ids[2]
    n = len(task.load())
    for part, fraction in zip((s0.train, s0.dev, s0.test), task.fractions, strict=True):
        assert 0.5 * fraction * n < len(part) and abs(len(part) - fraction * n) < 0.1 * n
    groups = [{e.group or e.id for e in part} for part in (s0.train, s0.dev, s0.test)]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])

    # No request is asked in test that tuning saw: the same input with the same target and metadata.
    def requests(part: list[Example]) -> set[str]:
        return {json.dumps([e.input, e.target, e.meta], sort_keys=True, default=str) for e in part}

    assert not requests(s0.test) & requests([*s0.train, *s0.dev])
    # Each part is in a seeded random order, not the source's: a prefix is a sample of the task.
    source_order = [e.id for e in task.load() if e.id in ids[0]]
    assert [e.id for e in s0.train] != source_order and sorted(e.id for e in s0.train) == sorted(source_order)


def test_a_split_prefix_samples_the_whole_task(tasks):
    # The source lists the arithmetic items operation by operation: the first 16 of each part hold several.
    s = tasks["arithmetic"].split(0)
    for part in (s.train, s.dev, s.test):
        assert len({e.meta["op"] for e in part[:16]}) >= 3
    first = tasks["translation"].split(0).train[:24]
    assert len({e.meta["source_lang"] for e in first}) >= 5 and len({e.group for e in first}) >= 12


def test_known_records(tasks):
    arith = {e.input: e for e in tasks["arithmetic"].load()}
    assert arith["What is 7 times 8?"].target == "56" and arith["What is 0 minus 2?"].target == "-2"
    assert {e.meta["op"] for e in arith.values()} == {"addition", "subtraction", "multiplication", "division"}
    gsm = tasks["gsm8k"].load()[0]
    assert gsm.input.startswith("Janet’s ducks lay 16 eggs") and gsm.target == "18"
    csqa = tasks["commonsense_qa"].load()[0]
    assert "revolving door" in csqa.input and csqa.meta["choices"][csqa.target] == "bank"
    arc = tasks["arc_easy"].load()[0]
    assert arc.id == "arc_easy-Mercury_417466" and arc.meta["choices"][arc.target].startswith("Sunlight")
    boolq = tasks["boolq"].load()[0]
    assert boolq.input.startswith("Ethanol fuel --") and boolq.target == "no"
    mbpp = tasks["mbpp"].load()
    assert [mbpp[0].id, mbpp[-1].id] == ["mbpp-11", "mbpp-510"]
    he = tasks["humaneval"].load()
    assert he[0].id == "humaneval-0" and he[0].meta["entry_point"] == "has_close_elements"
    tr = {e.meta["source_lang"]: e for e in tasks["translation"].load() if e.target == "This field is required."}
    assert tr["de"].input == "Dieses Feld ist zwingend erforderlich." and set(tr) == {
        "de",
        "fr",
        "es",
        "it",
        "nl",
        "pt_BR",
    }


def test_coinflip_follows_the_published_rules(tasks):
    names = set(census_first_names())
    assert len(names) == 973 and {"James", "Mary"} <= names
    examples = tasks["coinflip"].load()
    pattern = re.compile(r"A coin is heads up\. (.*) Is the coin still heads up\?")
    for e in examples:
        steps = re.findall(r"(\w+) (flips|does not flip) the coin\.", pattern.fullmatch(e.input).group(1))
        assert len(steps) == 2 and {who for who, _ in steps} <= names
        flips = sum(verb == "flips" for _, verb in steps)
        assert e.target == ("yes" if flips % 2 == 0 else "no")
    assert 0.45 < sum(e.target == "yes" for e in examples) / len(examples) < 0.55


def test_pig_latin_rules_and_word_list(tasks):
    cases = {
        "pig": "igpay",
        "latin": "atinlay",
        "string": "ingstray",
        "apple": "appleway",
        "quiet": "ietquay",
        "square": "aresquay",
        "yellow": "ellowyay",
        "rhythm": "ythmrhay",
        "eat": "eatway",
        "the": "ethay",
    }
    assert {w: pig_latin(w) for w in cases} == cases
    words = common_english_words()
    assert (
        len(words) == 3000 and words[:3] == ("the", "and", "for") and all(re.fullmatch("[a-z]{3,10}", w) for w in words)
    )
    e = tasks["pig_latin"].load()[0]
    assert e.target == " ".join(pig_latin(w) for w in e.input.split())


def test_translation_pairs_are_clean(tasks):
    for e in tasks["translation"].load():
        assert not re.search(r"[%{<\n]", e.input + e.target) and len(e.target.split()) >= 3
    same = [e for e in tasks["translation"].load() if e.input == e.target]
    assert len(same) < 10  # untranslated copies would make the task trivial


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_phrasings_are_valid_and_split_keeps_test_only_ones_to_test(tasks, name):
    task = tasks[name]
    task.check_phrasings()
    unseen = {p.name for p in task.phrasings if p.test_only}
    s = task.split(0)
    used = [{e.phrasing for e in part} for part in (s.train, s.dev, s.test)]
    assert not (unseen & (used[0] | used[1])) and all(used)
    if unseen:
        # Test asks in both kinds, about half each.
        share = sum(e.phrasing in unseen for e in s.test) / len(s.test)
        assert used[2] & unseen and used[2] - unseen and 0.3 < share < 0.7
    assert [e.phrasing for e in get_task(name).split(0).test] == [e.phrasing for e in s.test]
    for e in s.test[:20]:
        messages = task.messages(e)
        assert messages[-1]["role"] == "user" and messages[-1]["content"].strip()


@pytest.mark.unit
def test_the_default_suite_asks_in_many_phrasings():
    from hag_training.search import SearchConfig

    for name in SearchConfig().tasks:
        get_task(name).check_phrasings(min_phrasings=6, min_test_only=2)
    with pytest.raises(ValueError, match=r"task 'gsm8k' has 1 phrasings \(0 test-only\); it needs at least 6"):
        get_task("gsm8k").check_phrasings(min_phrasings=6, min_test_only=2)


@pytest.mark.unit
def test_a_phrasing_renders_its_system_message_and_an_unknown_one_is_named():
    from dataclasses import replace

    task = get_task("arithmetic")
    example = replace(next(e for e in task.load() if e.input == "What is 7 times 8?"), phrasing="calculator")
    assert task.messages(example) == [
        {"role": "system", "content": "You are a calculator. Reply with a single number."},
        {"role": "user", "content": "What is 7 times 8?"},
    ]
    assert task.messages(replace(example, phrasing="equation")) == [{"role": "user", "content": "7 × 8 = ?"}]
    with pytest.raises(KeyError, match="task 'arithmetic' has no phrasing 'nope'; it has number_only, equation"):
        task.messages(replace(example, phrasing="nope"))
