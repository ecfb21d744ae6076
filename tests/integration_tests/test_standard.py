"""LangChain's standard integration suite, run on the real SmolLM2-135M GGUF through llama.cpp."""

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from hag_chain import ChatHAG

pytestmark = pytest.mark.integration


class TestChatHAGIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatHAG]:
        return ChatHAG

    @property
    def chat_model_params(self) -> dict:
        # Forced tool calls and JSON answers need room to close their JSON. Greedy decoding with a repetition
        # penalty is pinned so that the suite's exact-argument checks are deterministic and the 135M model does
        # not loop inside a JSON string; the planner still runs on every call and chooses top_p and top_k
        # (its own behaviour is tested in test_runtime.py).
        return {"max_tokens": 128, "seed": 7, "temperature": 0.0, "repetition_penalty": 1.2}

    @property
    def supports_model_override(self) -> bool:
        # One ChatHAG is bound to one GGUF file; another model means another ChatHAG(model_path=...).
        return False

    @property
    def supports_json_mode(self) -> bool:
        return True

    @pytest.mark.xfail(
        reason="tool_choice=None leaves the decision to the model, and untuned SmolLM2-135M does not emit a "
        "tool call on its own (measured: '<' ranks 61st as the first token for the weather question); "
        "forced calls (tool_choice='any' or a tool name) pass in test_tool_calling and test_tool_choice.",
        strict=False,
    )
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model: ChatHAG) -> None:
        super().test_agent_loop(model)
