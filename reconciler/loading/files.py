"""Find the spec files of a state dir and read them, trusting only what is safe to trust.

Like sshd's StrictModes, the state dir and every file and directory in it must be owned
by the invoking user or root and not writable by group or others. Files are reached
through their visible names (Kubernetes ConfigMap volumes: ``name.yaml -> ..data/name.yaml``),
a symlink that leads outside the state dir is refused, each real directory is visited
once (symlink loops end), and a read never takes more than the size limit plus one byte
nor blocks on a FIFO.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from reconciler.errors import PermissionProblem, SpecInvalidError
from reconciler.fsutil import insecure_reason
from reconciler.model import Source, SpecError

__all__ = ["check_root", "iter_spec_files", "os_reason", "read_bounded", "warn_insecure_once"]

_SUFFIXES = (".yaml", ".yml", ".json")
_LEFTOVERS = ("~", ".swp", ".tmp")
_warned_insecure = False


def _ignored(name: str) -> bool:
    """Hidden, private, editor leftovers, and anything that is not a spec file."""
    if name.startswith((".", "_")) or name.endswith(_LEFTOVERS):
        return True
    if name.startswith("#") and name.endswith("#"):
        return True
    return not name.endswith(_SUFFIXES)


def check_root(state_dir: Path, check_permissions: bool) -> Path:
    try:
        st = state_dir.stat()
    except OSError as exc:
        raise SpecInvalidError([SpecError(Source(str(state_dir)), "", os_reason(exc))]) from None
    if not stat.S_ISDIR(st.st_mode):
        why = "state dir is not a directory"
        raise SpecInvalidError([SpecError(Source(str(state_dir)), "", why)])
    if check_permissions:
        reason = insecure_reason(st)
        if reason is not None and _root_mode_excused(state_dir, st):
            reason = None
        if reason is not None:
            what = reason.split("; fix")[0]
            fix = f"chmod go-w {state_dir}" if "writable" in what else f"chown root {state_dir}"
            raise PermissionProblem(f"{state_dir}: refusing a state dir {what}; fix: {fix}")
    return Path(os.path.realpath(state_dir))


def _root_mode_excused(state_dir: Path, st: os.stat_result) -> bool:
    """Only the mode bits of the root, only on a read-only mount (Kubernetes ConfigMap volumes).

    kubelet makes a ConfigMap volume's root 0777 and mounts it read-only; its
    ``..<timestamp>`` dir is 0755 and its files follow defaultMode (0644), all owned by
    root, so nothing else needs excusing. A read-only mount does not make the files
    safe in general (a hostPath ``readOnly`` mount leaves them writable at their
    original path), so the owner and every file and subdirectory are still checked.
    """
    return st.st_uid in (os.geteuid(), 0) and _read_only_mount(state_dir)


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def os_reason(exc: OSError) -> str:
    return {
        errno.ENOENT: "does not exist",
        errno.ELOOP: "symlink loop",
        errno.EACCES: "permission denied",
    }.get(exc.errno or 0, exc.strerror or str(exc))


def _inside(real: str, root: Path) -> bool:
    return real == str(root) or real.startswith(str(root) + os.sep)


def iter_spec_files(
    state_dir: Path,
    real_root: Path,
    *,
    check_permissions: bool = True,
) -> Iterator[tuple[str, os.stat_result | None, SpecError | None]]:
    """Yield ``(shown path, stat, None)`` per spec file, or ``(path, None, error)``.

    Directories are followed (symlinked ones too, when they stay inside the state dir)
    and each real directory is visited once, so symlink loops end.
    """
    root_st = os.stat(real_root)
    seen: set[tuple[int, int]] = {(root_st.st_dev, root_st.st_ino)}
    stack = [(state_dir, real_root)]
    while stack:
        shown_dir, real_dir = stack.pop()
        try:
            names = sorted(os.listdir(real_dir))
        except OSError as exc:
            yield str(shown_dir), None, SpecError(Source(str(shown_dir)), "", os_reason(exc))
            continue
        subdirs = []
        for name in names:
            if name.startswith((".", "_")):
                continue
            shown = shown_dir / name
            item = _classify(shown, real_dir / name, real_root, check_permissions)
            if item is None:
                continue
            kind, payload = item
            if kind == "dir":
                real, st = payload
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    subdirs.append((shown, Path(real)))
            elif kind == "file":
                yield str(shown), payload, None
            else:
                yield str(shown), None, payload
        stack.extend(reversed(subdirs))


def _classify(shown: Path, path: Path, root: Path, check_permissions: bool):
    """('dir', (real, st)) | ('file', st) | ('error', SpecError) | None (ignored)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return None if _ignored(shown.name) else _error(shown, os_reason(exc))
    is_dir = stat.S_ISDIR(st.st_mode)
    if not is_dir and _ignored(shown.name):
        return None
    problem = None
    if not _inside(real, root):
        problem = f"symlink leads outside the state dir (to {real}); refused"
    elif check_permissions and (reason := _trust_reason(st, real, root)) is not None:
        problem = f"refused: {reason}"
    elif not is_dir and not stat.S_ISREG(st.st_mode):
        problem = "not a regular file; ignored"
    if problem is not None:
        return _error(shown, problem)
    return ("dir", (real, st)) if is_dir else ("file", st)


def _trust_reason(st: os.stat_result, real: str, root: Path) -> str | None:
    return insecure_reason(st) or _hidden_dirs_reason(real, root)


def _hidden_dirs_reason(real: str, root: Path) -> str | None:
    """Why a directory between the root and ``real`` cannot be trusted, or None.

    A symlink (``name.yaml -> ..data/name.yaml``) reaches files through directories the
    walk never visits (hidden ones, like ConfigMap's ``..<timestamp>``); whoever could
    write those could swap the file, so they are held to the same rule.
    """
    parent = Path(real).parent
    while _inside(str(parent), root) and parent != root:
        try:
            reason = insecure_reason(os.stat(parent))
        except OSError as exc:
            reason = os_reason(exc)
        if reason is not None:
            return f"{parent} is {reason}"
        parent = parent.parent
    return None


def _error(shown: Path, why: str):
    return "error", SpecError(Source(str(shown)), "", why)


def read_bounded(path: str, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes; non-blocking open so a FIFO can never hang us."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def warn_insecure_once() -> None:
    global _warned_insecure  # noqa: PLW0603 (said once per process, as the contract asks)
    if _warned_insecure:
        return
    _warned_insecure = True
    import structlog

    structlog.get_logger("reconciler.loading").warning(
        "permission_check_disabled",
        risk="anyone who can write the state dir controls this DPU's host-facing devices",
        fix="remove --insecure-skip-permission-check and run: chmod -R go-w STATE_DIR",
    )
