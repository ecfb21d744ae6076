import pytest
from hag_training.generation.llama import LlamaCppEngine
from hag_training.search import SearchConfig

from ..conftest import TINY_SPACE


class CountingEngine:
    """The real llama.cpp engine, recording which requests it had to generate."""

    def __init__(self) -> None:
        self.inner = LlamaCppEngine()
        self.requests = []

    @property
    def engine_id(self) -> str:
        return self.inner.engine_id

    def generate(self, requests, on_reply=None):
        self.requests.extend(requests)
        return self.inner.generate(requests, on_reply)


@pytest.fixture
def tiny_config() -> SearchConfig:
    return SearchConfig(tasks=("coinflip",), n_probe=2, n_train=2, k=2, survivors=2, space=TINY_SPACE)
