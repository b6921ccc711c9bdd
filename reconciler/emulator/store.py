"""Persistence of the emulated DPU: state, recovery records, virtnet.conf, the calls ledger."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from reconciler.fsutil import atomic_write_bytes, atomic_write_json

__all__ = ["CorruptState", "FileStore", "MemoryStore", "Store"]


class CorruptState(Exception):
    """``state.json`` exists but cannot be used: the emulator refuses rather than guess."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class Store:
    """What the controller needs from its disk; :class:`MemoryStore` keeps it in a dict."""

    def lock(self) -> contextlib.AbstractContextManager: ...
    def load(self) -> dict | None: ...
    def save(self, data: dict, mlxconfig: dict) -> None: ...
    def read_conf(self) -> object | None: ...
    def records(self) -> dict[str, dict]: ...
    def write_record(self, vuid: str, record: dict) -> None: ...
    def write_records(self, records: dict[str, dict]) -> None: ...
    def delete_record(self, vuid: str) -> None: ...
    def clear_records(self) -> None: ...
    def log_call(self, entry: dict) -> None: ...
    def calls(self) -> list[dict]: ...
    def clear_calls(self) -> None: ...


class MemoryStore(Store):
    """No files at all: for in-process tests and benchmarks (``Emulator(None)``)."""

    def __init__(self) -> None:
        self.state: dict | None = None
        self.conf: object | None = None
        self.recovery: dict[str, dict] = {}
        self.ledger: list[dict] = []

    def lock(self):
        return contextlib.nullcontext()

    def load(self):
        return self.state

    def save(self, data, mlxconfig):
        self.state = data

    def read_conf(self):
        return self.conf

    def records(self):
        return dict(self.recovery)

    def write_record(self, vuid, record):
        self.recovery[vuid] = dict(record)

    def write_records(self, records):
        self.recovery.update(records)

    def delete_record(self, vuid):
        self.recovery.pop(vuid, None)

    def clear_records(self):
        self.recovery.clear()

    def log_call(self, entry):
        self.ledger.append(entry)

    def calls(self):
        return list(self.ledger)

    def clear_calls(self):
        self.ledger.clear()


class FileStore(Store):
    """Files under one root, as docs/vendor-cli.md lists them; ``lock`` serialises processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.recovery_dir = self.root / "recovery"
        self.state_path = self.root / "state.json"
        self.conf_path = self.root / "virtnet.conf"
        self.calls_path = self.root / "calls.jsonl"
        self.mlxconfig_path = self.root / "mlxconfig.json"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive fcntl lock around one whole CLI call: no lost update between processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def load(self):
        """The saved state, ``None`` when absent; unreadable or non-object JSON is CorruptState."""
        try:
            data = json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CorruptState(self.state_path, str(exc)) from exc
        if not isinstance(data, dict):
            raise CorruptState(self.state_path, f"top level is {type(data).__name__}, not object")
        return data

    def save(self, data, mlxconfig):
        text = json.dumps(data, separators=(",", ":"))
        atomic_write_bytes(self.state_path, text.encode())
        atomic_write_json(self.mlxconfig_path, mlxconfig)

    def read_conf(self):
        """The parsed file, ``None`` when absent; invalid JSON raises ValueError."""
        try:
            return json.loads(self.conf_path.read_bytes())
        except FileNotFoundError:
            return None

    def records(self):
        """Every parseable record; as on the DPU, a file that is not a JSON object is skipped."""
        out = {}
        if not self.recovery_dir.is_dir():
            return out
        for entry in os.scandir(self.recovery_dir):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            with contextlib.suppress(ValueError, OSError):
                record = json.loads(Path(entry.path).read_bytes())
                if isinstance(record, dict):
                    out[entry.name] = record
        return out

    def write_record(self, vuid, record):
        atomic_write_json(self.recovery_dir / vuid, record, indent=None)

    def write_records(self, records):
        """Many records at once (controller start): rename-atomic each, one directory fsync."""
        if not records:
            return
        self.recovery_dir.mkdir(parents=True, exist_ok=True)
        for vuid, record in records.items():
            tmp = self.recovery_dir / f".{vuid}.tmp"
            tmp.write_text(json.dumps(record, sort_keys=True) + "\n")
            os.replace(tmp, self.recovery_dir / vuid)
        dfd = os.open(self.recovery_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def delete_record(self, vuid):
        with contextlib.suppress(FileNotFoundError):
            (self.recovery_dir / vuid).unlink()

    def clear_records(self):
        if self.recovery_dir.is_dir():
            for entry in os.scandir(self.recovery_dir):
                if entry.is_file():
                    os.unlink(entry.path)

    def log_call(self, entry):
        with open(self.calls_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def calls(self):
        try:
            lines = self.calls_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def clear_calls(self):
        with contextlib.suppress(FileNotFoundError):
            self.calls_path.unlink()
