"""SelfTuning on real second models: ChatLlamaCpp and a fixed-configuration ChatHAG over the default GGUF.

The planner's grid is narrowed to warm values so that its choices always differ from the targets' own settings
(greedy ChatLlamaCpp, a ChatHAG pinned cold), whatever adapter the default model ships with: an answer that
matches the target's own settings would mean the chosen values never arrived.
"""

import asyncio
import warnings

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate

from hag_chain import CONFIG_EVENT, ChatHAG, SearchSpace, SelfTuning, TargetParams, with_self_tuning

from .shared import Answer, evaluation_threads, multiply

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
    from langchain_community.chat_models import ChatLlamaCpp

pytestmark = pytest.mark.integration

PROMPT = "Write a short story about a cat."
WARM = SearchSpace(values={"temperature": (0.8, 1.2), "top_k": (5, 50), "repetition_penalty": (1.0, 1.2)})
COLD = {"temperature": 0.0, "top_p": 0.5, "top_k": 2, "repetition_penalty": 1.3}


@pytest.fixture(scope="module")
def planner() -> ChatHAG:
    return ChatHAG(search_space=WARM)


@pytest.fixture(scope="module")
def llamacpp(planner) -> ChatLlamaCpp:
    """A second llama.cpp context over the same GGUF, greedy by its own settings."""
    return ChatLlamaCpp(
        model_path=planner.resolved_model_path,
        rope_freq_base=0,
        n_ctx=1024,
        n_batch=256,
        max_tokens=16,
        temperature=0.0,
        verbose=False,
    )


@pytest.fixture(scope="module")
def fixed_hag() -> ChatHAG:
    return ChatHAG(max_tokens=48, **COLD)  # room for a tool call; plain answers pass max_tokens=8


@pytest.fixture(scope="module")
def tuned_hag(fixed_hag, planner) -> SelfTuning:
    return with_self_tuning(fixed_hag, planner=planner)


def _assert_target_took(message: AIMessage) -> None:
    """The ChatHAG target's own metadata shows every sent value, as a call argument."""
    hag = message.response_metadata["hag"]
    assert hag["target"] == "ChatHAG"
    assert set(hag["sent"]) == set(WARM.knobs)
    own = hag["target_hag"]
    for knob, value in hag["sent"].items():
        assert own["config"][knob] == value != COLD[knob]
        assert own["sources"][knob] == "call"
    assert own["sources"]["top_p"] == "init" and own["config"]["top_p"] == COLD["top_p"]  # not chosen: kept


def test_chosen_values_reach_chatllamacpp(llamacpp, planner):
    msg = with_self_tuning(llamacpp, planner=planner).invoke(PROMPT, seed=11)
    hag = msg.response_metadata["hag"]
    sent = hag["sent"]
    assert set(sent) == {"temperature", "top_k", "repeat_penalty"}  # renamed; top_p was not chosen: not sent
    assert sent["temperature"] == hag["config"]["temperature"] and hag["sources"]["temperature"] == "model"
    assert hag["dropped"] == []
    direct = llamacpp.invoke(PROMPT, seed=11, **sent)
    own = llamacpp.invoke(PROMPT, seed=11)
    assert msg.content == direct.content
    assert msg.content != own.content  # greedy by its own settings: the chosen values changed the answer


def test_fields_mode_sets_the_values_on_a_copy(llamacpp, planner):
    params = TargetParams(
        {"temperature": "temperature", "top_k": "top_k", "repetition_penalty": "repeat_penalty"}, via="fields"
    )
    msg = SelfTuning(target=llamacpp, planner=planner, params=params).invoke(PROMPT, seed=12)
    sent = msg.response_metadata["hag"]["sent"]
    assert msg.content == llamacpp.invoke(PROMPT, seed=12, **sent).content
    assert llamacpp.temperature == 0.0 and llamacpp.top_k == 40  # the target itself is untouched


def test_a_chatllamacpp_target_computes_on_the_planners_thread(llamacpp, planner, monkeypatch):
    """ChatLlamaCpp is not thread-safe, and llama.cpp slows down once a second thread computes: a self-tuned one's
    calls from a batch's threads, an event loop and a stream all evaluate on the compute thread, one at a time.
    """
    evaluated_on = evaluation_threads(llamacpp.client, monkeypatch)
    tuned = with_self_tuning(llamacpp, planner=planner)
    replies = tuned.batch(["Name a colour.", "Name a fruit.", "Name a tree."], seed=3, max_tokens=4)

    async def async_calls() -> list[str]:
        reply = await tuned.ainvoke("Name a river.", seed=3, max_tokens=4)
        streamed = [chunk.text async for chunk in tuned.astream("Name a bird.", seed=3, max_tokens=4)]
        return [reply.text, "".join(streamed)]

    texts = [r.text for r in replies] + asyncio.run(async_calls())
    texts.append("".join(chunk.text for chunk in tuned.stream("Name a fish.", seed=3, max_tokens=4)))
    assert len(texts) == 6 and all(texts)
    assert len(evaluated_on) >= 6 and {name.split("_")[0] for name in evaluated_on} == {"hag-chain-llama"}


def test_chathag_target_reads_back_the_values(tuned_hag):
    msg = tuned_hag.invoke(PROMPT, max_tokens=8)
    _assert_target_took(msg)
    assert msg.response_metadata["hag"]["line"].startswith('{"temperature":')


