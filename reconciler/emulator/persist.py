"""What the emulated DPU keeps on disk under its root (docs/vendor-cli.md, "Files").

Per call only O(1) files are written (one recovery record, one ledger line, the small
``dpu.json`` when DPU state changed), so per-call cost does not grow with the device
count. The running controller's memory is written whole only when the service goes
idle (``hibernate.json``, read back by the next start), never per call.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FILES", "CorruptState", "MemoryPersist", "Persist"]

# file names under the root, defined once (the thin client has its own copy in wire.py)
FILES = {
    "dpu": "dpu.json",
    "hibernate": "hibernate.json",
    "recovery": "recovery",
    "conf": "virtnet.conf",
    "calls": "calls.jsonl",
    "log": "controller.log",
    "lock": "service.lock",
    "pid": "service.pid",
}
_LOG_MAX = 4 << 20  # bytes; the oldest half goes when the log grows past this


class CorruptState(Exception):
    """A state file exists but cannot be used: the emulator refuses rather than guess."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _dumps(data: object) -> bytes:
    return (json.dumps(data, sort_keys=True) + "\n").encode()


class Persist:
    """Files under one root. Writes are rename-atomic: readers see the old or the new file.

    Not fsynced: the emulator models a controller process dying, not power loss.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.recovery_dir = self.root / FILES["recovery"]
        self.dpu_path = self.root / FILES["dpu"]
        self.hibernate_path = self.root / FILES["hibernate"]
        self.conf_path = self.root / FILES["conf"]
        self.calls_path = self.root / FILES["calls"]
        self.log_path = self.root / FILES["log"]
        self.lock_path = self.root / FILES["lock"]
        self.pid_path = self.root / FILES["pid"]

    # ---- whole files ---------------------------------------------------------------
    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _read_json(self, path: Path) -> dict | None:
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CorruptState(path, str(exc)) from exc
        if not isinstance(data, dict):
            raise CorruptState(path, f"top level is {type(data).__name__}, not object")
        return data

    def load_dpu(self) -> dict | None:
        """``dpu.json``, ``None`` when absent; unreadable or non-object JSON is CorruptState."""
        return self._read_json(self.dpu_path)

    def save_dpu(self, data: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write(self.dpu_path, _dumps(data))

    def save_hibernation(self, data: dict) -> None:
        self._write(self.hibernate_path, json.dumps(data, separators=(",", ":")).encode())

    def take_hibernation(self) -> dict | None:
        """The memory an idle service left, removed as it is read (used once)."""
        try:
            data = self._read_json(self.hibernate_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.hibernate_path.unlink()
        return data

    def drop_hibernation(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.hibernate_path.unlink()

    def read_conf(self) -> bytes | None:
        try:
            return self.conf_path.read_bytes()
        except FileNotFoundError:
            return None

    def write_conf(self, conf: object) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write(self.conf_path, json.dumps(conf, indent=2).encode())

    # ---- recovery records (one file per device, named by VUID, as on the DPU) -----------
    def records(self) -> dict[str, dict]:
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

    def record(self, vuid: str) -> dict | None:
        """One device's record; ``None`` when absent or unusable (as :meth:`records` skips)."""
        try:
            record = json.loads((self.recovery_dir / vuid).read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write_record(self, vuid: str, record: dict) -> None:
        self.recovery_dir.mkdir(parents=True, exist_ok=True)
        self._write(self.recovery_dir / vuid, _dumps(record))

    def write_records(self, records: dict[str, dict]) -> None:
        """Many records at once (controller start): the same rename-atomic writes."""
        if not records:
            return
        self.recovery_dir.mkdir(parents=True, exist_ok=True)
        base = str(self.recovery_dir) + "/"
        for vuid, record in records.items():
            tmp = f"{base}.{vuid}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, _dumps(record))
            finally:
                os.close(fd)
            os.replace(tmp, base + vuid)

    def delete_record(self, vuid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.recovery_dir / vuid).unlink()

    def clear_records(self) -> None:
        if self.recovery_dir.is_dir():
            for entry in os.scandir(self.recovery_dir):
                if entry.is_file():
                    os.unlink(entry.path)

    # ---- the calls ledger (one JSON line per call the controller received) -----------
    def log_call(self, entry: dict) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.calls_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write of one line: appends never interleave
        finally:
            os.close(fd)

    def calls(self) -> list[dict]:
        return read_ledger(self.calls_path)

    def clear_calls(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.calls_path.unlink()

    # ---- the service log (what journalctl -u virtio-net-controller shows) ---------------
    def log_line(self, text: str) -> None:
        stamp = time.strftime("%b %d %H:%M:%S")
        line = f"{stamp} {_HOST} virtio_net_controller[{os.getpid()}]: {text}\n"
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            size = fh.tell()
        if size > _LOG_MAX:
            data = self.log_path.read_bytes()[-(_LOG_MAX // 2) :]
            self._write(self.log_path, data[data.find(b"\n") + 1 :])

    def journal(self) -> list[str]:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []

    # ---- exclusion ---------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The service lock: held by a running service, or by an offline change of its files."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock


_HOST = socket.gethostname() or "localhost"


def read_ledger(path: Path) -> list[dict]:
    """Ledger entries; a torn last line (a writer killed mid-write) is skipped."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                out.append(entry)
    return out


class MemoryPersist(Persist):
    """No files at all: for in-process tests (``Emulator(None)``)."""

    def __init__(self) -> None:
        self.root = None
        self.dpu: dict | None = None
        self.hibernated: dict | None = None
        self.conf: bytes | None = None
        self.recovery: dict[str, dict] = {}
        self.ledger: list[dict] = []
        self.lines: list[str] = []

    def load_dpu(self):
        return self.dpu

    def save_dpu(self, data):
        self.dpu = json.loads(json.dumps(data))

    def save_hibernation(self, data):
        self.hibernated = data

    def take_hibernation(self):
        data, self.hibernated = self.hibernated, None
        return data

    def drop_hibernation(self):
        self.hibernated = None

    def read_conf(self):
        return self.conf

    def write_conf(self, conf):
        self.conf = json.dumps(conf).encode()

    def records(self):
        return {k: dict(v) for k, v in self.recovery.items()}

    def record(self, vuid):
        rec = self.recovery.get(vuid)
        return None if rec is None else dict(rec)

    def write_record(self, vuid, record):
        self.recovery[vuid] = dict(record)

    def write_records(self, records):
        for vuid, record in records.items():
            self.recovery[vuid] = dict(record)

    def delete_record(self, vuid):
        self.recovery.pop(vuid, None)

    def clear_records(self):
        self.recovery.clear()

    def log_call(self, entry):
        self.ledger.append(dict(entry))

    def calls(self):
        return list(self.ledger)

    def clear_calls(self):
        self.ledger.clear()

    def log_line(self, text):
        stamp = time.strftime("%b %d %H:%M:%S")
        self.lines.append(f"{stamp} {_HOST} virtio_net_controller: {text}")

    def journal(self):
        return list(self.lines)

    def lock(self):
        return contextlib.nullcontext()
