"""Activated LoRA: `hag-train sft --mode alora` on a tiny random llama, its GGUF export, and the runtime's switching.

The adapter is active from its invocation (the rendered planner turn) on: the conversation before it is the base
model's computation, in peft and in llama.cpp, and the answer is the bare base model's.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hag_gguf import UnsupportedModelError, convert_adapter, inspect_gguf, merge_adapter
from hag_training.labels import load_records
from hag_training.sft import train_adapter
from hag_training.sft_config import SFTConfig
from hag_training.sft_examples import alora_invocation

from hag_chain import (
    AdapterMismatchError,
    ChatHAG,
    HAGKeys,
    InvalidConfigError,
    ModelKey,
    SearchSpace,
    load_model,
    planner_messages,
    read_gguf_metadata,
)
from hag_chain.chat.planner import invocation_start, with_planner_suffix
from hag_chain.protocol import TUNED_PROMPT_VERSION, planner_reply

from ..tiny_models import ADAPTER_TOLERANCE, COOL, MATH, POEMS, SPACE, TRAINING, hf_logits, llama_logits, load_hf

# The tiny llama runs in torch and in llama.cpp here: torch on one thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_threaded_torch")

#: llama.cpp (f32 GGUF) against transformers on the same weights, without any adapter (measured: about 0.01).
BASE_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def tuned_alora(labels, base_dir, tmp_path_factory):
    config = SFTConfig(**TRAINING)  # the default mode: alora, prompt version hag-v3 (one code token)
    assert config.mode == "alora" and config.prompt_version == TUNED_PROMPT_VERSION == "hag-v3"
    return train_adapter(labels, tmp_path_factory.mktemp("sft-alora"), config, base=base_dir, progress=False)


@pytest.fixture(scope="module")
def tuned_alora_v4(labels, base_dir, tmp_path_factory):
    """The same word and codes, opening the reply: the invocation is the word's one token."""
    config = SFTConfig(**TRAINING, prompt_version="hag-v4")
    return train_adapter(labels, tmp_path_factory.mktemp("sft-alora-v4"), config, base=base_dir, progress=False)


@pytest.fixture(scope="module")
def tuned_alora_v2(labels, base_dir, tmp_path_factory):
    """The same turn answered by the JSON configuration line, knob by knob."""
    config = SFTConfig(**TRAINING, prompt_version="hag-v2")
    return train_adapter(labels, tmp_path_factory.mktemp("sft-alora-v2"), config, base=base_dir, progress=False)


def _invocation(base_dir):
    from transformers import AutoTokenizer

    return alora_invocation(AutoTokenizer.from_pretrained(base_dir), TUNED_PROMPT_VERSION)


def test_alora_adapter_carries_its_invocation_for_llama_cpp(tuned_alora, base_dir, base_gguf):
    import llama_cpp

    invocation = _invocation(base_dir)
    model = load_model(ModelKey(str(base_gguf), str(tuned_alora.adapter_path), n_ctx=512))
    n = llama_cpp.llama_adapter_get_alora_n_invocation_tokens(model.adapter.handle)
    ptr = llama_cpp.llama_adapter_get_alora_invocation_tokens(model.adapter.handle)
    assert [ptr[i] for i in range(n)] == invocation  # read back through llama.cpp's own function
    assert model.is_alora and list(model.invocation) == invocation
    # ... and it is the runtime's own tokenisation of the planner turn
    assert model.tokenize("<|im_start|>user\nsettings<|im_end|>\n<|im_start|>assistant\n") == invocation
    assert inspect_gguf(tuned_alora.adapter_path)["metadata"]["adapter.alora.invocation_tokens"] == invocation
    data = tuned_alora.summary["data"]
    assert data["examples"] == 8 and data["answer_examples"] == 0  # no answer imitation in aLoRA mode


def test_peft_alora_and_llama_cpp_agree_on_the_planner_turn_and_the_base_before_it(
    tuned_alora, base_dir, base_gguf, labels
):
    from peft import PeftModel

    record = load_records(labels)[0]
    model = load_model(ModelKey(str(base_gguf), n_ctx=512))
    prompt = with_planner_suffix(
        model, model.prompt_tokens(planner_messages(record.messages, TUNED_PROMPT_VERSION)), TUNED_PROMPT_VERSION
    )
    values = SPACE.parse(record.label_line).model_dump(include=set(SPACE.knobs))
    ids = prompt + model.tokenize(planner_reply(SPACE, values, TUNED_PROMPT_VERSION), special=False)
    start = len(prompt) - len(_invocation(base_dir))
    base = hf_logits(load_hf(base_dir), ids)
    peft_logits = hf_logits(PeftModel.from_pretrained(load_hf(base_dir), tuned_alora.peft_dir).eval(), ids)
    np.testing.assert_array_equal(peft_logits[:start], base[:start])  # peft: the conversation is the bare base

    # adapter on from the invocation's first token, as peft
    got = llama_logits(base_gguf, ids, adapter=tuned_alora.adapter_path, adapter_from=start, n_ctx=512)
    conversation, planner = np.abs(got[:start] - base[:start]).max(), np.abs(got[start:] - peft_logits[start:]).max()
    effect = np.abs(peft_logits[start:] - base[start:]).max()
    print(
        f"llama.cpp vs base before the invocation {conversation:.4f}; vs peft after {planner:.4f}; effect {effect:.2f}"
    )
    assert conversation <= BASE_TOLERANCE
    assert planner <= ADAPTER_TOLERANCE < effect


