"""ChatHAG on the real SmolLM2-135M GGUF: the planner, phase 2 sampling, sharing, errors."""

import asyncio
import threading

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from hag_chain import (
    DEFAULT_SEARCH_SPACE,
    ChatHAG,
    ContextLengthError,
    ModelLoadError,
    SearchSpace,
    default_model_path,
)

from .shared import evaluation_threads

pytestmark = pytest.mark.integration


def test_planner_choice_is_on_the_grid_and_reported(chat):
    msg = chat.invoke("Write a poem about the sea.")
    hag = msg.response_metadata["hag"]
    config = DEFAULT_SEARCH_SPACE.parse(hag["line"])
    for knob in DEFAULT_SEARCH_SPACE.knobs:
        assert hag["sources"][knob] == "model"
        assert hag["config"][knob] == getattr(config, knob)
    assert hag["planner_tokens"]["output"] > 0 and hag["planner_ms"] > 0
    assert msg.usage_metadata["output_tokens"] > 0
    assert msg.response_metadata["model_name"] == "SmolLM2-135M-Instruct.Q4_1"


def test_planner_is_deterministic(chat):
    a = chat.choose_config("Tell me about volcanoes.")
    b = chat.choose_config("Tell me about volcanoes.")
    assert a == b


def test_custom_search_space_constrains_the_planner():
    space = SearchSpace(values={"temperature": (0.2, 0.4), "top_k": (5, 7)})
    resolved = ChatHAG(search_space=space).choose_config("Hello")
    assert resolved.config.temperature in (0.2, 0.4) and resolved.config.top_k in (5, 7)
    assert resolved.sources["top_p"] == "default"


def test_call_argument_overrides_model_choice(chat):
    msg = chat.invoke("Write a poem.", temperature=0.0, top_k=3)
    hag = msg.response_metadata["hag"]
    assert hag["config"]["temperature"] == 0.0 and hag["sources"]["temperature"] == "call"
    assert hag["config"]["top_k"] == 3 and hag["sources"]["top_k"] == "call"


def test_all_knobs_pinned_skips_the_planner():
    pinned = ChatHAG(max_tokens=8, temperature=0.0, top_p=1.0, top_k=40, repetition_penalty=1.0)
    hag = pinned.invoke("Hi").response_metadata["hag"]
    assert hag["line"] is None and hag["planner_tokens"] == {"input": 0, "output": 0}


def test_phase_two_really_samples_with_the_chosen_temperature(chat):
    prompt = "Write one sentence about a cat."
    greedy = {chat.invoke(prompt, temperature=0.0, seed=s).content for s in (1, 2, 3)}
    assert len(greedy) == 1  # temperature 0 ignores the seed
    hot = {chat.invoke(prompt, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, seed=s).content for s in (1, 2, 3)}
    assert len(hot) == 3
    assert chat.invoke(prompt, temperature=1.5, seed=9).content == chat.invoke(prompt, temperature=1.5, seed=9).content


def test_bounds_cap_the_model_choice():
    poem, math = "Write a poem about the sea.", "What is 17 * 23?"
    # Preconditions: the shipped adapter answers a poem warm and arithmetic greedily.
    assert ChatHAG().choose_config(poem).config.temperature > 0.5
    assert ChatHAG().choose_config(math).config.temperature < 0.5
    floored = ChatHAG(bounds={"temperature": (0.5, None)}).choose_config(math)
    assert (floored.config.temperature, floored.sources["temperature"]) == (0.5, "bound")
    capped = ChatHAG(bounds={"temperature": (None, 0.5)}).choose_config(poem)
    assert (capped.config.temperature, capped.sources["temperature"]) == (0.5, "bound")


def test_config_event_reaches_callbacks_and_event_streams(chat):
    seen = []

    class Handler(BaseCallbackHandler):
        def on_custom_event(self, name, data, **kwargs):
            seen.append((name, data))

    chat.invoke("Hi", config={"callbacks": [Handler()]})
    assert seen and seen[0][0] == "hag_config" and "temperature" in seen[0][1]["config"]

    chain = ChatPromptTemplate.from_template("{q}") | chat | StrOutputParser()

    async def collect():
        return [e async for e in chain.astream_events({"q": "Hi"}, version="v2") if e["event"] == "on_custom_event"]

    events = asyncio.run(collect())
    assert [e["name"] for e in events] == ["hag_config"]


def test_astream_planned_gives_the_configuration_before_the_answer(chat):
    question = {"temperature": 0.0, "stop": ["\n\n"]}

    async def run():
        hag, chunks = await chat.astream_planned("What is 2 + 2?", **question)
        return hag, [c async for c in chunks]

    hag, pieces = asyncio.run(run())
    whole = chat.invoke("What is 2 + 2?", **question)
    for reported in (pieces[-1].response_metadata["hag"], whole.response_metadata["hag"]):
        assert (reported["config"], reported["sources"]) == (hag["config"], hag["sources"])
    assert hag["sources"]["temperature"] == "call"
    assert "".join(p.text for p in pieces) == whole.text and pieces[-1].chunk_position == "last"


