"""One root exception; each subclass says whose fault it is and maps to one exit code."""

from __future__ import annotations

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_OK",
    "BackendError",
    "BusyError",
    "FirmwareLimitError",
    "InternalError",
    "LockedError",
    "PermissionProblem",
    "ReconcilerError",
    "SpecInvalidError",
]

# Exit codes are part of the contract (DESIGN.md section 4).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_BLOCKED = 3


class ReconcilerError(Exception):
    """Root of every error the tool reports to a user as one line (never a traceback)."""

    exit_code = EXIT_ERROR


class SpecInvalidError(ReconcilerError, ValueError):
    """The user's spec files are wrong; carries every :class:`SpecError` found."""

    def __init__(self, errors):
        self.errors = tuple(errors)
        super().__init__(f"{len(self.errors)} invalid spec(s)")


class PermissionProblem(ReconcilerError, PermissionError):
    """The state dir or a file in it is writable by others: the operator must fix modes."""


class BackendError(ReconcilerError, RuntimeError):
    """The controller or its CLI refused a call; keeps argv, exit code, errno and errstr."""

    def __init__(self, message, *, argv=(), returncode=None, errno=None, errstr=None):
        super().__init__(message)
        self.argv = tuple(argv)
        self.returncode = returncode
        self.errno = errno
        self.errstr = errstr


class BusyError(BackendError):
    """Temporary: the device is migrating or a live update runs; retry with backoff."""


class FirmwareLimitError(ReconcilerError, ValueError):
    """The plan needs more SFs, hotplug ports or VFs than the firmware provides."""


class LockedError(ReconcilerError, RuntimeError):
    """Another apply or watch holds the per-DPU lock."""


class InternalError(ReconcilerError, RuntimeError):
    """A bug in virtnet-reconciler: please report it."""