def test_a_call_argument_beats_the_planner(tuned_hag):
    msg = tuned_hag.invoke(PROMPT, temperature=0.3, max_tokens=8)
    hag = msg.response_metadata["hag"]
    assert hag["sources"]["temperature"] == "call"
    assert hag["sent"]["temperature"] == hag["target_hag"]["config"]["temperature"] == 0.3


def test_stream_and_batch(tuned_hag):
    chunks = list(tuned_hag.stream(PROMPT, max_tokens=8))
    assert len(chunks) > 2
    assert chunks[0].response_metadata["hag"]["sent"]  # the configuration arrives with the first chunk
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    _assert_target_took(merged)
    assert merged.content
    results = tuned_hag.bind(max_tokens=8).batch([PROMPT, "Write a poem about rain."])
    assert len(results) == 2
    for msg in results:
        _assert_target_took(msg)


async def test_ainvoke_and_astream(tuned_hag):
    msg = await tuned_hag.ainvoke(PROMPT, max_tokens=8)
    _assert_target_took(msg)
    chunks = [c async for c in tuned_hag.astream(PROMPT, max_tokens=8)]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    _assert_target_took(merged)


def test_bind_tools_and_structured_output(tuned_hag):
    call = tuned_hag.bind_tools([multiply], tool_choice="multiply").invoke("What is 17 times 23?")
    assert call.tool_calls[0]["name"] == "multiply"
    assert set(call.tool_calls[0]["args"]) == {"a", "b"}
    _assert_target_took(call)
    out = tuned_hag.with_structured_output(Answer, include_raw=True).invoke("What is 2 + 3? Answer in JSON.")
    assert isinstance(out["parsed"], Answer), out
    _assert_target_took(out["raw"])


class _Configs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[dict] = []

    def on_custom_event(self, name, data, **kwargs) -> None:
        if name == CONFIG_EVENT and "target" in data:  # SelfTuning's own (the ChatHAG target sends one too)
            self.events.append(data)


def test_langgraph_agent_loop_shows_every_steps_configuration(tuned_hag):
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    call_tool = tuned_hag.bind_tools([multiply], tool_choice="multiply")

    def model_step(state: MessagesState) -> dict:
        llm = tuned_hag.bind(max_tokens=8) if isinstance(state["messages"][-1], ToolMessage) else call_tool
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", model_step)
    graph.add_node("tools", ToolNode([multiply]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    agent = graph.compile()

    configs = _Configs()
    result = agent.invoke({"messages": [HumanMessage("What is 17 times 23?")]}, config={"callbacks": [configs]})
    messages = result["messages"]
    assert [type(m).__name__ for m in messages] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert messages[2].content == str(multiply.invoke(messages[1].tool_calls[0]["args"]))  # the real tool ran
    assert not messages[3].tool_calls
    steps = [messages[1], messages[3]]
    assert len(configs.events) == 2  # one configuration per model step, in the trace
    for event, step in zip(configs.events, steps):
        assert event["sent"] == step.response_metadata["hag"]["sent"]
        _assert_target_took(step)


async def test_astream_events_carry_the_configuration(tuned_hag):
    # Inside a chain, as for ChatHAG: a chat model streamed at the root gets no run manager to dispatch on.
    chain = ChatPromptTemplate.from_template("{q}") | tuned_hag.bind(max_tokens=8)
    events = [
        e
        async for e in chain.astream_events({"q": PROMPT}, version="v2")
        if e["event"] == "on_custom_event" and e["name"] == CONFIG_EVENT
    ]
    ours = [e["data"] for e in events if "target" in e["data"]]
    assert len(ours) == 1 and set(ours[0]["sent"]) == set(WARM.knobs)
    assert any(e["data"].get("sources", {}).get("temperature") == "call" for e in events)  # the target's own


def test_concurrent_async_calls_share_the_model(tuned_hag):
    async def both():
        short = tuned_hag.bind(max_tokens=8)
        return await asyncio.gather(short.ainvoke(PROMPT), short.ainvoke("Write a poem about rain."))

    for msg in asyncio.run(both()):
        _assert_target_took(msg)


def test_a_target_that_cannot_stream_streams_one_chunk(planner):
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel

    # langchain-core's list model implements only _generate; it stands in for any such chat model.
    answer = AIMessage("391", tool_calls=[{"name": "multiply", "args": {"a": 17, "b": 23}, "id": "call_1"}])
    target = FakeMessagesListChatModel(responses=[answer, answer])
    tuned = SelfTuning(target=target, planner=planner, params=TargetParams({"temperature": "temperature"}))
    chunks = list(tuned.stream(PROMPT))
    assert [c.content for c in chunks] == ["391", ""]  # langchain-core closes every stream with an empty chunk
    assert chunks[0].content == "391" and chunks[0].tool_calls == answer.tool_calls
    assert set(chunks[0].response_metadata["hag"]["sent"]) == {"temperature"}
    assert chunks[0].response_metadata["hag"]["dropped"] == ["top_k", "repetition_penalty"]

    async def astream():
        return [c async for c in tuned.astream(PROMPT)]

    achunk = asyncio.run(astream())[0]
    assert achunk.tool_calls == answer.tool_calls and "hag" in achunk.response_metadata
