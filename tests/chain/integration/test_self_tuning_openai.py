"""SelfTuning on langchain-openai's ChatOpenAI, pointed at a real OpenAI-compatible server on loopback.

The server is llama-cpp-python's own (its `server` extra, already what the search's OpenAI engine talks to) over the
default GGUF, run in this process; a middleware records every request body it receives, so each test checks the
knobs on the server's side: the values the planner chose are the values the server got.
"""

import json

import pytest
from langchain_openai import ChatOpenAI

from hag_chain import ChatHAG, SearchSpace, default_model_path, with_self_tuning

from .conftest import run_app
from .shared import Answer, multiply

pytestmark = pytest.mark.integration

PROMPT = "Write a short story about a cat."
# OpenAI's API takes temperature and top_p (ChatOpenAI's target entry sends nothing else): a grid that never holds
# ChatOpenAI's own settings, so a value the server receives can only be the planner's.
WARM = SearchSpace(values={"temperature": (0.8, 1.2), "top_p": (0.7, 0.95)})
OWN = {"temperature": 0.0, "top_p": 0.5}


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server and the request bodies it received."""
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    # One thread: the server computes on anyio's worker threads, beside the planner's compute thread, and two
    # OpenMP teams on 2 cores slow every operation (hag_chain.llama.compute); a single thread starts no team.
    model = ModelSettings(
        model=default_model_path(), model_alias="smollm2", n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False
    )
    app = create_app(server_settings=ServerSettings(), model_settings=[model])
    received: list[dict] = []

    @app.middleware("http")
    async def record(request, call_next):
        if request.url.path.endswith("/chat/completions"):
            received.append(json.loads(await request.body()))
        return await call_next(request)

    for url in run_app(app):
        yield f"{url}/v1", received


@pytest.fixture(scope="module")
def tuned(llama_server):
    url, _ = llama_server
    # langchain-openai sends `max_tokens` as `max_completion_tokens`, which llama-cpp-python's server ignores (it then
    # answers until the end-of-sequence token): the server's own field, in the body, with room for a whole tool call.
    target = ChatOpenAI(
        base_url=url, api_key="unused", model="smollm2", max_retries=0, extra_body={"max_tokens": 48}, **OWN
    )
    return with_self_tuning(target, planner=ChatHAG(search_space=WARM))


def _server_got(llama_server, message) -> None:
    """The last request the server received carried exactly the planner's values, in OpenAI's names."""
    _, received = llama_server
    hag = message.response_metadata["hag"]
    assert hag["target"] == "ChatOpenAI" and set(hag["sent"]) == set(WARM.knobs)
    body = received[-1]
    for knob, value in hag["sent"].items():
        assert body[knob] == value != OWN[knob]
        assert value in WARM.values[knob]


def test_invoke_sends_the_planners_values(tuned, llama_server):
    msg = tuned.invoke(PROMPT)
    assert msg.content
    _server_got(llama_server, msg)


def test_a_call_argument_beats_the_planner(tuned, llama_server):
    msg = tuned.invoke(PROMPT, temperature=0.3)
    hag = msg.response_metadata["hag"]
    assert hag["sources"]["temperature"] == "call" and llama_server[1][-1]["temperature"] == 0.3


def test_stream_and_batch(tuned, llama_server):
    chunks = list(tuned.stream(PROMPT))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.content and llama_server[1][-1]["stream"] is True
    _server_got(llama_server, merged)
    before = len(llama_server[1])
    results = tuned.batch([PROMPT, "Write a poem about rain."])
    assert len(llama_server[1]) == before + 2
    sent = sorted(json.dumps(m.response_metadata["hag"]["sent"], sort_keys=True) for m in results)
    got = sorted(json.dumps({k: b[k] for k in WARM.knobs}, sort_keys=True) for b in llama_server[1][before:])
    assert sent == got  # each request carried its own call's values


async def test_ainvoke_and_astream(tuned, llama_server):
    msg = await tuned.ainvoke(PROMPT)
    _server_got(llama_server, msg)
    chunks = [c async for c in tuned.astream(PROMPT)]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    _server_got(llama_server, merged)


def test_bind_tools_and_structured_output(tuned, llama_server):
    call = tuned.bind_tools([multiply], tool_choice="multiply").invoke("What is 17 times 23?")
    assert llama_server[1][-1]["tools"][0]["function"]["name"] == "multiply"
    assert llama_server[1][-1]["max_tokens"] == 48
    _server_got(llama_server, call)
    # llama-cpp-python's server takes no json_schema response_format: a forced call of a tool shaped like the schema.
    structured = tuned.with_structured_output(Answer, method="function_calling", include_raw=True)
    out = structured.invoke("What is 2 + 3?")
    assert llama_server[1][-1]["tool_choice"]["function"]["name"] == "Answer"
    assert llama_server[1][-1]["max_tokens"] == 48
    assert isinstance(out["parsed"], Answer), out
    _server_got(llama_server, out["raw"])
