"""How the drivers run an external tool: argv lists in, a typed result out, calls counted by op."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.errors import BackendError

__all__ = ["InProcessRunner", "RunResult", "Runner", "SubprocessRunner", "op_of"]

# emulator global options that take a value (docs/vendor-cli.md, Invocation)
_GLOBAL_WITH_VALUE = frozenset({"--netns", "--root"})


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one tool invocation returned; ``argv`` is the full command line as run."""

    returncode: int
    stdout: str
    stderr: str
    argv: tuple[str, ...]


class Runner(Protocol):
    """Runs one CLI invocation; ``calls`` counts invocations per op (first argv word)."""

    calls: Counter

    def __call__(self, argv: Sequence[str], *, timeout: float) -> RunResult: ...


def op_of(argv: Sequence[str]) -> str:
    """The operation an argv performs: its first word that is not an option.

    Global options (``--netns NAME``) may precede the subcommand, so counting by
    the very first word would miscount; an argv of options only counts as its first.
    """
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return argv[0] if argv else ""


class SubprocessRunner:
    """Runs ``[*executable, *argv]`` as a child process (no shell), environment passed through.

    ``executable`` is a path or a prefix argv (``[sys.executable, "-m", "x"]``);
    ``env`` holds variables added to the inherited environment (emulator root, netns).
    """

    def __init__(self, executable: str | Sequence[str], *, env: Mapping[str, str] | None = None):
        self.prefix: tuple[str, ...] = (
            (executable,) if isinstance(executable, str) else tuple(executable)
        )
        self.env = dict(env or {})
        self.calls: Counter = Counter()

    def __call__(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        full = (*self.prefix, *argv)
        self.calls[op_of(argv)] += 1
        env = {**os.environ, **self.env} if self.env else None
        try:
            done = subprocess.run(
                full, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise BackendError(
                f"{_show(full)} did not finish within {timeout:g} s", argv=full
            ) from e
        except OSError as e:
            raise BackendError(f"cannot run {full[0]}: {e.strerror or e}", argv=full) from e
        return RunResult(done.returncode, done.stdout, done.stderr, full)

    def stream(self, argv: Sequence[str]) -> int:
        """Run with our stdin/stdout/stderr inherited (user pass-through); returns the exit code."""
        full = (*self.prefix, *argv)
        self.calls[op_of(argv)] += 1
        env = {**os.environ, **self.env} if self.env else None
        try:
            return subprocess.run(full, env=env, check=False).returncode
        except OSError as e:
            raise BackendError(f"cannot run {full[0]}: {e.strerror or e}", argv=full) from e


class InProcessRunner:
    """Calls an emulator object's ``run(argv) -> (code, stdout, stderr)`` directly (fast tests)."""

    def __init__(self, emulator: Any):
        self.emulator = emulator
        self.calls: Counter = Counter()

    def __call__(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        # timeout is accepted for interface parity; an in-process call cannot be interrupted
        del timeout
        self.calls[op_of(argv)] += 1
        code, out, err = self.emulator.run(list(argv))
        return RunResult(code, out, err, tuple(argv))

    def stream(self, argv: Sequence[str]) -> int:
        """Run and copy the emulator's output to ours unchanged; returns the exit code."""
        result = self(argv, timeout=0)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode


def _show(argv: Sequence[str]) -> str:
    return " ".join(argv)
