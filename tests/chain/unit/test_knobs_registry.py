"""The knob table is the one place a knob lives; the registry shape shared by targets, tasks and architectures."""

import re
import uuid

import pytest
from mypy import api as mypy_api

from hag_chain import KNOBS, TARGETS, ChatHAG, DecodingConfig, InvalidConfigError, Registry, split_knob_kwargs
from hag_chain.chat.precedence import resolve_config
from hag_chain.registry import DuplicateEntryError, UnknownEntryError

pytestmark = pytest.mark.unit


def test_every_knob_row_is_a_config_field_with_its_default_and_bounds():
    assert list(DecodingConfig.model_fields) == list(KNOBS)
    config = DecodingConfig()
    for name, knob in KNOBS.items():
        assert getattr(config, name) == knob.default and isinstance(getattr(config, name), knob.kind)
        assert DecodingConfig.model_fields[name].description == knob.description
        for op, limit in knob.bounds.items():  # the first value beyond each bound is refused
            beyond = {"ge": limit - 1, "gt": limit, "le": limit + 1, "lt": limit}[op]
            with pytest.raises(InvalidConfigError, match=f"`{name}`"):
                DecodingConfig.from_values({name: knob.kind(beyond)})


def test_the_type_checker_sees_every_knob(tmp_path):
    # A module name of its own: mypy's cache keeps a module's errors with the path it had, so a name seen before at
    # another path would report the old path. The project's cache still serves hag_chain (`make test` warms it).
    code = tmp_path / f"knob_typo_{uuid.uuid4().hex}.py"
    code.write_text(
        "from hag_chain import DecodingConfig\n"
        "config = DecodingConfig(temperature=0.3, top_k=10)\n"
        "reveal_type(config.repetition_penalty)\n"
        "config.temprature\n"
        "DecodingConfig(top_kk=3)\n"
    )
    report, _, status = mypy_api.run([str(code)])
    assert status == 1, report
    assert re.search(rf'{re.escape(str(code))}:3: note: Revealed type is "(builtins\.)?float"', report), report
    assert f'{code}:4: error: "DecodingConfig" has no attribute "temprature"' in report
    assert f'{code}:5: error: Unexpected keyword argument "top_kk" for "DecodingConfig"' in report
    assert "Found 2 errors in 1 file" in report


def test_every_knob_row_is_a_chat_hag_pin():
    for name, knob in KNOBS.items():
        field = ChatHAG.model_fields[name]
        assert field.default is None and knob.description in field.description
    pinned = ChatHAG(temperature=0.2, min_p=0.1)
    assert pinned.pins == {"temperature": 0.2, "min_p": 0.1}
    assert ChatHAG(repeat_penalty=1.1).pins == {"repetition_penalty": 1.1}  # llama.cpp's name is an alias


def test_targets_take_the_names_in_the_knob_table():
    assert dict(TARGETS["langchain_community.chat_models.llamacpp.ChatLlamaCpp"].names) == {
        k: knob.llama_name for k, knob in KNOBS.items()
    }
    openai = TARGETS["langchain_openai.chat_models.base.BaseChatOpenAI"].names
    assert set(openai) == {k for k, knob in KNOBS.items() if knob.openai_name}


def test_grammar_defaults_come_from_the_knob_table():
    resolved = resolve_config(
        call={}, init={}, model={"temperature": 0.3}, defaults=DecodingConfig(), bounds={}, grammar=True
    )
    for name, knob in KNOBS.items():
        if knob.grammar_default is not None:
            assert (getattr(resolved.config, name), resolved.sources[name]) == (knob.grammar_default, "grammar")
        elif name != "temperature":
            assert (getattr(resolved.config, name), resolved.sources[name]) == (knob.default, "default")
    assert resolved.config.temperature == 0.3 and resolved.sources["temperature"] == "model"


def test_split_knob_kwargs_normalises_names_and_drops_unset_knobs():
    knobs, rest = split_knob_kwargs({"temp": 0.1, "top_k": None, "seed": 3, "repeat_penalty": 1.2})
    assert knobs == {"temperature": 0.1, "repetition_penalty": 1.2}
    assert rest == {"seed": 3}


def test_non_default_is_the_canonical_content_of_a_config():
    assert DecodingConfig().non_default() == {}
    assert DecodingConfig(temperature=0.8, top_k=10).non_default() == {"top_k": 10}  # 0.8 is the default


def test_registry_rejects_duplicates_and_explains_unknown_names():
    registry: Registry[int] = Registry("widget", "Register one with `register_widget`.")
    registry.register("a", 1)
    with pytest.raises(DuplicateEntryError, match="widget named 'a' is already registered"):
        registry.register("a", 2)
    assert registry.lookup("a") == 1 and dict(registry) == {"a": 1}
    with pytest.raises(UnknownEntryError, match=r"Unknown widget 'b'\. Known: a\. Register one"):
        registry.lookup("b")
    with pytest.raises(TypeError):
        registry["b"] = 3  # read-only: `register` is the one way in
    assert registry.unregister("a") == 1 and "a" not in registry
