"""Check what a plan needs (hotplug ports, SFs, VF/PF ids, queues) against firmware limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from reconciler.fields import Conf, Spec, conf_default
from reconciler.keys import Fw
from reconciler.model import Action, Change, DeviceSpec, DeviceType, ObservedWorld

__all__ = ["DEFAULT_PORT", "limit_errors"]

# Static PFs and VFs live on port 0 unless the controller says otherwise.
DEFAULT_PORT = conf_default(Conf.IB_DEV_P0)


def limit_errors(
    specs: Iterable[DeviceSpec],
    world: ObservedWorld,
    changes: Iterable[Change],
    firmware: Mapping[str, int] | None,
    defaults: Mapping[str, int],
) -> list[str]:
    """One line per limit the plan would break; any line stops every mutating call."""
    fw = firmware or {}
    changes = list(changes)
    added = [c.spec for c in changes if c.action in (Action.HOTPLUG, Action.REPLACE) and c.spec]
    errors = _id_errors(specs, fw)
    if added:
        removed = {c.vuid for c in changes if c.action in (Action.UNPLUG, Action.REPLACE)}
        errors += _capacity_errors(added, world, removed, fw)
        errors += _queue_errors(added, world, fw, defaults)
    return errors


def _id_errors(specs: Iterable[DeviceSpec], fw: Mapping[str, int]) -> list[str]:
    """A VF or static PF beyond what firmware emulates will never appear: say so up front."""
    errors = []
    num_pf, num_vf = fw.get(Fw.NUM_PF), fw.get(Fw.NUM_VF)
    for spec in specs:
        if spec.type is DeviceType.HOTPLUG or spec.pf_id is None:
            continue
        if num_pf is not None and spec.pf_id >= num_pf:
            errors.append(
                f"{spec.name}: pf_id {spec.pf_id} needs {spec.pf_id + 1} static PFs, "
                f"firmware has {num_pf} ({Fw.NUM_PF})"
            )
        elif spec.type is DeviceType.VF and num_vf is not None and (spec.vf_id or 0) >= num_vf:
            errors.append(
                f"{spec.name}: vf_id {spec.vf_id} needs {(spec.vf_id or 0) + 1} VFs per PF, "
                f"firmware has {num_vf} ({Fw.NUM_VF})"
            )
    return errors


def _capacity_errors(added, world: ObservedWorld, removed: set, fw: Mapping[str, int]) -> list[str]:
    """Count the devices that exist after the plan: every one takes an SF, hotplugs a port."""
    remaining = [d for d in world.devices if d.vuid not in removed]
    errors = []
    hotplugs = sum(d.type is DeviceType.HOTPLUG for d in remaining) + len(added)
    if fw.get(Fw.SWITCH_ENABLE) == 0:
        errors.append(f"plan needs hotplug ports, firmware has {Fw.SWITCH_ENABLE}=0")
    ports = fw.get(Fw.SWITCH_NUM_PORT)
    if ports is not None and hotplugs > ports:
        errors.append(
            f"plan needs {hotplugs} hotplug ports, firmware has {ports} ({Fw.SWITCH_NUM_PORT})"
        )
    allowed = world.controller.max_hotplug_devices
    if allowed is not None and hotplugs > allowed and (ports is None or allowed < ports):
        errors.append(
            f"plan needs {hotplugs} hotplug devices, the controller allows {allowed} "
            "(max_hotplug_devices)"
        )
    total_sf = fw.get(Fw.PF_TOTAL_SF)
    if total_sf is not None:
        per_port = Counter(d.ib_device or DEFAULT_PORT for d in remaining)
        per_port.update(s.ib_device or DEFAULT_PORT for s in added)
        needed = {s.ib_device or DEFAULT_PORT for s in added}
        for port in sorted(needed):
            if per_port[port] > total_sf:
                errors.append(
                    f"plan needs {per_port[port]} SFs on {port}, firmware has {total_sf} "
                    f"({Fw.PF_TOTAL_SF})"
                )
    return errors


def _queue_errors(added, world: ObservedWorld, fw: Mapping[str, int], defaults) -> list[str]:
    """Hotplug -n is bounded by min(NUM_MSIX, the controller's max virtqueues)."""
    errors = []
    msix = fw.get(Fw.NUM_MSIX)
    max_vq = world.controller.max_virt_queues
    for spec in sorted(added, key=lambda s: s.name):
        queues = spec.max_queues if spec.max_queues is not None else defaults.get(Spec.MAX_QUEUES)
        if queues is None:
            continue
        if msix is not None and queues > msix:
            errors.append(f"{spec.name}: max_queues {queues} exceeds {Fw.NUM_MSIX}={msix}")
        elif max_vq is not None and queues > max_vq:
            errors.append(
                f"{spec.name}: max_queues {queues} exceeds the controller's {max_vq} "
                "(max_virt_queues)"
            )
    return errors
