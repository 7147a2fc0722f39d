"""What produced an artefact: the versions recorded in feature-set and run sidecars."""

from __future__ import annotations

from collections.abc import Iterable


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed version of each distribution in ``names`` (``'missing'`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out