@pytest.mark.parametrize("chunks_read", [0, 1])
def test_closing_astream_planned_s_chunks_stops_the_answer(chat, chunks_read):
    """Closed after 0 or 1 chunks, the answer stops: without that it runs on to all its 400 tokens."""
    model = chat.load()
    limit = 400  # the end-of-generation token is banned: only the stop ends the answer early
    ban = {"max_tokens": limit, "logit_bias": {model.llm.token_eos(): -100.0}}

    async def run():
        _, chunks = await chat.astream_planned("Tell me a long story about a dragon.", **ban)
        read = [await anext(chunks) for _ in range(chunks_read)]
        await chunks.aclose()
        return read

    assert all(c.text for c in asyncio.run(run()))
    with model.lock:  # waits until the answer has let go of the model
        evaluated = model.llm.n_tokens  # the prompt plus the tokens generated before the stop
    assert evaluated < limit // 2, evaluated


def test_threads_and_tasks_share_one_model(chat):
    results: list[str] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results.append(chat.invoke(f"Say the number {i}.", max_tokens=6).content)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4 and all(results)

    async def many():
        return await asyncio.gather(*(chat.ainvoke(f"Count to {i}.", max_tokens=6) for i in range(8)))

    replies = asyncio.run(many())
    assert len(replies) == 8 and all(r.content for r in replies)
    assert ChatHAG(max_tokens=3).load() is chat.load()  # one llama.cpp context per (model, adapter)


def test_every_llama_cpp_computation_runs_on_one_thread(chat, monkeypatch):
    """Calls from the main thread, a batch's worker threads, an event loop and the planner alone all evaluate on the
    same compute thread (llama.cpp's OpenMP teams slow every operation once a second thread has computed).
    """
    model = chat.load()
    evaluated_on = evaluation_threads(model.llm, monkeypatch)
    chat.invoke("Hi", max_tokens=2)
    chat.batch(["Name a colour.", "Name a fruit."], max_tokens=2)
    asyncio.run(chat.ainvoke("Name an animal.", max_tokens=2))
    assert "".join(c.text for c in chat.stream("Name a city.", max_tokens=2))
    chat.choose_config("Name a river.")

    async def planned():
        _, chunks = await chat.astream_planned("Name a tree.", max_tokens=2)
        return [c async for c in chunks]

    assert asyncio.run(planned())
    assert len(evaluated_on) >= 7
    assert {name.split("_")[0] for name in evaluated_on} == {"hag-chain-llama"}


def test_interrupted_stream_leaves_model_usable(chat):
    stream = chat.stream("Tell me a long story about a dragon.", max_tokens=64)
    next(stream)
    next(stream)
    stream.close()
    assert chat.invoke("Hi", temperature=0.0).content


def test_prompt_longer_than_context_is_a_clear_error():
    small = ChatHAG(n_ctx=256)
    with pytest.raises(ContextLengthError, match="context holds 256"):
        small.invoke("word " * 400)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model_path": "/nonexistent/model.gguf"}, "does not exist"),
        ({"model_path": __file__}, "not a GGUF file"),
    ],
)
def test_bad_model_files_are_clear_errors(kwargs, match):
    with pytest.raises(ModelLoadError, match=match):
        ChatHAG(**kwargs).invoke("Hi")


def test_model_file_passed_as_adapter_is_explained(tmp_path):

    with pytest.raises(ModelLoadError, match="not a LoRA adapter"):
        ChatHAG(adapter_path=default_model_path(), max_tokens=2).invoke("Hi")


def test_truncated_gguf_is_a_clear_error(tmp_path):

    broken = tmp_path / "broken.gguf"
    with open(default_model_path(), "rb") as src:
        broken.write_bytes(src.read(1 << 20))
    with pytest.raises(ModelLoadError, match="could not load"):
        ChatHAG(model_path=str(broken)).invoke("Hi")


def test_unknown_call_argument_is_rejected(chat):
    with pytest.raises(ValueError, match="Unknown argument `tempurature`"):
        chat.invoke("Hi", tempurature=0.1)


def test_structured_output_json_schema_follows_schema(chat):
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    city = chat.with_structured_output(City).invoke("Name a city in France.", max_tokens=48)
    assert isinstance(city, City) and city.name
    raw = chat.with_structured_output(City, include_raw=True).invoke("Name a city in Spain.", max_tokens=48)
    assert raw["parsing_error"] is None and isinstance(raw["parsed"], City)
    assert raw["raw"].response_metadata["hag"]["config"]


def test_json_mode_without_schema_returns_json(chat):
    out = chat.with_structured_output(method="json_mode").invoke("Give me a JSON object about a dog.", max_tokens=40)
    assert isinstance(out, dict)
