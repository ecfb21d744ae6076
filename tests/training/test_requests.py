"""Generation requests without a model: the cache key, the cache's upgrade of old keys, the OpenAI request body."""

import json
import sqlite3

import pytest
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.generation.openai_compatible import OpenAICompatibleEngine
from hag_training.generation.request import KEY_VERSION, GenerationRequest

from hag_chain import KNOBS, DecodingConfig

pytestmark = pytest.mark.unit

MESSAGES = [{"role": "user", "content": "hi"}]


def _request(seed: int = 1, **knobs) -> GenerationRequest:
    return GenerationRequest.build(MESSAGES, DecodingConfig(**knobs), seed, 8)


class _Refusing:
    """An engine that must not be asked for anything: every request should come from the cache."""

    engine_id = "e"

    def generate(self, requests, on_reply=None):
        raise AssertionError(f"generated {len(requests)} request(s) that should have been cached")


def test_key_is_pinned():
    # A change to this string changes every cache key: bump KEY_VERSION and upgrade old keys in GenerationCache.
    assert _request(temperature=0.7, top_k=10).key("e") == (
        '{"config":{"temperature":0.7,"top_k":10},"engine":"e","max_tokens":8,'
        '"messages":[["user","hi"]],"seed":1,"v":3}'
    )
    assert json.loads(_request().key("e"))["v"] == KEY_VERSION == 3
    assert _request(temperature=0.0, seed=5).key("e") == (
        '{"config":{"temperature":0.0},"engine":"e","max_tokens":8,"messages":[["user","hi"]],"v":3}'
    )


def test_a_grammar_is_part_of_the_key_only_when_set():
    # Requests without a grammar keep the key they had before grammars existed (pinned above, and here for one
    # written by the version that had no grammar field); one with a grammar gets its text in the key.
    plain = _request(temperature=0.7, top_k=10)
    assert plain.grammar is None and "grammar" not in json.loads(plain.key("e"))
    yes_no = 'root ::= "yes" | "no"'
    constrained = GenerationRequest.build(MESSAGES, DecodingConfig(temperature=0.7, top_k=10), 1, 8, yes_no)
    assert constrained.key("e") == (
        '{"config":{"temperature":0.7,"top_k":10},"engine":"e","grammar":"root ::= \\"yes\\" | \\"no\\"",'
        '"max_tokens":8,"messages":[["user","hi"]],"seed":1,"v":3}'
    )
    assert constrained.digest("e") != plain.digest("e")
    assert GenerationRequest.from_key(constrained.key("e")) == ("e", constrained)
    assert GenerationRequest.from_key(plain.key("e")) == ("e", plain)
    with pytest.raises(ValueError, match="empty string"):
        GenerationRequest.build(MESSAGES, DecodingConfig(), 1, 8, "")


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def test_tools_are_part_of_the_key_only_when_set_in_their_own_key_order():
    plain = _request(seed=0, temperature=0.0)
    offered = GenerationRequest.build(MESSAGES, DecodingConfig(temperature=0.0), 0, 8, tools=[TOOL])
    assert plain.tools is None and "tools" not in json.loads(plain.key("e"))
    assert GenerationRequest.build(MESSAGES, DecodingConfig(temperature=0.0), 0, 8, tools=[]) == plain
    # As the chat template writes them (``tojson`` keeps a dict's order), not sorted like the rest of the key.
    assert json.loads(offered.key("e"))["tools"] == (
        '[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{}}}}]'
    )
    assert offered.tool_list == [TOOL] and list(offered.tool_list[0]) == ["type", "function"]
    assert offered.digest("e") != plain.digest("e")
    assert GenerationRequest.from_key(offered.key("e")) == ("e", offered)
    with pytest.raises(ValueError, match="list of tool definitions"):
        GenerationRequest(offered.messages, offered.config, 0, 8, tools='{"name": "lookup"}')


def test_the_openai_engine_asks_for_tools_in_the_system_message(tmp_path):
    from hag_chain import tool_call_messages

    engine = OpenAICompatibleEngine("http://127.0.0.1:1/v1", model="m")
    offered = GenerationRequest.build(MESSAGES, DecodingConfig(), 1, 8, tools=[TOOL])
    resolved = engine.resolve(offered)
    assert resolved.tools is None and resolved.chat == tool_call_messages(MESSAGES, [TOOL])
    assert engine.request_body(offered)["messages"] == resolved.chat
    assert CachedEngine(engine, GenerationCache(tmp_path / "g.sqlite")).resolve(offered) == resolved
    assert engine.resolve(_request()) == _request()


def test_key_leaves_out_knobs_at_their_defaults():
    assert json.loads(_request().key("e"))["config"] == {}
    # Setting a knob to its default explicitly is the same generation as leaving it unset.
    explicit = _request(**{name: knob.default for name, knob in KNOBS.items()})
    assert explicit.key("e") == _request().key("e")
    config = json.loads(_request(top_p=0.95, min_p=0.1, repetition_penalty=1.1).key("e"))["config"]
    assert config == {"min_p": 0.1, "repetition_penalty": 1.1}  # top_p 0.95 is the default


