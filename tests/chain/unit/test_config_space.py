import itertools
import json

import pytest

from hag_chain import DEFAULT_SEARCH_SPACE, DecodingConfig, InvalidConfigError, SearchSpace

pytestmark = pytest.mark.unit


def test_config_line_round_trip_and_llama_names():
    cfg = DecodingConfig(temperature=0.3, top_k=10, repetition_penalty=1.1, min_p=0.1)
    line = cfg.to_line()
    assert line == '{"temperature":0.3,"top_p":0.95,"top_k":10,"repetition_penalty":1.1,"min_p":0.1}'
    assert DecodingConfig.from_line(line) == cfg
    kwargs = cfg.to_llama_kwargs()
    assert kwargs["repeat_penalty"] == 1.1 and "repetition_penalty" not in kwargs
    assert kwargs["min_p"] == 0.1 and kwargs["top_k"] == 10


def test_config_accepts_llama_alias():
    assert DecodingConfig.from_values({"repeat_penalty": 1.2}).repetition_penalty == 1.2


@pytest.mark.parametrize(
    ("values", "field", "match"),
    [
        ({"temperature": -1}, "temperature", "temperature"),
        ({"top_p": 1.5}, "top_p", "top_p"),
        ({"tempurature": 0.5}, "tempurature", "Unknown decoding knob"),
    ],
)
def test_config_errors_name_the_field(values, field, match):
    with pytest.raises(InvalidConfigError, match=match) as info:
        DecodingConfig.from_values(values)
    assert info.value.field == field


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"temperature": 0.5'])
def test_malformed_lines_are_rejected(line):
    with pytest.raises(InvalidConfigError, match="JSON object"):
        DecodingConfig.from_line(line)


def test_space_format_parse_round_trip_over_whole_grid():
    space = SearchSpace(values={"temperature": (0.0, 0.7), "top_p": (0.9, 1.0), "top_k": (10, 40)})
    configs = list(space)
    assert len(configs) == space.size == 8
    for cfg in configs:
        assert space.parse(space.format(cfg)) == cfg


def test_space_parse_error_names_field_and_allowed_values():
    space = DEFAULT_SEARCH_SPACE
    with pytest.raises(InvalidConfigError, match=r"`temperature`=0.4 .*allowed values: 0.0, 0.3, 0.7, 1.0") as info:
        space.parse('{"temperature":0.4,"top_p":0.9,"top_k":40,"repetition_penalty":1.0}')
    assert info.value.field == "temperature"
    with pytest.raises(InvalidConfigError, match="misses `top_k`"):
        space.parse('{"temperature":0.3,"top_p":0.9,"repetition_penalty":1.0}')
    with pytest.raises(InvalidConfigError, match="not part of this search space"):
        space.parse('{"temperature":0.3,"top_p":0.9,"top_k":40,"repetition_penalty":1.0,"min_p":0.1}')


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({}, "at least one knob"),
        ({"temp_x": (1.0,)}, "unknown knob"),
        ({"top_k": (10.5,)}, "takes int values"),
        ({"temperature": (0.5, 0.5)}, "twice"),
        ({"top_p": (2.0,)}, "top_p"),
    ],
)
def test_space_rejects_bad_grids(values, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace(values=values)


def test_space_json_round_trip():
    assert SearchSpace.from_json(DEFAULT_SEARCH_SPACE.to_json()) == DEFAULT_SEARCH_SPACE


def test_line_is_written_knob_by_knob_and_ends_as_format_does():
    space = SearchSpace(values={"temperature": (0.0, 1.1), "top_k": (10, 40)})
    assert space.line({"temperature": 1.1}) == '{"temperature":1.1,'
    assert space.line({"temperature": 0.0, "top_k": 40}) == '{"temperature":0.0,"top_k":40}'
    with pytest.raises(ValueError, match="first knobs in order"):
        space.line({"top_k": 40})
    # every grid line is the compact JSON line of its config, and the space parses it back
    for combo in itertools.islice(DEFAULT_SEARCH_SPACE, 0, None, 7):
        line = DEFAULT_SEARCH_SPACE.format(combo)
        assert line == combo.to_line(DEFAULT_SEARCH_SPACE.knobs)
        # the line holds exactly the space's knobs, in the space's order, with the config's values
        assert list(json.loads(line).items()) == [(k, getattr(combo, k)) for k in DEFAULT_SEARCH_SPACE.knobs]
        assert DEFAULT_SEARCH_SPACE.parse(line) == combo


def test_codes_name_the_grid_in_order_and_round_trip():
    codes = DEFAULT_SEARCH_SPACE.codes()
    assert len(codes) == DEFAULT_SEARCH_SPACE.size == len(set(codes)) and codes[:3] == ["A", "B", "C"]
    for code, config in zip(codes, DEFAULT_SEARCH_SPACE):
        values = DEFAULT_SEARCH_SPACE.from_code(code)
        assert values == {k: getattr(config, k) for k in DEFAULT_SEARCH_SPACE.knobs}
        assert DEFAULT_SEARCH_SPACE.code(values) == code


def test_code_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="`top_k` must be one of 10, 50"):
        DEFAULT_SEARCH_SPACE.code({"temperature": 0.0, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.0})
    with pytest.raises(ValueError, match="not a configuration code"):
        DEFAULT_SEARCH_SPACE.from_code("z")
    big = SearchSpace(values={"top_k": tuple(range(1, 64))})
    with pytest.raises(ValueError, match="63 configurations but one-token codes name at most 62.*hag-v2"):
        big.codes()


def test_planner_reply_follows_the_prompt_versions_format():
    from hag_chain.protocol import planner_reply

    values = DEFAULT_SEARCH_SPACE.from_code("B")
    assert planner_reply(DEFAULT_SEARCH_SPACE, values, "hag-v3") == "B"
    assert planner_reply(DEFAULT_SEARCH_SPACE, values, "hag-v2") == DEFAULT_SEARCH_SPACE.line(values)
