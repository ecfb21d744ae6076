"""The HAG adapter shipped with hag-chain, on the embedded default model: it loads, and its choices follow the input."""

import json

import pytest
from hag_training.tasks import get_task

from hag_chain import ChatHAG, HAGKeys, default_adapter_path, default_model_path
from hag_chain.metadata import read_gguf_metadata

pytestmark = pytest.mark.integration


def _prompts(task: str, n: int = 4) -> list[list[dict[str, str]]]:
    t = get_task(task)
    return [t.messages(ex) for ex in t.split(0).test[:n]]


@pytest.fixture(scope="module")
def tuned() -> ChatHAG:
    return ChatHAG()


def test_adapter_ships_with_its_provenance():
    path = default_adapter_path()
    assert path is not None and path.endswith("hag-smollm2-135m.lora.gguf")
    meta = read_gguf_metadata(path)
    assert meta["general.type"] == "adapter"
    assert meta[HAGKeys.BASE_MODEL] == read_gguf_metadata(default_model_path())["general.name"]
    provenance = json.loads(meta[HAGKeys.PROVENANCE])
    assert provenance["seed"] == 0
    assert {"hag-chain", "torch", "transformers", "peft", "llama-cpp-python"} <= set(provenance["versions"])


def test_chat_hag_loads_it_by_default(tuned):
    assert tuned.load().adapter_metadata[HAGKeys.PROMPT_VERSION] == "hag-v1"


def test_adapter_changes_the_planners_choices(tuned):
    bare = ChatHAG(model_path=default_model_path())  # an explicit model_path means no default adapter
    prompts = _prompts("gsm8k") + _prompts("common_gen")
    assert bare.load().adapter_metadata == {}
    assert [tuned.choose_config(p).config for p in prompts] != [bare.choose_config(p).config for p in prompts]


def test_valid_choices_that_differ_between_math_and_writing(tuned):
    """The shipped adapter answers GSM8K without a repetition penalty (worked arithmetic repeats numbers) and
    CommonGen sentences with one; both greedily, which the search found best for a 135M model on every task."""
    space = tuned.hag_profile().search_space
    math = [tuned.choose_config(p) for p in _prompts("gsm8k", 6)]
    writing = [tuned.choose_config(p) for p in _prompts("common_gen", 6)]
    for resolved in math + writing:
        assert all(getattr(resolved.config, k) in space.values[k] for k in space.knobs)
        assert all(resolved.sources[k] == "model" for k in space.knobs)

    def mean(rs, knob):
        return sum(getattr(r.config, knob) for r in rs) / len(rs)

    assert mean(math, "repetition_penalty") < mean(writing, "repetition_penalty")
    assert mean(math, "temperature") <= mean(writing, "temperature")


def test_forced_tool_call_parses_with_the_penalty_neutral_under_the_grammar(tuned):
    def get_weather(location: str) -> str:
        """Get the current weather at a location."""
        return location

    msg = tuned.bind_tools([get_weather], tool_choice="get_weather").invoke("What's the weather in Lisbon?", seed=0)
    assert msg.tool_calls[0]["args"] == {"location": "Lisbon"}
    hag = msg.response_metadata["hag"]
    assert tuned.hag_profile().search_space.parse(hag["line"]).repetition_penalty == 1.15  # the model's choice
    assert (hag["config"]["repetition_penalty"], hag["sources"]["repetition_penalty"]) == (1.0, "grammar")
