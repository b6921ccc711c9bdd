"""Ownership records: which devices we created or adopted (the only basis for pruning)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.fsutil import atomic_write_json
from reconciler.model import DeviceType, OwnershipRecord

__all__ = ["load_inventory", "save_inventory"]

_VERSION = 1


def load_inventory(path: Path) -> dict[str, OwnershipRecord]:
    """Read the inventory; a missing file is an empty inventory.

    A corrupt file is an error, never an empty inventory: forgetting what we own
    would turn owned devices into unmanaged ones silently.
    """
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ReconcilerError(f"{path}: inventory unreadable ({exc}); fix or restore it") from exc
    try:
        return _records(raw)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ReconcilerError(
            f"{path}: inventory damaged ({type(exc).__name__}: {exc}); fix or restore it"
        ) from exc


def _records(raw) -> dict[str, OwnershipRecord]:
    records = {}
    for name, entry in raw.get("owned", {}).items():
        records[name] = OwnershipRecord(
            name=name,
            vuid=entry["vuid"],
            mac=entry["mac"],
            type=DeviceType(entry["type"]),
            pf_id=entry.get("pf_id"),
            vf_id=entry.get("vf_id"),
            sf_num=entry.get("sf_num"),
            adopted=bool(entry.get("adopted", False)),
        )
    return records


def save_inventory(path: Path, records: Mapping[str, OwnershipRecord]) -> None:
    """Write the inventory atomically (temp + fsync + rename), readable by its owner only."""
    owned = {
        name: {
            "vuid": r.vuid,
            "mac": r.mac,
            "type": r.type.value,
            "pf_id": r.pf_id,
            "vf_id": r.vf_id,
            "sf_num": r.sf_num,
            "adopted": r.adopted,
        }
        for name, r in sorted(records.items())
    }
    atomic_write_json(path, {"version": _VERSION, "owned": owned}, mode=0o600)
