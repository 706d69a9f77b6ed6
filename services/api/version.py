"""The installed package's name and version, as the package metadata records them."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "benefit-ledger"


def package_version() -> str:
    """The installed version ("unknown" for a source tree that was never `pip install`ed)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
