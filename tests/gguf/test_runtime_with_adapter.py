"""ChatHAG on models and adapters that hag_gguf wrote: the adapter's hag.* metadata and its on/off states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hag_gguf import convert_adapter, convert_model

from hag_chain import AdapterMismatchError, ChatHAG, SearchSpace, default_model_path

from ..tiny_models import make_lora

ADAPTER_SPACE = SearchSpace(values={"temperature": (0.2, 0.9), "top_k": (5, 7)})
GREEDY = {"temperature": 0.0, "repetition_penalty": 1.0}  # pinned: phase 2 is then a deterministic function


@pytest.fixture(scope="module")
def tiny_pair(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("runtime")
    base = convert_model(tiny_model_dir, out / "base.gguf", "f32").path
    lora_dir, _ = make_lora(tiny_model_dir, out / "lora", seed=3)
    meta = {"hag.search_space": ADAPTER_SPACE.to_json(), "hag.prompt_version": "hag-v1"}
    adapter = convert_adapter(lora_dir, out / "adapter.gguf", tiny_model_dir, hag_metadata=meta).path
    return str(base), str(adapter)


def chat(base: str, adapter: str | None = None, **kwargs) -> ChatHAG:
    return ChatHAG(model_path=base, adapter_path=adapter, n_ctx=256, n_threads=1, max_tokens=6, **kwargs)


def test_planner_uses_the_search_space_the_adapter_carries(tiny_pair):
    base, adapter = tiny_pair
    resolved = chat(base, adapter).choose_config("Hello there")
    assert resolved.config.temperature in (0.2, 0.9) and resolved.config.top_k in (5, 7)
    assert resolved.sources["temperature"] == "model" and resolved.sources["top_p"] == "default"
    assert chat(base, adapter).load().adapter_metadata["hag.search_space"] == ADAPTER_SPACE.to_json()


def test_phase_two_adapter_option_and_no_kv_reuse_across_adapter_states(tiny_pair):
    base, adapter = tiny_pair
    prompt = "the quick brown fox"
    plain = chat(base, **GREEDY).invoke(prompt).content
    with_adapter = chat(base, adapter, **GREEDY).invoke(prompt)
    without = chat(base, adapter, answer_with_adapter=False, **GREEDY).invoke(prompt)
    # The planner ran with the adapter on (it chose on the adapter's grid) in both cases ...
    for msg in (with_adapter, without):
        assert msg.response_metadata["hag"]["config"]["top_k"] in (5, 7)
    # ... and phase 2 without the adapter is exactly the base model: no KV entry computed under the adapter leaked.
    assert without.content == plain
    assert with_adapter.content != plain


def test_adapter_for_another_base_is_refused(tiny_pair):
    _, adapter = tiny_pair
    with pytest.raises(AdapterMismatchError, match="does not fit"):
        ChatHAG(model_path=default_model_path(), adapter_path=adapter, max_tokens=2).invoke("Hi")


def test_planner_output_depends_on_the_adapter(tiny_pair):
    base, adapter = tiny_pair
    space = SearchSpace(values={"temperature": (0.0, 0.3, 0.7, 1.0), "top_p": (0.9, 1.0), "top_k": (10, 50)})
    prompts = ["Hello there", "the quick brown fox", "café naïve über", "1234 5678", "jumped over lazy dog"]
    with_adapter = [chat(base, adapter, search_space=space).choose_config(p).config for p in prompts]
    base_only = [chat(base, search_space=space).choose_config(p).config for p in prompts]
    assert with_adapter != base_only
    assert json.dumps([c.model_dump() for c in with_adapter])  # serialisable for the metadata
