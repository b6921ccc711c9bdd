"""Atomic, fsynced writes and safe-permission checks used by every state file we own."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "insecure_reason"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` so that readers see the old file or the new one, never a torn one.

    temp file in the same directory + fsync + rename + fsync of the directory, so a
    crash or power loss cannot leave a half-written status, inventory or recovery file.
    """
    path = Path(path)
    # 0755 whatever the umask: nobody else may swap our state files
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def atomic_write_text(path: str | os.PathLike, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode(), mode)


def atomic_write_json(path: str | os.PathLike, data, mode: int = 0o644, indent: int | None = 2):
    text = json.dumps(data, indent=indent, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode(), mode)


def insecure_reason(st: os.stat_result, *, uid: int | None = None) -> str | None:
    """Why a file or directory with this stat must not be trusted, or ``None``.

    Like sshd's StrictModes: whoever can write the specs controls the DPU's
    host-facing devices, so group/other write bits or a foreign owner are refused.
    """
    uid = os.geteuid() if uid is None else uid
    if st.st_uid not in (uid, 0):
        return f"owned by uid {st.st_uid}, not by you (uid {uid}) or root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        # the sticky bit does not help: others could still add spec files
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); fix: chmod go-w"
    return None
