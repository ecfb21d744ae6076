"""`--model` of every `hag-train` command: a supported model's name, its file, another GGUF file, or a clear error."""

import json

import pytest
from hag_training.base_model import resolve_base
from hag_training.cli import main

from hag_chain import DEFAULT_MODEL, MODELS, default_adapter_path, default_model_path


def test_names_and_the_default_resolve_to_the_supported_model():
    assert resolve_base(None) == (MODELS[DEFAULT_MODEL], None)  # the engines' own default
    assert resolve_base(DEFAULT_MODEL) == (MODELS[DEFAULT_MODEL], None)


def test_a_supported_models_file_is_recognised_and_another_file_is_not(tmp_path):
    assert resolve_base(default_model_path()) == (MODELS[DEFAULT_MODEL], default_model_path())
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    assert resolve_base(other) == (None, str(other))


def test_a_missing_file_names_the_supported_models(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=f"supported model's name \\(.*{DEFAULT_MODEL}"):
        resolve_base(tmp_path / "missing.gguf")
    assert main(["eval", "--out", str(tmp_path), "--model", str(tmp_path / "missing.gguf")]) == 2
    assert "does not exist; pass a GGUF file or a supported model's name" in capsys.readouterr().err
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")  # no supported model's file, so no adapter ships for it: refused before loading
    assert main(["eval", "--out", str(tmp_path), "--model", str(other)]) == 2
    assert f"ships none for {other}; pass --adapter PATH" in capsys.readouterr().err


def test_choices_plans_with_the_adapter_shipped_for_the_model_given_as_a_file(tmp_path):
    out = tmp_path / "choices"
    argv = ["choices", "--out", str(out), "--model", default_model_path(), "--limit", "1", "--sources", "mt_bench"]
    assert main([*argv, "--no-progress"]) == 0
    data = json.loads((out / "choices.json").read_text())
    assert default_adapter_path() is not None  # the check below would pass vacuously without a shipped adapter
    assert data["adapter"] == default_adapter_path() and data["planned"] == 1
