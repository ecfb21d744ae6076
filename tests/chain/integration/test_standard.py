"""LangChain's standard integration suite on the real SmolLM2-135M and Qwen2.5-Coder-0.5B GGUFs, through llama.cpp."""

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from hag_chain import ChatHAG

pytestmark = pytest.mark.integration


class _ChatHAGSuite(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatHAG]:
        return ChatHAG

    @property
    def supports_model_override(self) -> bool:
        # One ChatHAG is bound to one GGUF file; another model means another ChatHAG(model=...).
        return False

    @property
    def supports_json_mode(self) -> bool:
        return True


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
