"""LangChain's standard integration suite on the real SmolLM2-135M and Qwen2.5-Coder-0.5B GGUFs, through llama.cpp."""

from typing import Any

import httpx
import openai
import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from hag_chain import ChatHAG

pytestmark = pytest.mark.integration


class _OneModelSuite(ChatModelIntegrationTests):
    @property
    def supports_model_override(self) -> bool:
        # One ChatHAG (and one server) is bound to one GGUF file; another model means another ChatHAG(model=...).
        return False

    @property
    def supports_json_mode(self) -> bool:
        return True


class _ChatHAGSuite(_OneModelSuite):
    @property
    def chat_model_class(self) -> type[ChatHAG]:
        return ChatHAG


class TestChatHAGIntegration(_ChatHAGSuite):
    @property
    def chat_model_params(self) -> dict:
        # Forced tool calls and JSON answers need room to close their JSON. Greedy decoding is pinned so that the
        # suite's exact-argument checks are deterministic; the planner still runs on every call, reads the schema or
        # tool instructions, and chooses top_p, top_k and the repetition penalty. Its own behaviour is tested in
        # test_runtime.py and test_default_adapter.py. The answer is the bare base model's (the shipped adapter is
        # an aLoRA), which greedily with no penalty writes the Joke schema's setup as "A cat is a cat, a cat is a
        # cat, ..." until max_tokens; under a grammar the frequency penalty nobody set is 0.5 (its grammar default),
        # which ends the loop and leaves the forced tool calls' arguments as they were (measured).
        return {"max_tokens": 128, "seed": 7, "temperature": 0.0}

    @pytest.mark.xfail(
        reason="This test leaves the tool choice to the model, and the answer is the bare SmolLM2-135M's (the shipped "
        "adapter is an activated LoRA, on for the planner turn only), which does not emit a tool call unprompted: it "
        "answers the weather question in prose ('The weather in San Francisco, CA, is typically ...'). Forced calls "
        "(tool_choice='any' or a tool name) pass in test_tool_calling and test_tool_choice.",
        raises=AssertionError,  # no tool call in the reply; any other error fails the test
        strict=True,
    )
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model: ChatHAG) -> None:
        super().test_agent_loop(model)


class TestQwenIntegration(_ChatHAGSuite):
    """The suite on Qwen2.5-Coder-0.5B-Instruct by name, bare: no knob pinned beyond the suite's own parameters.

    llama.cpp's threads are fixed (by default they follow the machine's load): with greedy decoding a near tie can
    tip either way when the thread count, and with it the rounding, changes between runs.
    """

    @property
    def chat_model_params(self) -> dict:
        return {"model": "qwen2.5-coder-0.5b", "n_threads": 2}


#: Only this error may fail the structured-output tests below: the answer ran to max_tokens (any other one fails).
_LOOPING = pytest.mark.xfail(
    reason="The Joke schema's greedy 'A cat is a cat, ...' loop (TestChatHAGIntegration's docstring) ends under the "
    "grammar's frequency penalty or not depending on how the server's cached prompt prefix splits the prompt into "
    "batches: the typeddict case passes run alone and loops to max_tokens after the suite's earlier requests.",
    raises=openai.LengthFinishReasonError,
    strict=False,
)


class TestChatOpenAIOnHAGServe(_OneModelSuite):
    """The suite on langchain-openai's ``ChatOpenAI``, unmodified, pointed at ``hag-chain serve`` (conftest's).

    The same settings as :class:`TestChatHAGIntegration`, sent as request fields: the server's ChatHAG receives them
    as call knobs, and its planner chooses the rest.
    """

    @pytest.fixture(autouse=True)
    def _serve(self, suite_server) -> None:
        type(self).base_url = suite_server.url

    @property
    def chat_model_class(self) -> type:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict:
        return {
            "base_url": self.base_url,
            "api_key": "unused",
            "model": "hag",
            "max_tokens": 128,
            "seed": 7,
            "temperature": 0.0,
            "max_retries": 0,
            # ChatOpenAI asks a server other than OpenAI's for streamed usage only when told to.
            "stream_usage": True,
            # langchain-openai caches one async HTTP client per base URL, bound to the event loop that first used it;
            # pytest-asyncio gives every test its own loop, so each model gets its own client.
            "http_async_client": httpx.AsyncClient(timeout=120),
        }

    @pytest.mark.xfail(
        reason="OpenAI's json_object mode sends no schema, so the server's grammar is any JSON object, and the bare "
        "SmolLM2-135M cannot write the Joke object without one: greedy with the planner's 1.15 penalty it wanders "
        "inside the object until max_tokens (128 of 128 tokens, LengthFinishReasonError); ChatHAG's own json_mode "
        "passes the schema. Qwen2.5-Coder-0.5B passes this test through the same server (docs/serve.md). Not strict: "
        "like the Joke loop, it may end by a batch split's chance.",
        raises=openai.LengthFinishReasonError,
        strict=False,
    )
    def test_json_mode(self, model: Any) -> None:
        super().test_json_mode(model)

    @_LOOPING
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    def test_structured_output(self, model: Any, schema_type: str) -> None:
        super().test_structured_output(model, schema_type)

    @_LOOPING
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    async def test_structured_output_async(self, model: Any, schema_type: str) -> None:
        await super().test_structured_output_async(model, schema_type)

    @pytest.mark.xfail(
        reason="As in TestChatHAGIntegration: the bare SmolLM2-135M answers the weather question in prose and calls no "
        "tool unprompted.",
        raises=AssertionError,
        strict=True,
    )
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model: Any) -> None:
        super().test_agent_loop(model)
