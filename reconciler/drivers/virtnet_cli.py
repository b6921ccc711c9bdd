"""The vendor ``virtnet`` CLI, one method per operation: argv in, typed results out, no policy."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.drivers.parse import (
    HotplugResult,
    parse_controller,
    parse_devices,
    parse_hotplug,
    parse_live_update_active,
    parse_output,
    parse_started_at,
    parse_version,
)
from reconciler.drivers.runner import Runner
from reconciler.errors import InternalError
from reconciler.fields import HOTPLUG_FIELDS, MODIFY_FLAGS, Spec
from reconciler.model import ControllerInfo, DeviceSpec, ObservedDevice

__all__ = ["HotplugResult", "VirtnetCli"]


class VirtnetCli:
    """Thin driver over a :class:`Runner` that speaks the vendor argv (docs/vendor-cli.md)."""

    def __init__(self, runner: Runner, timeout: float = 30.0):
        self.runner = runner
        self.timeout = timeout

    @property
    def calls(self) -> Counter:
        """Invocations per op so far (tests and benchmarks count operations, not seconds)."""
        return self.runner.calls

    def _run(self, argv: Sequence[str], *, need_json: bool = True) -> list[Any]:
        result = self.runner(list(argv), timeout=self.timeout)
        return parse_output(
            result.returncode, result.stdout, result.stderr, result.argv, require_json=need_json
        )

    def capabilities(self) -> ControllerInfo:
        """Controller capabilities from ``list`` (max hotplug devices, queues, features)."""
        argv = ["list"]
        return parse_controller(self._run(argv), argv)

    def query_all(self) -> tuple[ObservedDevice, ...]:
        """Every device, brief: the one observation call per reconcile cycle."""
        argv = ["query", "-a", "-b"]
        return parse_devices(self._run(argv), argv)

    def hotplug(self, spec: DeviceSpec) -> HotplugResult:
        """Create a hotplug PF; the caller passes complete values (the vendor requires them)."""
        argv = _hotplug_argv(spec)
        return parse_hotplug(self._run(argv), argv)

    def unplug(self, vuid: str) -> None:
        """Remove a hotplug PF by VUID."""
        self._run(["unplug", "-u", vuid], need_json=False)

    def modify(self, vuid: str, changes: Mapping[str, object]) -> None:
        """Change several device attributes in ONE call; ``changes`` maps field -> new value."""
        if not changes:
            raise InternalError("modify called without changes")
        argv = ["modify", "-u", vuid, "device"]
        for field, value in changes.items():
            flag = MODIFY_FLAGS.get(field)
            if flag is None:
                raise InternalError(f"modify cannot change {field!r}")
            argv += [flag, _format(field, value)]
        self._run(argv, need_json=False)

    def update_status(self) -> bool:
        """True while a live update runs (``update -t``)."""
        argv = ["update", "-t"]
        return parse_live_update_active(self._run(argv), argv)

    def version(self) -> str:
        """The running ("Original") controller version from ``version``."""
        argv = ["version"]
        return parse_version(self._run(argv), argv)

    def started_at(self) -> float | None:
        """When the controller last started, from ``health``; None when it does not say."""
        argv = ["health"]
        return parse_started_at(self._run(argv), argv)

    def restart(self) -> None:
        """Fast in-service controller restart (24.10+ ``restart``)."""
        self._run(["restart"], need_json=False)

    def passthrough(self, argv: Sequence[str]) -> int:
        """Run the vendor CLI with the user's argv, output unchanged; returns its exit code."""
        stream = getattr(self.runner, "stream", None)
        if stream is not None:
            return stream(list(argv))
        result = self.runner(list(argv), timeout=self.timeout)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode


def _format(field: str, value: object) -> str:
    if value is None or isinstance(value, bool):
        raise InternalError(f"modify {field}: invalid value {value!r}")
    if field == Spec.FEATURES:
        if not isinstance(value, int):
            raise InternalError(f"modify features wants an int, got {value!r}")
        return hex(value)
    return str(value)


def _hotplug_argv(spec: DeviceSpec) -> list[str]:
    """The options in the vendor's usage order; a boolean field is a switch (``-l``)."""
    missing = [
        f.hotplug_flag
        for f in HOTPLUG_FIELDS
        if f.hotplug_required and getattr(spec, f.name) is None
    ]
    if missing:
        raise InternalError(f"hotplug of {spec.name}: no value for {' '.join(missing)}")
    argv = ["hotplug"]
    for field in HOTPLUG_FIELDS:
        value = getattr(spec, field.name)
        if value is True:
            argv.append(field.hotplug_flag)
        elif value is not None and value is not False:
            argv += [field.hotplug_flag, hex(value) if field.name == Spec.FEATURES else str(value)]
    return argv
