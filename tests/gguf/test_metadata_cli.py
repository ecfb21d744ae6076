"""hag.* metadata through the hag-gguf CLI, `inspect`, and hag-chain's own readers; CLI behaviour and errors."""

from __future__ import annotations

import json
import warnings

import pytest
from hag_gguf import GGUFExportError, convert_model
from hag_gguf.cli import main

from hag_chain import HAGKeys, HAGProfile, read_gguf_metadata
from hag_chain.space import SearchSpace

from ..tiny_models import make_lora, write_json

SPACE = SearchSpace(values={"temperature": (0.0, 0.7), "top_k": (10, 40)})
PROVENANCE = {"data": "hag-train-v3", "seed": 7, "versions": {"peft": "0.21"}}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def meta_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("meta") / "hag.json"
    return write_json(path, {"hag.search_space": json.loads(SPACE.to_json()), "hag.provenance": PROVENANCE})


def test_metadata_round_trip_through_cli_inspect_and_runtime(capsys, tiny_model_dir, meta_file, tmp_path):
    model = tmp_path / "model.gguf"
    code, out, _ = run_cli(
        capsys,
        "convert",
        tiny_model_dir,
        "-o",
        model,
        "--outtype",
        "q8_0",
        "--hag-metadata",
        meta_file,
        "--meta",
        "hag.prompt_version=hag-v1",
    )
    assert code == 0 and "wrote" in out
    lora_dir, _ = make_lora(tiny_model_dir, tmp_path / "lora", target_modules=["q_proj"])
    adapter = tmp_path / "adapter.gguf"
    assert run_cli(capsys, "adapter", lora_dir, "--base", tiny_model_dir, "-o", adapter)[0] == 0

    code, out, _ = run_cli(capsys, "inspect", model, "--json")
    info = json.loads(out)
    assert code == 0
    assert info["hag"] == {
        HAGKeys.PROMPT_VERSION: "hag-v1",
        HAGKeys.SEARCH_SPACE: SPACE.to_json(),
        HAGKeys.PROVENANCE: json.dumps(PROVENANCE, separators=(",", ":"), sort_keys=True),
    }
    assert info["tensor_count"] == len(info["tensors"]) == 20
    assert info["tensor_types"]["Q8_0"] > 0

    profile = HAGProfile.from_metadata(read_gguf_metadata(str(model)), read_gguf_metadata(str(adapter)))
    assert profile.search_space == SPACE
    assert profile.prompt_version == "hag-v1"
    assert profile.base_model == "tiny-llama"
    assert profile.tuned

    # The runtime itself: model metadata via Llama.metadata, adapter metadata via llama_adapter_meta_*.
    from hag_chain import ModelKey, load_model

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a base-model mismatch would warn
        loaded = load_model(ModelKey(str(model), str(adapter), n_ctx=128, n_threads=1))
    assert loaded.metadata[HAGKeys.SEARCH_SPACE] == SPACE.to_json()
    assert loaded.adapter_metadata[HAGKeys.BASE_MODEL] == loaded.metadata["general.name"] == "tiny-llama"
    assert HAGProfile.from_metadata(loaded.metadata, loaded.adapter_metadata).search_space == SPACE


def test_inspect_text(capsys, tiny_model_dir, tmp_path):
    path = convert_model(
        tiny_model_dir, tmp_path / "m.gguf", "f16", hag_metadata={HAGKeys.PROMPT_VERSION: "hag-v1"}
    ).path
    code, out, _ = run_cli(capsys, "inspect", path, "--tensors")
    assert code == 0
    assert "architecture: llama" in out
    assert "hag.prompt_version: hag-v1" in out
    assert "blk.1.ffn_down.weight" in out
    code, out, _ = run_cli(capsys, "inspect", convert_model(tiny_model_dir, tmp_path / "n.gguf").path)
    assert "hag metadata: none" in out


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"hag.colour": "blue"}, "Unknown hag metadata key 'hag.colour'"),
        ({HAGKeys.PROMPT_VERSION: "hag-v999"}, "hag-v999"),
        ({HAGKeys.SEARCH_SPACE: '{"values": {"temperature": "hot"}}'}, "not a valid search space"),
        ({HAGKeys.PROVENANCE: "not json"}, "must be a JSON object"),
        ({HAGKeys.BASE_MODEL: ""}, "non-empty string"),
    ],
)
def test_bad_metadata_is_refused_before_writing(meta, match, tiny_model_dir, tmp_path):
    with pytest.raises(GGUFExportError, match=match):
        convert_model(tiny_model_dir, tmp_path / "m.gguf", hag_metadata=meta)
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_errors_with_exit_status_1(capsys, tiny_model_dir, tmp_path):
    code, _, err = run_cli(capsys, "convert", tiny_model_dir, "-o", tmp_path / "m.gguf", "--meta", "hag.prompt_version")
    assert code == 1
    assert "KEY=VALUE" in err
    code, _, err = run_cli(capsys, "convert", tmp_path, "-o", tmp_path / "m.gguf")
    assert code == 1 and "no config.json" in err
    code, _, err = run_cli(capsys, "inspect", tiny_model_dir / "config.json")
    assert code == 1 and "as GGUF" in err


@pytest.mark.unit
def test_cli_usage_errors_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["convert", "x", "-o", "y.gguf", "--outtype", "q5_k"])
    assert exc.value.code == 2
    assert "invalid choice: 'q5_k'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["adapter", "--help"])
    assert exc.value.code == 0
    assert "--base-name" in capsys.readouterr().out
