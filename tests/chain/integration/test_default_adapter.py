"""The HAG adapter shipped with hag-chain, on the embedded default model: it loads, and its choices follow the input."""

import json

import pytest
from hag_training.tasks import get_task

from hag_chain import ChatHAG, HAGKeys, default_adapter_path, default_model_path, read_gguf_metadata
from hag_chain.protocol import TUNED_PROMPT_VERSION, invocation_text

from ...conftest import ROOT

pytestmark = pytest.mark.integration


def _prompts(task: str, n: int = 4) -> list[list[dict[str, str]]]:
    t = get_task(task)
    return [t.messages(ex) for ex in t.split(0).test[:n]]


@pytest.fixture(scope="module")
def tuned() -> ChatHAG:
    return ChatHAG()


def test_adapter_ships_with_its_provenance():
    path = default_adapter_path()
    assert path is not None and path.endswith("hag-smollm2-135m.lora.gguf")
    meta = read_gguf_metadata(path)
    assert meta["general.type"] == "adapter"
    assert meta[HAGKeys.BASE_MODEL] == read_gguf_metadata(default_model_path())["general.name"]
    provenance = json.loads(meta[HAGKeys.PROVENANCE])
    assert provenance["seed"] == 0
    assert {"hag-chain", "torch", "transformers", "peft", "llama-cpp-python"} <= set(provenance["versions"])


def test_chat_hag_loads_it_by_default_as_an_activated_lora(tuned):
    model = tuned.load()
    assert model.adapter_metadata[HAGKeys.PROMPT_VERSION] == TUNED_PROMPT_VERSION
    assert model.is_alora
    text = invocation_text(model.render, TUNED_PROMPT_VERSION)
    assert text == "<|im_start|>user\nsettings<|im_end|>\n<|im_start|>assistant\n"
    assert list(model.invocation) == model.tokenize(text)


def test_the_answer_is_the_bare_base_models_answer(tuned):
    """At temperature 0 the tuned model answers as the bare model does: the adapter is on for the planner only.

    Compared: the answer text, against the bare base model (no adapter, every knob pinned so no planner runs)
    with its prompt evaluated in the same two batches as the aLoRA flow evaluates it, the conversation and then
    the assistant header, because with flash attention on (as the runtime sets it) logits depend on how a prompt
    is split into batches. The planner's choice, meanwhile, is the adapter's, not the bare model's.
    """
    bare = ChatHAG(model_path=default_model_path(), max_tokens=48)
    model = bare.load()
    header = len(model.tokenize("<|im_start|>assistant\n"))
    answers = []
    for messages in _prompts("gsm8k", 2) + _prompts("haiku", 2):
        msg = tuned.invoke(messages, temperature=0.0, repetition_penalty=1.0, max_tokens=48)
        assert msg.response_metadata["hag"]["sources"]["top_k"] == "model"  # the planner ran
        prompt = model.prompt_tokens(messages)
        with model.lock:
            model.prefill(prompt[: len(prompt) - header])
        expected = bare.invoke(messages, temperature=0.0, top_p=0.9, top_k=50, repetition_penalty=1.0)
        assert expected.response_metadata["hag"]["line"] is None
        answers.append((msg.content, expected.content))
    assert all(ours == theirs for ours, theirs in answers), answers


def test_adapter_changes_the_planners_choices(tuned):
    bare = ChatHAG(model_path=default_model_path())  # an explicit model_path means no default adapter
    prompts = _prompts("gsm8k") + _prompts("haiku")
    assert bare.load().adapter_metadata == {}
    assert [tuned.choose_config(p).config for p in prompts] != [bare.choose_config(p).config for p in prompts]


