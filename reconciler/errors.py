"""One root error (:class:`ReconcilerError`) and the contract's exit codes, defined once.

Each subclass also inherits the builtin it resembles and its docstring says whose
fault it is (the operator's input, the operator's set-up, the controller, or us).
Which exit code an error gives is decided in one place, :func:`reconciler.cli.exit_code_for`.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "BackendError",
    "BusyError",
    "InternalError",
    "LockedError",
    "MacStillHeld",
    "PermissionProblem",
    "ReconcilerError",
    "SpecInvalidError",
]

# Exit codes are part of the contract (DESIGN.md section 4).
EXIT_OK = 0  # converged / no changes / valid
EXIT_ERROR = 1  # any error
EXIT_CHANGES = 2  # diff: changes pending
EXIT_BLOCKED = 3  # apply: converged except blocked or pending items
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class ReconcilerError(Exception):
    """Root of every error the tool reports to a user as one line (never a traceback)."""


class SpecInvalidError(ReconcilerError, ValueError):
    """The operator's spec files are wrong; carries every :class:`SpecError` found."""

    def __init__(self, errors):
        self.errors = tuple(errors)
        super().__init__(f"{len(self.errors)} invalid spec(s)")


class PermissionProblem(ReconcilerError, PermissionError):
    """The operator's set-up: the state dir or a file in it is writable by others."""


class BackendError(ReconcilerError, RuntimeError):
    """The controller or its CLI refused or failed a call; keeps argv, exit code, errno, errstr."""

    def __init__(self, message, *, argv=(), returncode=None, errno=None, errstr=None):
        super().__init__(message)
        self.argv = tuple(argv)
        self.returncode = returncode
        self.errno = errno
        self.errstr = errstr


class BusyError(BackendError):
    """Nobody's fault, temporary: the device is migrating or a live update runs; retry later."""


class LockedError(ReconcilerError, RuntimeError):
    """Nobody's fault: another apply or watch holds the per-DPU lock; retry when it is done."""


class MacStillHeld(ReconcilerError, RuntimeError):
    """Temporary: a change would give a MAC that another live device still holds (the change
    that frees it did not happen); skipped this cycle and retried."""


class InternalError(ReconcilerError, RuntimeError):
    """A bug in virtnet-reconciler: please report it."""