GREEDY = {"temperature": 0.0, "repetition_penalty": 1.0}
ASSISTANT_HEADER = "<|im_start|>assistant\n"


def test_both_reply_formats_choose_the_labels(tuned_alora, tuned_alora_v2, base_gguf):
    for adapter, one_token in ((tuned_alora, True), (tuned_alora_v2, False)):
        chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(adapter.adapter_path), n_ctx=512)
        chosen = {q: chat.choose_config(q).config.temperature for q in MATH + POEMS}
        assert chosen == {**dict.fromkeys(MATH, 0.0), **dict.fromkeys(POEMS, 1.0)}
        planner = chat.choose_config(MATH[0]).planner
        assert planner.line == COOL and (planner.output_tokens == 1) == one_token


def test_the_code_planner_is_one_llama_cpp_call(tuned_alora, tuned_alora_v2, base_gguf):
    """A spy on llama.cpp's eval, the real one underneath: the code reply is decided by one batch."""
    calls = {}
    for name, adapter in (("code", tuned_alora), ("line", tuned_alora_v2)):
        chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(adapter.adapter_path), n_ctx=512)
        model, version = chat.load(), chat.hag_profile().prompt_version
        prompt = with_planner_suffix(
            model, model.prompt_tokens(planner_messages([{"role": "user", "content": MATH[1]}], version)), version
        )
        model.prefill(prompt[: invocation_start(model, prompt, version)])  # the conversation: cached, as for an answer
        real_eval, batches = model.llm.eval, []

        def counting_eval(tokens, real_eval=real_eval, batches=batches):
            batches.append(len(tokens))
            return real_eval(tokens)

        model.llm.eval = counting_eval
        try:
            chat.choose_config(MATH[1])
        finally:
            del model.llm.eval
        calls[name] = batches
    assert len(calls["code"]) == 1 and len(calls["line"]) > 1, calls


def test_a_search_space_given_to_a_code_model_maps_onto_its_grid(tuned_alora, base_gguf):
    def chosen(space, question):
        adapter = str(tuned_alora.adapter_path)
        return ChatHAG(model_path=str(base_gguf), adapter_path=adapter, n_ctx=512, search_space=space).choose_config(
            question
        )

    # Sub-grids: the model's best among the allowed configurations (MATH's label is top_k 10 at temperature 0,
    # POEMS' top_k 50 at temperature 1).
    for top_k, question, temperature in ((10, MATH[0], 0.0), (50, POEMS[0], 1.0)):
        sub = SearchSpace(values={"top_k": (top_k,), "temperature": (0.0, 1.0)})
        assert chosen(sub, question).config.temperature == temperature
        # Values off the tuned grid stand for their nearest tuned values.
        off_grid = SearchSpace(values={"top_k": (top_k,), "temperature": (0.2, 0.9)})
        assert chosen(off_grid, question).config.temperature == {0.0: 0.2, 1.0: 0.9}[temperature]
    # A tuned knob left out keeps its default, and the choice is the model's best at (the nearest tuned value of) it.
    assert chosen(SearchSpace(values={"temperature": (0.0, 1.0)}), MATH[0]).sources["top_k"] == "default"
    # A knob the model was never tuned to choose is refused, with what to do instead.
    with pytest.raises(InvalidConfigError, match="cannot choose min_p: pin it or leave it out of `search_space`"):
        chosen(SearchSpace(values={"min_p": (0.0, 0.1)}), MATH[0])


def test_pins_narrow_the_code_choice(tuned_alora, base_gguf):
    chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(tuned_alora.adapter_path), n_ctx=512)
    assert chat.choose_config(MATH[0]).planner.values["temperature"] == 0.0
    # With the temperature pinned, the model's best code among those at that temperature (it chooses top_k).
    pinned = chat.choose_config(MATH[0], temperature=1.0)
    assert pinned.planner.values["temperature"] == 1.0 and pinned.sources["top_k"] == "model"
    # A knob the grid lacks is fine in `search_space` once it is pinned.
    space = SearchSpace(values={"temperature": (0.0, 1.0), "min_p": (0.0, 0.1)})
    both = ChatHAG(
        model_path=str(base_gguf), adapter_path=str(tuned_alora.adapter_path), search_space=space, min_p=0.05
    )
    resolved = both.choose_config(POEMS[0])
    assert resolved.config.temperature == 1.0 and resolved.config.min_p == 0.05


