"""The emulator called in this process: a backend without one ``virtnet-emu`` process per call.

For tests, benchmarks and the chaos run, which drive thousands of calls. The
reconciler itself never imports this (nothing outside ``reconciler.emulator`` imports
the emulator); it only ever reaches the emulator through ``virtnet-emu``.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.backend import EmulatorBackend, emulator_backend
from reconciler.drivers.runner import InProcessRunner
from reconciler.emulator.emulator import Emulator

__all__ = ["in_process_backend"]


def in_process_backend(
    env: Mapping[str, str] | None = None, *, timeout: float = 30.0
) -> EmulatorBackend:
    """The emulator backend ``resolve_backend("emulator", env=env)`` gives, called in process."""
    return emulator_backend(
        env,
        timeout=timeout,
        make_runner=lambda root, netns: InProcessRunner(Emulator(root, netns=netns)),
    )
