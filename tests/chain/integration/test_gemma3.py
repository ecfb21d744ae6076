"""A second real architecture: Gemma 3 270M (gemma3, SentencePiece vocabulary, a GGUF without a chat template)."""

import pytest

from hag_chain import ChatHAG
from hag_chain.llama.templates import CHATML_TEMPLATE, GEMMA_TEMPLATE, fallback_chat_template
from hag_chain.protocol import invocation_text

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gemma() -> ChatHAG:
    return ChatHAG(model="gemma3-270m", max_tokens=8, n_ctx=1024)


def test_a_gguf_without_a_template_gets_its_familys_turns(gemma):
    model = gemma.load()
    assert "tokenizer.chat_template" not in model.metadata and model.metadata["general.architecture"] == "gemma3"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert model.render(messages) == "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    # <start_of_turn> is one special token, not text, and the BOS is not doubled.
    prompt = model.prompt_tokens(messages)
    assert prompt[0] == model.llm.token_bos() and prompt[1] == model.tokenize("<start_of_turn>")[0] and prompt[1] > 0
    assert prompt.count(model.llm.token_bos()) == 1
    # The planner turn is a clean suffix of any conversation: it can serve as an aLoRA invocation.
    turn = "<start_of_turn>user\nsettings<end_of_turn>\n<start_of_turn>model\n"
    assert invocation_text(model.render, "hag-v3") == turn
    # Every configuration code of the default grid is one token of Gemma's vocabulary too.
    space = gemma.hag_profile().search_space
    assert all(len(model.tokenize(c, special=False)) == 1 for c in space.codes())


def test_the_untuned_planner_and_an_answer_run_on_gemma(gemma):
    msg = gemma.invoke("What is 2 + 3?")
    assert msg.response_metadata["hag"]["line"] is not None and msg.usage_metadata["output_tokens"] > 0
    assert "<|im_end|>" not in msg.content


def test_fallback_template_by_architecture():
    assert fallback_chat_template("gemma3") == fallback_chat_template("gemma2") == GEMMA_TEMPLATE
    assert fallback_chat_template("llama") == fallback_chat_template(None) == CHATML_TEMPLATE
