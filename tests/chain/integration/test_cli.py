"""The hag-chain command, run as a user would."""

import json
import subprocess
import sys

import pytest

from hag_chain import DEFAULT_SEARCH_SPACE

pytestmark = pytest.mark.integration


def hag_chain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hag_chain.cli", *args], capture_output=True, text=True, timeout=300)


def test_run_prints_config_then_answer():
    out = hag_chain("run", "Write a haiku about snow.", "--max-tokens", "16", "--seed", "1")
    assert out.returncode == 0, out.stderr
    first, rest = out.stdout.split("\n", 1)
    assert first.startswith("[config] temperature=")
    assert rest.strip()


def test_config_json_is_on_the_grid():
    out = hag_chain("config", "What is 3 + 4?", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for knob in DEFAULT_SEARCH_SPACE.knobs:
        assert data["config"][knob] in DEFAULT_SEARCH_SPACE.values[knob]
        assert data["sources"][knob] == "model"


def test_run_json_with_pinned_temperature():
    out = hag_chain("run", "Say hi.", "--json", "--temperature", "0", "--max-tokens", "8", "--threads", "1")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["config"]["temperature"] == 0.0 and data["sources"]["temperature"] == "init"
    assert data["answer"] and data["usage"]["output_tokens"] <= 8


def test_missing_model_is_a_clean_error():
    out = hag_chain("run", "Hi", "--model", "/nonexistent.gguf")
    assert out.returncode == 2
    assert (
        "neither a supported model (smollm2-135m, qwen2.5-coder-0.5b" in out.stderr and "nor a GGUF file" in out.stderr
    )
    assert "Traceback" not in out.stderr


def test_help_explains_the_commands():
    out = hag_chain("--help")
    assert out.returncode == 0 and "run" in out.stdout and "config" in out.stdout and "offline" in out.stdout
