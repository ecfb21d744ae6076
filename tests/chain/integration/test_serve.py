"""`hag-chain serve` on loopback, driven by the official `openai` client as a user's program would drive it.

The server (conftest's ``server``) is the real FastAPI/uvicorn application over the real SmolLM2 GGUF and its shipped
adapter; nothing is mocked. Exact checks only: greedy answers are compared with each other, never with fixed text.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from hag_chain.cli import _parser
from hag_chain.server import create_app

from .conftest import run_app

pytestmark = pytest.mark.integration

PROMPT = [{"role": "user", "content": "Write a haiku about the sea."}]
MATH = [{"role": "user", "content": "What is 12 + 30?"}]


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120)


def test_a_plain_request_is_answered_with_the_planners_configuration(client):
    raw = client.chat.completions.with_raw_response.create(model="any", messages=PROMPT)
    completion = raw.parse()
    hag = completion.model_extra["hag"]
    assert completion.choices[0].message.content and completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0
    assert {hag["sources"][k] for k in ("temperature", "top_p", "top_k", "repetition_penalty")} == {"model"}
    assert json.loads(raw.headers["x-hag-config"]) == hag["config"]  # the header says what the body says
    assert completion.model == "SmolLM2-135M-Instruct.Q4_1"


def test_a_client_set_temperature_wins_and_streaming_gives_the_same_answer(client):
    plain = client.chat.completions.create(model="any", messages=MATH, temperature=0.0)
    assert plain.model_extra["hag"]["sources"]["temperature"] == "call"
    assert plain.model_extra["hag"]["config"]["temperature"] == 0.0
    with client.chat.completions.with_streaming_response.create(
        model="any", messages=MATH, temperature=0.0, stream=True, stream_options={"include_usage": True}
    ) as response:
        header = json.loads(response.headers["x-hag-config"])
        chunks = list(response.parse())
    assert chunks[0].model_extra["hag"]["config"] == header == plain.model_extra["hag"]["config"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content  # greedy: the same tokens, streamed
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == plain.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def _streamed_texts(url: str) -> list[str]:
    """The text of each content chunk of a greedy streamed answer to MATH."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)
    chunks = client.chat.completions.create(model="any", messages=MATH, temperature=0.0, stream=True)
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def test_stream_interval_groups_the_tokens_generated_in_between(server):
    """Interval 0: a chunk per answer token, as ChatHAG streams them; an hour: the first token, then all the rest."""
    tokens = [c.text for c in server.chat.stream(MATH, temperature=0.0) if c.text]
    assert len(tokens) > 2
    for url in run_app(create_app(server.chat, stream_interval=0)):
        assert _streamed_texts(f"{url}/v1") == tokens
    for url in run_app(create_app(server.chat, stream_interval=3600)):
        assert _streamed_texts(f"{url}/v1") == [tokens[0], "".join(tokens[1:])]


def test_a_forced_tool_call_comes_back_in_openais_shape(client):
    tool = {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }
    choice = {"type": "function", "function": {"name": "add"}}
    completion = client.chat.completions.create(
        model="any", messages=MATH, tools=[tool], tool_choice=choice, max_tokens=64
    )
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls" and call.function.name == "add"
    assert set(json.loads(call.function.arguments)) == {"a", "b"}  # forced under a grammar: always parses


def test_a_json_schema_response_format_is_followed(client):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    completion = client.chat.completions.create(
        model="any",
        messages=MATH,
        max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": "sum", "schema": schema}},
    )
    assert isinstance(json.loads(completion.choices[0].message.content)["answer"], int)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"model": "any", "messages": []}, "messages"),
        ({"model": "any"}, "messages"),
        ({"model": "any", "messages": MATH, "n": 2}, "`n` must be 1"),
        ({"model": "any", "messages": MATH, "temperature": 9}, "temperature"),
        ({"model": "any", "messages": MATH, "temperature": 9, "stream": True}, "temperature"),  # before the stream
        ({"model": "any", "messages": MATH, "response_format": {"type": "xml"}}, "response_format"),
        ({"model": "any", "messages": MATH, "tools": [{"type": "function"}]}, "Every tool must be"),
        ({"model": "any", "messages": [{"role": "user"}, {"content": "no role"}]}, "cannot read"),
    ],
)
def test_bad_requests_get_openais_error_object(server, body, expected):
    response = httpx.post(f"{server.url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and expected in error["message"]


def test_a_body_that_is_not_json_is_refused(server):
    response = httpx.post(
        f"{server.url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    error = response.json()["error"]
    assert response.status_code == 400 and "the body is not JSON" in error["message"] and error["param"] is None


def test_an_assistant_turn_with_tool_calls_and_no_content_is_read(client):
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 12, "b": 30}'}}
    messages = [
        *MATH,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    assert client.chat.completions.create(model="any", messages=messages).choices[0].message.content


def test_the_openai_client_raises_its_own_error_for_a_bad_request(client):
    with pytest.raises(openai.BadRequestError, match="`n` must be 1"):
        client.chat.completions.create(model="any", messages=MATH, n=2)


def test_a_disconnect_mid_stream_stops_the_answer_and_leaves_the_server_usable(server, client):
    model = server.chat.load()
    eos = model.llm.token_eos()
    limit = 2000  # the end-of-sequence token is banned: without the disconnect the answer runs to all 2000 tokens
    body = {"model": "any", "messages": PROMPT, "stream": True, "max_tokens": limit, "logit_bias": {str(eos): -100}}
    with httpx.stream("POST", f"{server.url}/chat/completions", json=body, timeout=60) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        assert "hag" in json.loads(first.removeprefix("data:"))
        next(line for line in lines if line.startswith("data:"))  # one answer token
    with model.lock:  # waits until the call has let go of the model, however long that takes
        evaluated = model.llm.n_tokens  # the prompt plus the tokens generated before the stop
    assert evaluated < limit // 2, evaluated
    completion = client.chat.completions.create(model="any", messages=MATH, temperature=0.0)
    assert completion.choices[0].message.content


def test_concurrent_clients_each_get_their_own_answer(client):
    """Prompts of different lengths, each with its own token limit: every reply must carry its own request's."""
    words = ["Hi.", "Name a colour.", "Name a large animal, please.", "Tell me one short fact about the moon, please."]
    requests = [([{"role": "user", "content": w}], 3 + i) for i, w in enumerate(words)]

    def ask(request):
        messages, limit = request
        return client.chat.completions.create(model="any", messages=messages, max_tokens=limit)

    alone = [ask(r).usage.prompt_tokens for r in requests]
    assert len(set(alone)) == len(words)
    with ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(ask, requests))
    assert [c.usage.prompt_tokens for c in together] == alone  # each reply is for its own prompt
    assert all(c.usage.completion_tokens <= limit for c, (_, limit) in zip(together, requests, strict=True))
    assert all(c.choices[0].message.content for c in together)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == ["SmolLM2-135M-Instruct.Q4_1"]


def test_serve_binds_to_loopback_by_default():
    args = _parser().parse_args(["serve"])
    assert (args.host, args.port, args.model) == ("127.0.0.1", 8000, None)
