"""`hag-train recipe` end to end on a tiny slice: search, tuning and evaluation on the real default model."""

import pytest
from hag_training.evaluate import EvalConfig
from hag_training.recipe import Recipe, run_recipe
from hag_training.search import SearchConfig
from hag_training.sft_config import SFTConfig

from hag_chain import ChatHAG, default_model_path

from ..conftest import TINY_SPACE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("single_threaded_torch")]

TINY = Recipe(
    name="tiny",
    search=SearchConfig(tasks=("coinflip",), n_probe=2, n_train=2, k=1, survivors=2, space=TINY_SPACE),
    sft=SFTConfig(epochs=1, batch_size=2),
    eval=EvalConfig(tasks=("coinflip",), n_test=2, n_dev=2, static_candidates=1, k=1, bootstrap=100),
)


def test_recipe_runs_end_to_end_on_a_given_base_model(tmp_path):
    out = run_recipe(
        TINY,
        tmp_path / "run",
        cache_path=tmp_path / "cache.sqlite",
        model=default_model_path(),
        tuning={"epochs": 2.0},  # the CLI passes a float; the card writes 2
        progress=False,
    )
    assert set(out["times"]) == {"search_s", "sft_s", "eval_s"} and out["installed"] is None
    assert "| **HAG** |" in out["eval"]["table"].read_text()
    assert " --epochs 2`" in out["card"].read_text()  # the command that reproduces it
    assert "## Evaluation" in out["card"].read_text() and 'ChatHAG(model_path="<base>.gguf"' in out["card"].read_text()
    chat = ChatHAG(model_path=default_model_path(), adapter_path=str(out["adapter"]))
    assert chat.hag_profile().search_space == TINY_SPACE
    assert chat.choose_config("Flip a coin.").planner.output_tokens == 1  # tuned on one-token codes (hag-v3)


def test_recipe_installs_only_for_a_supported_model(tmp_path):
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")  # only its path matters: the check comes first
    with pytest.raises(ValueError, match=r"--install ships an adapter for a supported model that names its adapter"):
        run_recipe(TINY, tmp_path, cache_path=tmp_path / "c.sqlite", model=other, install=True)
    with pytest.raises(ValueError, match="an adapter for gemma3-270m, which ships none, stays in the recipe's output"):
        run_recipe(TINY, tmp_path, cache_path=tmp_path / "c.sqlite", model="gemma3-270m", install=True)
    with pytest.raises(FileNotFoundError, match="does not exist; pass a GGUF file or a supported model's name"):
        run_recipe(TINY, tmp_path, cache_path=tmp_path / "c.sqlite", model=tmp_path / "missing.gguf")