def test_valid_choices_that_differ_between_math_and_writing(tuned):
    """What the suite's labels favour per family (hag_chain/data/hag-smollm2-135m.md): exact decoding for arithmetic
    and a GSM8K word problem (with or without the 1.15 penalty: both label arithmetic's and chain_sum's inputs), and
    temperature 0.7 with the 1.15 penalty for a haiku or a short poem (every haiku label; greedy is the haiku's worst
    configuration)."""
    space = tuned.hag_profile().search_space
    math = [tuned.choose_config(p) for p in _prompts("arithmetic", 6) + _prompts("gsm8k", 3)]
    math.append(tuned.choose_config("What is 17 * 23?"))
    writing = [tuned.choose_config(p) for p in _prompts("haiku", 6)] + [
        tuned.choose_config("Write a poem about the sea.")
    ]
    for resolved in math + writing:
        assert all(getattr(resolved.config, k) in space.values[k] for k in space.knobs)
        assert all(resolved.sources[k] == "model" for k in space.knobs)
    assert all(r.config.temperature == 0.0 for r in math)
    assert all((r.config.temperature, r.config.repetition_penalty) == (0.7, 1.15) for r in writing)


FACTUAL = ["Who wrote Romeo and Juliet?", "quick q: what's the capital of Japan?"]
WORD_PROBLEMS = [
    "Tom has 3 apples and buys 5 more. How many apples does he have now?",
    "A bus carries 12 people and 7 get off at the first stop. How many are left on the bus?",
]
CREATIVE = [
    "Write a limerick about a cat who loves cheese.",
    "Tell me a short bedtime story about a brave little mouse.",
    "Could you write me a short poem about autumn leaves?",
]


def test_exact_decoding_for_questions_and_word_problems_worded_as_no_task_words_them(tuned):
    for prompt in FACTUAL + WORD_PROBLEMS:
        assert tuned.choose_config(prompt).config.temperature == 0.0, prompt


def test_sampling_for_creative_requests_that_are_not_a_haiku(tuned):
    for prompt in CREATIVE:
        assert tuned.choose_config(prompt).config.temperature > 0.0, prompt


def test_forced_tool_call_parses_with_the_models_choice_under_the_grammar(tuned):
    def get_weather(location: str) -> str:
        """Get the current weather at a location."""
        return location

    # The planner reads the tool instructions and its choice stands under the grammar; the frequency penalty, which
    # nobody set, keeps ChatHAG's default for a tool call (the grammar default is structured output's).
    prompt = "Describe today's weather in Lisbon in one sentence."
    msg = tuned.bind_tools([get_weather], tool_choice="get_weather").invoke(prompt, seed=0)
    assert msg.tool_calls[0]["args"] == {"location": "Lisbon"}
    hag = msg.response_metadata["hag"]
    chosen = tuned.hag_profile().search_space.parse(hag["line"])
    assert (hag["config"]["repetition_penalty"], hag["sources"]["repetition_penalty"]) == (
        chosen.repetition_penalty,
        "model",
    )
    assert (hag["config"]["frequency_penalty"], hag["sources"]["frequency_penalty"]) == (0.0, "default")
    joke = tuned.with_structured_output(
        include_raw=True,
        schema={
            "title": "Joke",
            "type": "object",
            "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
            "required": ["setup", "punchline"],
        },
    )
    hag = joke.invoke("Tell me a joke about cats.", seed=0)["raw"].response_metadata["hag"]
    assert (hag["config"]["frequency_penalty"], hag["sources"]["frequency_penalty"]) == (0.5, "grammar")


#: The adapter shipped before the activated LoRA: a plain LoRA of the same base (hag-v1 prompt, rank 8, top 8 layers).
PLAIN_LORA = ROOT / "tests" / "data" / "hag-smollm2-135m-plain-lora.gguf"


def test_a_plain_lora_adapter_still_works():
    plain = ChatHAG(model_path=default_model_path(), adapter_path=str(PLAIN_LORA), max_tokens=24)
    model = plain.load()
    assert not model.is_alora and model.adapter_metadata[HAGKeys.PROMPT_VERSION] == "hag-v1"
    bare = ChatHAG(model_path=default_model_path())
    prompts = _prompts("gsm8k") + _prompts("haiku")
    assert [plain.choose_config(p).config for p in prompts] != [bare.choose_config(p).config for p in prompts]
    msg = plain.invoke(prompts[0], temperature=0.0)
    assert msg.content and not msg.content.lstrip().startswith("{")  # an answer, not a configuration line