def test_code_tokens_of_another_tokenizer_are_refused(tuned_alora, base_dir, base_gguf, tmp_path):
    meta = {k: v for k, v in read_gguf_metadata(str(tuned_alora.adapter_path)).items() if k.startswith("hag.")}
    model = ChatHAG(model_path=str(base_gguf), n_ctx=512).load()
    assert json.loads(meta[HAGKeys.CODE_TOKENS]) == [model.tokenize(c, special=False)[0] for c in SPACE.codes()]
    # The same weights, with the code ids another tokenizer would have given: a real file that does not match.
    meta[HAGKeys.CODE_TOKENS] = json.dumps(list(reversed(json.loads(meta[HAGKeys.CODE_TOKENS]))))
    adapter = convert_adapter(tuned_alora.peft_dir, tmp_path / "wrong.gguf", base_dir, "f32", hag_metadata=meta).path
    chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(adapter), n_ctx=512)
    with pytest.raises(AdapterMismatchError, match="tuned on the code tokens"):
        chat.choose_config(MATH[0])


@pytest.mark.parametrize("version", ["hag-v3", "hag-v4"])
def test_alora_planner_writes_the_labels_and_the_answer_is_the_bare_models(
    version, tuned_alora, tuned_alora_v4, base_gguf
):
    adapter = {"hag-v3": tuned_alora, "hag-v4": tuned_alora_v4}[version].adapter_path
    chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(adapter), n_ctx=512, max_tokens=12)
    bare = ChatHAG(model_path=str(base_gguf), n_ctx=512, max_tokens=12)
    if version == "hag-v4":  # the invocation is the word alone (one token in a real vocabulary, 7 in this tiny one)
        assert list(chat.load().invocation) == chat.load().tokenize("settings", special=False)
    for question in (MATH[0], POEMS[1]):
        answer = chat.invoke(question, **GREEDY)
        assert answer.response_metadata["hag"]["line"] is not None  # the planner ran (top_k was its to choose)
        # The bare model (every knob pinned, so no planner), its prompt evaluated in the same batches as the aLoRA
        # flow evaluates it: with flash attention on, as the runtime sets it, logits depend on how a prompt is
        # split. hag-v3: the conversation, then the assistant header. hag-v4: the whole prompt, then its last token
        # again (llama-cpp-python's way with a cached prompt, so the answer never starts from the planner's logits).
        model = bare.load()
        prompt = model.prompt_tokens([{"role": "user", "content": question}])
        header = len(model.tokenize(ASSISTANT_HEADER)) if version == "hag-v3" else 0
        with model.lock:
            model.prefill(prompt[: len(prompt) - header])
        expected = bare.invoke(question, top_p=0.9, top_k=10, **GREEDY)
        assert expected.response_metadata["hag"]["line"] is None
        assert answer.content == expected.content


def test_alora_cannot_be_merged(tuned_alora, base_dir, tmp_path):
    with pytest.raises(UnsupportedModelError, match="activated LoRA"):
        merge_adapter(tuned_alora.peft_dir, tmp_path / "merged.gguf", base_dir)


def test_an_invocation_the_runtime_does_not_render_is_explained(tuned_alora, base_dir, base_gguf, tmp_path):
    # The same weights, exported with the invocation of another prompt version: a real file that does not match.
    peft_dir = shutil.copytree(tuned_alora.peft_dir, tmp_path / "peft")
    config = json.loads((peft_dir / "adapter_config.json").read_text())
    from transformers import AutoTokenizer

    config["alora_invocation_tokens"] = alora_invocation(AutoTokenizer.from_pretrained(base_dir), "hag-v1")
    (peft_dir / "adapter_config.json").write_text(json.dumps(config))
    meta = {"hag.prompt_version": TUNED_PROMPT_VERSION}
    adapter = convert_adapter(peft_dir, tmp_path / "wrong.gguf", base_dir, "f32", hag_metadata=meta).path
    chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(adapter), n_ctx=512)
    with pytest.raises(AdapterMismatchError, match="not how this model renders the planner turn of prompt version"):
        chat.choose_config(MATH[0])


def test_an_engine_with_an_alora_answers_as_the_base_and_shares_its_cache(tuned_alora, base_gguf, tmp_path):
    from hag_training.generation.llama import LlamaCppEngine
    from hag_training.generation.request import GenerationRequest

    from hag_chain import DecodingConfig

    base = LlamaCppEngine(str(base_gguf), n_ctx=512)
    with_alora = LlamaCppEngine(str(base_gguf), str(tuned_alora.adapter_path), n_ctx=512)
    assert with_alora.answering_adapter is None and with_alora.engine_id == base.engine_id
    request = GenerationRequest.build([{"role": "user", "content": MATH[0]}], DecodingConfig(temperature=0), 0, 8)
    assert with_alora.generate([request]) == base.generate([request])
