"""FirmwareProfile: compare the operator's expected mlxconfig values with the firmware's.

Read-only: the reconciler never writes firmware. A value that differs from the
profile needs ``mlxconfig set`` and a cold power cycle; a value already set but
not yet in force (Next Boot differs from Current) is pending until the power
cycle. Both are warnings, because nothing the reconciler can apply fixes them;
the plan's limit checks already use the values actually in force.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import DesiredState, FirmwareProfileSpec, ObservedWorld, Source, frozen_map
from reconciler.resources.base import DiffOptions, DiffResult, Normalised

__all__ = ["diff", "normalise"]


def normalise(document: Mapping[str, Any], source: Source) -> Normalised:
    """The expected values of a schema-valid document, as ints (``true``/``false`` -> 1/0)."""
    name, values = document["metadata"]["name"], document["spec"]["values"]
    as_ints = {key: int(value) for key, value in values.items()}
    return Normalised(firmware=FirmwareProfileSpec(name, frozen_map(as_ints), source))


def diff(desired: DesiredState, world: ObservedWorld, options: DiffOptions) -> DiffResult:
    """Warnings for profile drift and for firmware changes waiting for a power cycle."""
    del options  # nothing here depends on the apply flags
    current = world.controller.firmware
    next_boot = world.controller.firmware_next_boot
    warnings = [
        f"firmware {key}: next boot {next_boot[key]} (current {current[key]}): "
        "pending until power cycle"
        for key in sorted(next_boot)
        if key in current and next_boot[key] != current[key]
    ]
    profile = desired.firmware
    if profile is None:
        return DiffResult(warnings=tuple(warnings))
    if not current:
        warnings.append(f"firmware profile {profile.name}: firmware values not read; not checked")
        return DiffResult(warnings=tuple(warnings))
    for key in sorted(profile.values):
        want, have = profile.values[key], current.get(key)
        if have == want:
            continue
        if have is None:
            warnings.append(f"firmware profile {profile.name}: {key} not reported by mlxconfig")
        elif next_boot.get(key) == want:
            continue  # already set; the pending warning above says it waits for a power cycle
        else:
            warnings.append(
                f"firmware profile {profile.name}: {key} is {have}, profile wants {want}: "
                "needs mlxconfig set and a cold power cycle"
            )
    return DiffResult(warnings=tuple(warnings))
