"""The loader: the state dir in, validated model specs (and one-line errors) out.

``files`` finds and reads spec files it may trust, ``parse`` turns bytes into
documents with positions, ``schema`` (compiled by ``fastschema``) says what a valid
document is, ``validate`` checks one document and hands it to its kind's
normalisation (:mod:`reconciler.resources`), ``crosscheck`` finds specs that claim
the same MAC, VF, PF or SF, and ``state`` puts it together (``load_state``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoadCache", "load_state"]


def __getattr__(name: str) -> Any:
    # imported on first use, so ``python -m reconciler.loading.schema`` (and ``virtnet
    # schema``) need not load the whole loader first
    if name in __all__:
        from reconciler.loading import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
