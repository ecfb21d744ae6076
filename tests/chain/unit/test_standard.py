"""LangChain's standard unit suite for ChatHAG (no model is loaded)."""

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests

from hag_chain import ChatHAG

pytestmark = pytest.mark.unit


class TestChatHAGStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatHAG]:
        return ChatHAG

    @property
    def chat_model_params(self) -> dict:
        return {"model": "smollm2-135m"}

    @property
    def supports_model_override(self) -> bool:
        # One ChatHAG is bound to one GGUF file; another model means another ChatHAG(model_path=...).
        return False
