import pytest

from hag_chain import ChatHAG


@pytest.fixture(scope="session")
def chat() -> ChatHAG:
    model = ChatHAG(max_tokens=24)
    model.load()
    return model
