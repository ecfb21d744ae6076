"""Tools offered as the runtime offers them: in a template's own slot where it has one, searched and tuned that way."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hag_gguf import convert_model
from hag_training.generation.cache import CachedEngine, GenerationCache
from hag_training.generation.llama import LlamaCppEngine
from hag_training.generation.request import GenerationRequest
from hag_training.labels import Label
from hag_training.sft_examples import build_examples
from langchain_core.messages import HumanMessage

from hag_chain import DecodingConfig, planner_messages, tool_call_messages
from hag_chain.chat.request import Request

from ..tiny_models import COOL, TOOLS_CHAT_TEMPLATE, build_tiny_llama, label_record

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    },
}
CHAT = [{"role": "user", "content": "Look up the word fox."}]
GREEDY = DecodingConfig(temperature=0.0)


def _forced_call() -> Request:
    """The runtime's request for a forced call of ``TOOL`` on ``CHAT`` (``bind_tools([TOOL], tool_choice="any")``)."""
    options = {"tools": [TOOL], "tool_choice": "any"}
    return Request.build([HumanMessage(CHAT[0]["content"])], options, pins={}, stop=None, max_tokens=None, seed=None)


@pytest.fixture(scope="module")
def tools_model(tmp_path_factory: pytest.TempPathFactory):
    """A tiny llama whose chat template writes tools as Qwen2.5's does: its transformers folder and its GGUF."""
    folder = tmp_path_factory.mktemp("models") / "tiny-tools"
    build_tiny_llama(folder, context=1024, chat_template=TOOLS_CHAT_TEMPLATE)
    return folder, convert_model(folder, tmp_path_factory.mktemp("gguf") / "tiny-tools.gguf", "f32").path


def test_a_template_that_writes_tools_is_searched_and_tuned_on_the_runtime_s_prompts(tools_model, tmp_path):
    folder, gguf = tools_model
    engine = LlamaCppEngine(model_path=str(gguf), n_ctx=1024)
    model = engine.model()
    request = GenerationRequest.build(CHAT, GREEDY, 0, 4, tools=[TOOL])
    resolved = CachedEngine(engine, GenerationCache(tmp_path / "g.sqlite")).resolve(request)
    assert resolved == request == engine.resolve(resolved)  # the tools stay for the template to write
    call = _forced_call()
    answer_prompt = call.prompt(model)
    assert answer_prompt == model.prompt_tokens(resolved.chat, tools=resolved.tool_list)
    assert "# Tools" in model.llm.detokenize(answer_prompt).decode()  # written by the template
    assert len(engine.generate([request])) == 1

    # Tuned on the planner prompt the runtime sends, tools written by the same template (transformers' rendering).
    from transformers import AutoTokenizer

    label = replace(label_record("lookup", "", COOL, {COOL: 1.0}), messages=resolved.chat, tools=[TOOL])
    label = Label.from_dict(label.to_dict())  # as written to and read from labels.jsonl
    (example,), skipped = build_examples(
        [label], AutoTokenizer.from_pretrained(folder), prompt_version="hag-v1", max_length=1024, answers=False
    )
    n_prompt = sum(t == -100 for t in example["labels"])
    assert skipped == 0 and example["input_ids"][:n_prompt] == call.prompt(model, planner_messages(call.chat, "hag-v1"))


def test_a_template_without_tools_gets_them_as_instructions_under_the_key_it_had(tmp_path):
    """SmolLM2's template writes no tools: the request is asked, and cached, as before requests carried tools."""
    engine = LlamaCppEngine()
    resolved = CachedEngine(engine, GenerationCache(tmp_path / "g.sqlite")).resolve(
        GenerationRequest.build(CHAT, GREEDY, 0, 4, tools=[TOOL])
    )
    before = GenerationRequest.build(tool_call_messages(CHAT, [TOOL]), GREEDY, 0, 4)
    assert resolved == before and resolved.key(engine.engine_id) == before.key(engine.engine_id)
    assert _forced_call().prompt(engine.model()) == engine.model().prompt_tokens(resolved.chat)
