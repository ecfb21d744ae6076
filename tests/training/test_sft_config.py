"""`hag-train sft` settings are checked by name before any model is loaded or anything is written."""

import json
import re
import subprocess
import sys

import pytest
from hag_training.sft import train_adapter
from hag_training.sft_config import SFTConfig

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("setting", "value", "accepted"),
    [
        ("outtype", "f61", "one of f32, f16, bf16, q8_0"),  # a typo of f16
        ("outtype", "q4_0", "one of f32, f16, bf16, q8_0"),  # a full-model type, not an adapter one
        ("rank", 0, "an integer >= 1"),
        ("rank", 8.0, "an integer >= 1"),
        ("alpha", -1, "a number > 0"),
        ("dropout", 1.0, r"a number in \[0, 1\)"),
        ("target_modules", (), "a non-empty tuple of module names"),
        ("top_layers", 0, r"None \(all\) or an integer >= 1"),
        ("epochs", 0, "a number > 0"),
        ("learning_rate", -1e-3, "a number > 0"),
        ("batch_size", 0, "an integer >= 1"),
        ("max_length", 0, "an integer >= 1"),
        ("seed", -1, "an integer >= 0"),
        ("answers", "yes", "True or False"),
        ("ties", "maybe", "'keep' or 'drop'"),
    ],
)
def test_invalid_setting_is_named_with_what_it_accepts(setting, value, accepted):
    message = rf"^SFT setting `{setting}` must be {accepted}; got {re.escape(repr(value))}\.$"
    with pytest.raises(ValueError, match=message):
        SFTConfig(**{setting: value})


def test_defaults_and_edge_values_are_valid():
    SFTConfig()
    SFTConfig(top_layers=None, dropout=0.0, seed=0, outtype="q8_0", target_modules=["q_proj"])


@pytest.fixture
def labels(tmp_path):
    record = {"task": "coinflip", "messages": [{"role": "user", "content": "?"}], "label_line": "{}", "scores": {}}
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(record) + "\n")
    return path


def test_train_adapter_checks_the_settings_before_loading_a_model(labels, tmp_path, monkeypatch):
    import hag_training.sft

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(hag_training.sft, "prepare_base", no_model)
    config = SFTConfig()
    config.outtype = "f61"  # changed after construction, so only train_adapter's own check can catch it
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="SFT setting `outtype` must be one of f32, f16, bf16, q8_0; got 'f61'"):
        train_adapter(labels, out, config, base=tmp_path)
    assert not out.exists()


def test_cli_refuses_a_bad_outtype_without_importing_torch(labels, tmp_path):
    out = tmp_path / "out"
    code = (
        "import sys\nfrom hag_training.cli import main\n"
        f"rc = main(['sft', '--data', {str(labels)!r}, '--out', {str(out)!r}, '--outtype', 'f61'])\n"
        "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2", "False", "False"], proc.stderr
    assert "hag-train sft: error: SFT setting `outtype` must be one of f32, f16, bf16, q8_0; got 'f61'." in proc.stderr
    assert not out.exists()