def test_greedy_twins_share_a_key_and_penalties_still_count():
    greedy = _request(temperature=0.0)
    irrelevant = [name for name, knob in KNOBS.items() if knob.greedy_irrelevant]
    assert set(irrelevant) == {"top_p", "top_k", "min_p", "typical_p"}
    twin = _request(temperature=0.0, top_p=0.5, top_k=3, min_p=0.2, typical_p=0.9)
    assert twin.key("e") == greedy.key("e")
    assert json.loads(twin.key("e"))["config"] == {"temperature": 0.0}
    # Sampled, the same knobs and other seeds are different generations; greedy, the penalties still count, the
    # seed does not (greedy decoding draws nothing).
    assert _request(temperature=0.7, top_k=3).key("e") != _request(temperature=0.7).key("e")
    assert _request(temperature=0.7, seed=2).key("e") != _request(temperature=0.7).key("e")
    assert _request(temperature=0.0, repetition_penalty=1.1).key("e") != greedy.key("e")
    assert _request(temperature=0.0, seed=2).key("e") == greedy.key("e")
    assert greedy.key("other engine") != greedy.key("e")


def test_key_round_trips():
    req = _request(temperature=0.3, top_k=5, presence_penalty=0.5)
    assert GenerationRequest.from_key(req.key("e")) == ("e", req)


def test_cache_written_with_version_1_keys_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    # A greedy and a sampled entry as the unversioned format wrote them: every knob, the greedy-irrelevant ones
    # dropped at temperature 0.
    greedy_v1 = (
        '{"config":{"frequency_penalty":0.0,"presence_penalty":0.0,"repetition_penalty":1.0,"temperature":0.0},'
        '"engine":"e","max_tokens":8,"messages":[["user","hi"]],"seed":1}'
    )
    sampled_v1 = (
        '{"config":{"frequency_penalty":0.0,"min_p":0.05,"presence_penalty":0.0,"repetition_penalty":1.0,'
        '"temperature":0.7,"top_k":10,"top_p":0.95,"typical_p":1.0},'
        '"engine":"e","max_tokens":8,"messages":[["user","hi"]],"seed":1}'
    )
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, request TEXT, text TEXT)")
    db.executemany(
        "INSERT INTO generations VALUES (?, ?, ?)",
        [("old-greedy", greedy_v1, "greedy text"), ("old-sampled", sampled_v1, "sampled text")],
    )
    db.commit()
    db.close()

    cache = GenerationCache(path)
    engine = CachedEngine(_Refusing(), cache)
    assert engine.generate([_request(temperature=0.0, top_k=3), _request(temperature=0.7, top_k=10)]) == [
        "greedy text",
        "sampled text",
    ]
    assert engine.hits == 2 and len(cache) == 2
    rows = dict(cache._db.execute("SELECT key, request FROM generations"))
    upgraded = (_request(temperature=0.0), _request(temperature=0.7, top_k=10))
    assert rows == {r.digest("e"): r.key("e") for r in upgraded}
    assert cache._db.execute("PRAGMA user_version").fetchone()[0] == KEY_VERSION
    cache.close()
    assert len(GenerationCache(path)) == 2  # reopening does not upgrade again


def test_openai_body_sends_every_knob_under_its_server_names():
    engine = OpenAICompatibleEngine("http://127.0.0.1:1/v1", model="m")
    req = _request(temperature=0.3, top_k=7, repetition_penalty=1.2)
    body = engine.request_body(req)
    knob_fields = set(body) - {"model", "messages", "max_tokens", "seed"}
    assert knob_fields == {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "presence_penalty",
        "frequency_penalty",
        "repeat_penalty",  # llama-server's name
        "repetition_penalty",  # vLLM's
    }
    assert body["repeat_penalty"] == body["repetition_penalty"] == 1.2
    assert {k: body[k] for k in ("temperature", "top_k", "top_p")} == {"temperature": 0.3, "top_k": 7, "top_p": 0.95}
    assert body["messages"] == MESSAGES and body["max_tokens"] == 8 and body["seed"] == 1 and body["model"] == "m"


def test_openai_body_sends_a_grammar_as_llama_server_reads_it():
    engine = OpenAICompatibleEngine("http://127.0.0.1:1/v1", model="m")
    assert "grammar" not in engine.request_body(_request())
    yes_no = GenerationRequest.build(MESSAGES, DecodingConfig(), 1, 8, 'root ::= "yes" | "no"')
    assert engine.request_body(yes_no)["grammar"] == 'root ::= "yes" | "no"'
    # A server known to ignore the field: refused before anything is sent (nothing listens on port 1).
    with pytest.raises(ValueError, match="grammar"):
        OpenAICompatibleEngine("http://127.0.0.1:1/v1", grammar=False).generate([yes_no])


@pytest.mark.parametrize("bad", ['{"engine": "e"}', "not json"])
def test_from_key_refuses_what_is_not_a_key(bad):
    with pytest.raises((KeyError, ValueError)):
        GenerationRequest.from_key(bad)


def test_greedy_entries_of_several_seeds_become_one_on_upgrade(tmp_path):
    path = tmp_path / "v2.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, request TEXT, text TEXT)")
    for seed in (0, 1, 2):  # version 2 kept the seed of a greedy request: three entries of one generation
        key = json.dumps(
            {"config": {"temperature": 0.0}, "engine": "e", "max_tokens": 8, "messages": [["user", "hi"]], "seed": seed}
            | {"v": 2},
            sort_keys=True,
            separators=(",", ":"),
        )
        db.execute("INSERT INTO generations VALUES (?, ?, ?)", (f"old-{seed}", key, "greedy text"))
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    cache = GenerationCache(path)
    assert len(cache) == 1
    assert CachedEngine(_Refusing(), cache).generate([_request(temperature=0.0, seed=7)]) == ["greedy text"]
