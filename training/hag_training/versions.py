"""The package versions every output records in its provenance."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_versions"]


def package_versions(*packages: str) -> dict[str, str]:
    """Python's version, then each of ``packages`` that is installed, by distribution name."""
    out = {"python": platform.python_version()}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out
