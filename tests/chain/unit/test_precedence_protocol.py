import pytest

from hag_chain import DEFAULT_PROMPT_VERSION, DecodingConfig, HAGKeys, HAGProfile, ModelLoadError, SearchSpace
from hag_chain.chat.precedence import resolve_config
from hag_chain.protocol import (
    PLANNER_PROMPTS,
    TUNED_PROMPT_VERSION,
    invocation_text,
    planner_messages,
    planner_suffix,
)

pytestmark = pytest.mark.unit


def test_call_beats_init_beats_model_beats_default():
    resolved = resolve_config(
        call={"temperature": 0.0},
        init={"temperature": 0.5, "top_p": 0.9},
        model={"temperature": 1.1, "top_p": 1.0, "top_k": 100},
        defaults=DecodingConfig(top_k=40, repetition_penalty=1.3),
        bounds={},
    )
    cfg, src = resolved.config, resolved.sources
    assert (cfg.temperature, src["temperature"]) == (0.0, "call")
    assert (cfg.top_p, src["top_p"]) == (0.9, "init")
    assert (cfg.top_k, src["top_k"]) == (100, "model")
    assert (cfg.repetition_penalty, src["repetition_penalty"]) == (1.3, "default")


def test_bounds_cap_model_choice_but_not_call_arguments():
    kwargs = dict(init={}, defaults=DecodingConfig(), bounds={"temperature": (None, 1.0), "top_k": (20, None)})
    capped = resolve_config(call={}, model={"temperature": 1.1, "top_k": 10}, **kwargs)
    assert (capped.config.temperature, capped.sources["temperature"]) == (1.0, "bound")
    assert (capped.config.top_k, capped.sources["top_k"]) == (20, "bound")
    explicit = resolve_config(call={"temperature": 1.5}, model={"temperature": 1.1}, **kwargs)
    assert (explicit.config.temperature, explicit.sources["temperature"]) == (1.5, "call")


def test_no_model_choice_leaves_every_knob_to_the_defaults():
    resolved = resolve_config(call={}, init={}, model={}, defaults=DecodingConfig(), bounds={})
    assert set(resolved.sources.values()) == {"default"}
    assert resolved.config == DecodingConfig()


def test_under_a_grammar_only_knobs_nobody_set_take_their_grammar_defaults():
    # The model's choice stands under a grammar (a planner that sees the schema decides); what nobody set takes
    # the knob's default under a grammar instead of ChatHAG.defaults; pins, calls and bounds stand.
    layers = {
        "call": {"presence_penalty": 0.5},
        "init": {},
        "model": {"repetition_penalty": 1.15, "temperature": 0.3},
        "defaults": DecodingConfig(frequency_penalty=0.2, top_k=7),
        "bounds": {},
    }
    free, constrained = resolve_config(**layers), resolve_config(**layers, grammar=True)
    assert (constrained.config.repetition_penalty, constrained.sources["repetition_penalty"]) == (1.15, "model")
    assert (constrained.config.temperature, constrained.sources["temperature"]) == (0.3, "model")
    assert (constrained.config.presence_penalty, constrained.sources["presence_penalty"]) == (0.5, "call")
    assert (free.config.frequency_penalty, free.sources["frequency_penalty"]) == (0.2, "default")
    assert (constrained.config.frequency_penalty, constrained.sources["frequency_penalty"]) == (0.5, "grammar")
    assert (constrained.config.top_k, constrained.sources["top_k"]) == (7, "default")  # no grammar default
    pinned = resolve_config(
        call={}, init={"frequency_penalty": 0.0}, model={}, defaults=DecodingConfig(), bounds={}, grammar=True
    )
    assert (pinned.config.frequency_penalty, pinned.sources["frequency_penalty"]) == (0.0, "init")
    capped = resolve_config(
        call={},
        init={},
        model={},
        defaults=DecodingConfig(),
        bounds={"frequency_penalty": (None, 0.3), "repetition_penalty": (1.1, None)},
        grammar=True,
    )
    assert (capped.config.frequency_penalty, capped.sources["frequency_penalty"]) == (0.3, "bound")
    assert (capped.config.repetition_penalty, capped.sources["repetition_penalty"]) == (1.1, "bound")


def test_planner_turn_is_appended_after_the_conversation():
    chat = [{"role": "user", "content": "hi"}]
    out = planner_messages(chat)
    assert out[0] == chat[0] and out[-1]["role"] == "user"
    assert out[-1]["content"] == PLANNER_PROMPTS[DEFAULT_PROMPT_VERSION].text
    assert planner_suffix(DEFAULT_PROMPT_VERSION) == ""


def test_a_planner_prompt_that_opens_the_reply_leaves_the_conversation_as_the_answer_gets_it():
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]

    def render(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:  # ChatML, as Qwen2.5 writes it
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return turns + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    assert PLANNER_PROMPTS["hag-v4"].opens_reply and not PLANNER_PROMPTS[TUNED_PROMPT_VERSION].opens_reply
    assert planner_messages(chat, "hag-v4") == chat
    assert planner_suffix("hag-v4") == invocation_text(render, "hag-v4") == "settings"
    # hag-v3 asks the same word in a turn of its own: the template's markers are the rest of its invocation
    assert invocation_text(render, "hag-v3") == "<|im_start|>user\nsettings<|im_end|>\n<|im_start|>assistant\n"


def test_profile_reads_hag_metadata_with_adapter_overriding_model():
    model_space = SearchSpace(values={"temperature": (0.0, 1.0)})
    adapter_space = SearchSpace(values={"temperature": (0.2, 0.8)})
    # Both files set the search space and the base model; only the model sets the prompt version.
    model_meta = {
        "general.name": "x",
        HAGKeys.PROMPT_VERSION: "hag-v2",
        HAGKeys.SEARCH_SPACE: model_space.to_json(),
        HAGKeys.BASE_MODEL: "the model's own",
    }
    adapter_meta = {HAGKeys.SEARCH_SPACE: adapter_space.to_json(), HAGKeys.BASE_MODEL: "x"}
    profile = HAGProfile.from_metadata(model_meta, adapter_meta)
    assert (profile.search_space, profile.base_model) == (adapter_space, "x")  # the adapter's values win
    assert profile.prompt_version == "hag-v2" and profile.tuned  # a key the adapter leaves out stays the model's
    # It is the order that decides: the later source overrides the earlier one.
    reversed_order = HAGProfile.from_metadata(adapter_meta, model_meta)
    assert (reversed_order.search_space, reversed_order.base_model) == (model_space, "the model's own")
    untuned = HAGProfile.from_metadata({"general.name": "x"})
    assert not untuned.tuned and untuned.prompt_version == DEFAULT_PROMPT_VERSION


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({HAGKeys.SEARCH_SPACE: "{not json"}, "not a valid search space"),
        ({HAGKeys.PROMPT_VERSION: "hag-v99"}, "Upgrade hag-chain"),
    ],
)
def test_profile_rejects_unusable_metadata(meta, match):
    with pytest.raises(ModelLoadError, match=match):
        HAGProfile.from_metadata(meta)
