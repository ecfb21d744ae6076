"""Real user prompts (AlpacaEval, Arena-Hard, MT-bench) and `hag-train choices`, with the real SmolLM2 planner."""

import json
from collections import Counter

import pytest
from hag_training.cli import main
from hag_training.real_prompts import SOURCES, RealPrompt, load_prompts, plan_prompts, spread, summarize

from hag_chain import ChatHAG

EXPECTED = {
    "alpaca_eval": (
        805,
        {"helpful_base": 129, "koala": 156, "oasst": 188, "selfinstruct": 252, "vicuna": 80},
    ),
    "arena_hard": (750, {"coding": 253, "math": 247, "creative_writing": 250}),
    "mt_bench": (
        80,
        {c: 10 for c in ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")},
    ),
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_loaders_read_every_prompt_of_the_pinned_packages(source):
    prompts = load_prompts(source)
    total, categories = EXPECTED[source]
    assert len(prompts) == total
    assert Counter(p.category for p in prompts) == categories
    assert all(p.source == source and p.text.strip() for p in prompts)
    assert len({p.id for p in prompts}) == total


def test_mt_bench_plans_the_first_turn_and_arena_hard_keeps_prompts_whole():
    mt = load_prompts("mt_bench")
    assert mt[0].id == "81" and mt[0].text.startswith("Compose an engaging travel blog post about a recent trip")
    # Arena-Hard's records hold U+2028 and kin inside prompts: lines are split at newlines only.
    assert max(len(p.text) for p in load_prompts("arena_hard")) > 20_000


def test_unknown_source_is_named():
    with pytest.raises(ValueError, match="alpaca_eval, arena_hard, mt_bench"):
        load_prompts("mmlu")


def test_limit_spreads_over_categories():
    mt = load_prompts("mt_bench")
    assert [p.category for p in spread(mt, 3)] == ["writing", "roleplay", "reasoning"]
    assert len({p.category for p in spread(mt, 8)}) == 8
    assert spread(mt, None) == mt and spread(mt, 500) == mt


def test_a_prompt_too_long_for_the_context_is_skipped_not_a_crash():
    prompts = [
        RealPrompt("test", "long", "0", "Summarise this. " + "The cat sat on the mat. " * 1200),
        RealPrompt("test", "short", "1", "What is 12 * 7?"),
    ]
    ticks: list[int] = []
    long, short = plan_prompts(prompts, ChatHAG(), progress=ticks.append)
    assert ticks == [1, 1]
    assert long.config is None and long.line is None and "context holds 4096" in (long.skipped or "")
    assert short.skipped is None and short.config is not None and set(short.config) >= {"temperature"}
    rows = summarize([long, short])["test"]
    assert rows["long"] == {"prompts": 1, "planned": 0, "skipped": 1}
    assert rows["all"]["skipped"] == 1 and rows["all"]["planned"] == 1


def test_choices_writes_one_configuration_per_planned_prompt(tmp_path, capsys):
    out = tmp_path / "choices"
    assert main(["choices", "--out", str(out), "--limit", "3", "--no-progress"]) == 0
    data = json.loads((out / "choices.json").read_text())
    assert data["sources"] == list(SOURCES) and data["prompt_version"] and data["adapter"]
    assert data["prompts"] == 9 and len(data["choices"]) == 9
    space = data["search_space"]
    for c in data["choices"]:
        assert "text" not in c  # the data is read, never copied out
        if c["skipped"] is None:
            assert set(c["config"]) == set(space)
            assert all(c["config"][k] in space[k] for k in space) and c["line"]
    planned = [c for c in data["choices"] if c["skipped"] is None]
    assert data["planned"] == len(planned) > 0
    # The first three prompts of each benchmark come from three different categories.
    for source in SOURCES:
        rows = data["summary"][source]
        assert rows["all"]["prompts"] == 3 and len(rows) == 4
        for row in rows.values():
            if row["planned"]:
                assert sum(row["temperature"].values()) == pytest.approx(1.0, abs=1e-3)
    table = (out / "choices.md").read_text()
    assert "## arena_hard" in table and "| creative_writing | 1 |" in table
    assert (out / "configs.png").stat().st_size > 0
    assert "configs.png" in capsys.readouterr().out


def test_choices_help_names_the_sources_and_options(capsys):
    with pytest.raises(SystemExit):
        main(["choices", "--help"])
    text = capsys.readouterr().out
    for word in ("--limit", "--sources", "--adapter", "--model", "--n-ctx", "alpaca_eval", "skipped"):
        assert word in text
