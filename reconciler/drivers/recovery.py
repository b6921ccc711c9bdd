"""Reads and removes the controller's recovery records (one JSON file per VUID, reference 6)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import BackendError
from reconciler.model import RecoveryRecord

__all__ = ["read_records", "remove_record"]

_MAX_BYTES = 1 << 20  # a record is ~200 bytes; anything huge is not one


def read_records(
    directory: str | os.PathLike,
) -> tuple[tuple[RecoveryRecord, ...], tuple[str, ...]]:
    """Every readable record, and one line per file that is not one (never raises for a file).

    A missing directory means no records (recovery disabled or nothing created yet).
    Hidden files are the controller's or our own temporaries and are skipped.
    """
    root = Path(directory)
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return (), ()
    except OSError as e:
        return (), (f"{root}: cannot list recovery records: {e.strerror or e}",)
    records: list[RecoveryRecord] = []
    problems: list[str] = []
    for path in entries:
        try:
            records.append(_read_one(path))
        except ValueError as e:
            problems.append(f"{path}: {e}")
    return tuple(records), tuple(problems)


def _read_one(path: Path) -> RecoveryRecord:
    try:
        if not path.is_file():
            raise ValueError("not a regular file")
        with path.open("rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except OSError as e:
        raise ValueError(f"unreadable: {e.strerror or e}") from e
    if len(data) > _MAX_BYTES:
        raise ValueError("too large to be a recovery record")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"not JSON: {str(e).splitlines()[0][:100]}") from e
    if not isinstance(raw, Mapping):
        raise ValueError("not a JSON object")
    return _record(path, raw)


def _record(path: Path, raw: Mapping[str, Any]) -> RecoveryRecord:
    def num(key: str) -> int | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{key} is not a number")
        try:
            if isinstance(value, str):
                text = value.strip().lower()
                return int(text, 16) if text.startswith("0x") else int(text, 10)
            return value
        except ValueError:
            raise ValueError(f"{key} {value!r} is not a number") from None

    def text(key: str) -> str | None:
        value = raw.get(key)
        return None if value is None else str(value)

    mac = text("mac")
    return RecoveryRecord(
        vuid=path.name,
        port_ib_dev=text("port_ib_dev"),
        pf_id=num("pf_id"),
        function_type=text("function_type"),
        vf_id=num("vf_id"),
        bdf_raw=num("bdf_raw"),
        device_type=text("device_type"),
        mac=mac.lower() if mac else None,
        pf_num=num("pf_num"),
        sf_num=num("sf_num"),
        mq=num("mq"),
        path=str(path),
    )


def remove_record(directory: str | os.PathLike, vuid: str) -> bool:
    """Delete the record of ``vuid``; False when it was already gone.

    Only ever called for a device observed gone (an orphaned record), so a later
    controller restart cannot resurrect a device the operator removed.
    """
    if not vuid or "/" in vuid or vuid in (".", ".."):
        raise BackendError(f"refusing to remove recovery record {vuid!r}: not a VUID")
    path = Path(directory) / vuid
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as e:
        raise BackendError(f"cannot remove recovery record {path}: {e.strerror or e}") from e
    return True
