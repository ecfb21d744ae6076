"""SelfTuning's knob registry, its once-per-class warning and its routing of bind_tools / structured output.

No model is loaded: these run the real classes up to the point where a model would be called.
"""

import warnings

import pytest
from langchain_community.chat_models import ChatLlamaCpp
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableBinding, RunnableSequence
from langchain_core.tools import tool
from pydantic import BaseModel

from hag_chain import (
    KNOBS,
    TARGETS,
    ChatHAG,
    DecodingConfig,
    SelfTuning,
    TargetParams,
    register_target,
    with_self_tuning,
)
from hag_chain.chat.precedence import resolve_config
from hag_chain.registry import DuplicateEntryError
from hag_chain.self_tuning.targets import class_key, map_config, target_params

pytestmark = pytest.mark.unit


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class Answer(BaseModel):
    value: int


class NarrowHAG(ChatHAG):
    """A ChatHAG subclass registered as taking only the temperature."""


class NarrowerHAG(NarrowHAG):
    """Not registered itself: inherits NarrowHAG's entry."""


@pytest.fixture
def narrow_registered():
    register_target(NarrowHAG, TargetParams({"temperature": "t"}))
    yield
    TARGETS.unregister(class_key(NarrowHAG))


def test_target_params_of_the_known_classes():
    assert dict(target_params(ChatHAG).names) == {k: k for k in KNOBS}
    llama = target_params(ChatLlamaCpp)
    assert llama.via == "call"
    assert llama.names["repetition_penalty"] == "repeat_penalty"
    assert set(llama.names) == set(KNOBS)  # all eight pass through to Llama.create_chat_completion
    assert TARGETS["langchain_ollama.chat_models.ChatOllama"].via == "fields"
    openai = TARGETS["langchain_openai.chat_models.base.BaseChatOpenAI"]
    assert "top_k" not in openai.names and "repetition_penalty" not in openai.names


def test_subclasses_use_the_nearest_registered_base(narrow_registered):
    class MyHAG(ChatHAG):
        pass

    assert target_params(MyHAG) == target_params(ChatHAG)
    assert dict(target_params(NarrowerHAG).names) == {"temperature": "t"}


def test_unknown_target_raises_with_the_remedy():
    with pytest.raises(TypeError, match=r"register_target\(FakeListChatModel"):
        SelfTuning(target=FakeListChatModel(responses=["x"]), planner=ChatHAG())
    # ... and an explicit mapping makes it usable
    tuned = SelfTuning(
        target=FakeListChatModel(responses=["x"]), planner=ChatHAG(), params=TargetParams({"temperature": "t"})
    )
    assert dict(tuned.target_params.names) == {"temperature": "t"}


def test_register_target_rejects_a_second_entry_for_a_class(narrow_registered):
    with pytest.raises(DuplicateEntryError, match="NarrowHAG' is already registered"):
        register_target(NarrowHAG, TargetParams({"temperature": "temperature"}))
    assert dict(target_params(NarrowHAG).names) == {"temperature": "t"}  # the first entry stands


def test_register_target_then_the_warning_comes_once_per_class():
    class OddHAG(ChatHAG):
        pass

    register_target(OddHAG, TargetParams({"temperature": "temperature", "top_p": "top_p"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so that only SelfTuning's own once-only logic can hide a repeat
        SelfTuning(target=OddHAG(), planner=ChatHAG())
        SelfTuning(target=OddHAG(), planner=ChatHAG())
        SelfTuning(target=ChatHAG(), planner=ChatHAG())  # takes every knob: no warning
    TARGETS.unregister(class_key(OddHAG))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert messages[0].startswith("`OddHAG` takes no top_k, repetition_penalty, min_p, typical_p, presence_penalty")


def test_map_config_sends_only_chosen_knobs_renamed():
    resolved = resolve_config(
        call={"presence_penalty": 0.5},
        init={"top_p": 0.9},
        model={"temperature": 0.7, "top_k": 10, "repetition_penalty": 1.1},
        defaults=DecodingConfig(),
        bounds={"temperature": (None, 0.5)},
    )
    sent, dropped = map_config(resolved, target_params(ChatLlamaCpp))
    # min_p, typical_p and frequency_penalty were chosen by nobody: the target keeps its own settings
    assert sent == {"temperature": 0.5, "top_p": 0.9, "top_k": 10, "repeat_penalty": 1.1, "presence_penalty": 0.5}
    assert dropped == []
    openai_like = TARGETS["langchain_openai.chat_models.base.BaseChatOpenAI"]
    sent, dropped = map_config(resolved, openai_like)
    assert sent == {"temperature": 0.5, "top_p": 0.9, "presence_penalty": 0.5}
    assert dropped == ["top_k", "repetition_penalty"]


def test_map_config_with_nothing_chosen_sends_nothing():
    resolved = resolve_config(call={}, init={}, model={}, defaults=DecodingConfig(), bounds={})
    assert map_config(resolved, target_params(ChatHAG)) == ({}, [])


def test_an_explicit_knob_the_target_cannot_take_is_refused_before_planning(narrow_registered):
    tuned = SelfTuning(target=NarrowHAG(), planner=ChatHAG(model_path="/nonexistent.gguf"))
    with pytest.raises(ValueError, match="`NarrowHAG` takes no top_k; it takes temperature"):
        tuned.invoke("hi", top_k=5)  # the planner's missing file would raise ModelLoadError if it ran


def test_target_params_are_checked():
    with pytest.raises(ValueError, match="Unknown knobs"):
        TargetParams({"temp": "temperature"})
    with pytest.raises(ValueError, match="`via`"):
        TargetParams({}, via="env")


def test_a_bound_target_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"with_self_tuning\(llm\).bind_tools"):
        with_self_tuning(ChatHAG().bind_tools([multiply]))


def test_bind_tools_and_structured_output_route_through_the_wrapper():
    target = ChatHAG()
    tuned = with_self_tuning(target, planner=ChatHAG())
    bound = tuned.bind_tools([multiply], tool_choice="multiply")
    assert isinstance(bound, RunnableBinding) and bound.bound is tuned
    assert bound.kwargs["tool_choice"] == "multiply"  # ChatHAG's own formatting and validation
    assert bound.kwargs["tools"][0]["function"]["name"] == "multiply"
    with pytest.raises(ValueError):  # ChatHAG's own validation of tool_choice still runs
        tuned.bind_tools([multiply], tool_choice="divide")

    structured = tuned.with_structured_output(Answer)
    assert isinstance(structured, RunnableSequence)
    assert structured.first.bound is tuned and "response_format" in structured.first.kwargs
    raw = tuned.with_structured_output(Answer, method="function_calling", include_raw=True)
    assert tuned in _models_in(raw) and target not in _models_in(raw)


def _models_in(runnable) -> list:
    """Every chat model reachable from ``runnable``'s fields."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

    found, stack = [], [runnable]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseChatModel):
            found.append(item)
        elif isinstance(item, Runnable) and hasattr(type(item), "model_fields"):
            stack.extend(getattr(item, name) for name in type(item).model_fields)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found
