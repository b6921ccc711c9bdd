"""Recovery records against the live controller: what a restart would restore, and orphans.

A record (one file per VUID) is what the controller restores after a restart,
so a record that differs from its live device (mac, sf_num, mq vs the queue
count, pf_id/vf_id) means a restart would bring back something other than what
runs now. Records can also be stale: their device is gone, the firmware no
longer has room for them (pf_id >= NUM_PF, vf_id >= NUM_VF, a hotplug record
with the PCIe switch disabled), or LAG is on and they name a port device that is
not the bond. All of that is reported as a warning.

Only a record that is provably orphaned (its VUID is not live and no live
device has its MAC or its pf/vf slot, so nothing could be restored from it or
be confused with it) gets a ``recovery_cleanup`` change, listed by ``diff`` and
carried out by ``apply`` only with ``--prune``. The vendor allows editing
records while the controller is stopped, but a stopped controller cannot be
observed at all, so that case never reaches the planner.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.fields import Conf, conf_default
from reconciler.keys import Fw
from reconciler.model import (
    Action,
    Change,
    ChangeStatus,
    DesiredState,
    DeviceType,
    ObservedDevice,
    ObservedWorld,
    RecoveryRecord,
    frozen_map,
)
from reconciler.resources.base import DiffOptions, DiffResult

__all__ = ["REASON_PRUNE", "cleanup_name", "diff", "record_differences", "stale_reasons"]

REASON_PRUNE = "orphaned recovery record: apply --prune removes it"


def cleanup_name(vuid: str) -> str:
    """The change name of a record cleanup (no spec owns a record, so it names the file)."""
    return f"recovery/{vuid}"


def diff(desired: DesiredState, world: ObservedWorld, options: DiffOptions) -> DiffResult:
    """Warnings for records that disagree or are stale; cleanups for provable orphans."""
    del desired  # records follow the live controller, not the specs
    live = {d.vuid: d for d in world.devices}
    changes: list[Change] = []
    warnings: list[str] = []
    stale_live: dict[str, list[str]] = {}  # reason -> VUIDs: one line per reason, not per record
    for record in sorted(world.recovery, key=lambda r: r.vuid):
        device = live.get(record.vuid)
        stale = stale_reasons(record, world)
        if device is not None:
            if stale and not device.migrating:
                stale_live.setdefault("; ".join(stale), []).append(record.vuid)
            warnings += _live_warnings(record, device)
            continue
        if _occupied(record, world.devices):
            why = "; ".join(stale) or "its device is gone"
            warnings.append(
                f"recovery record {record.vuid}: {why}; not removed because a live device has "
                "its mac or pf/vf slot"
            )
            continue
        changes.append(_cleanup(record, stale, options.prune))
    warnings += [_stale_live_warning(why, vuids) for why, vuids in stale_live.items()]
    return DiffResult(tuple(changes), tuple(warnings))


def _stale_live_warning(why: str, vuids: list[str], shown: int = 3) -> str:
    """One line for every live device whose record is stale for the same reason."""
    more = f" and {len(vuids) - shown} more" if len(vuids) > shown else ""
    names = ", ".join(vuids[:shown]) + more
    if len(vuids) == 1:
        return (
            f"recovery record {names}: stale ({why}) but its device is live: "
            "a restart would not restore it"
        )
    return (
        f"{len(vuids)} recovery records are stale ({why}) but their devices are live: "
        f"a restart would not restore them ({names})"
    )


def record_differences(record: RecoveryRecord, device: ObservedDevice) -> dict[str, tuple]:
    """Field -> (live, recorded) where a restart would restore something else than runs now."""
    pairs = {
        "mac": ((device.mac or "").lower() or None, record.mac),
        "sf_num": (device.sf_num, record.sf_num),
        "max_queues": (device.max_queues, record.mq),
        "pf_id": (device.pf_id, record.pf_id),
        "vf_id": (device.vf_id, record.vf_id if record.function_type == "vf" else None),
    }
    return {k: (live, rec) for k, (live, rec) in pairs.items() if rec is not None and live != rec}


def stale_reasons(record: RecoveryRecord, world: ObservedWorld) -> list[str]:
    """Why the controller would ignore this record at its next start (firmware, LAG)."""
    return list(_firmware_reasons(record, world.controller.firmware)) + list(
        _lag_reasons(record, world.config_on_disk or {})
    )


def _firmware_reasons(record: RecoveryRecord, firmware) -> Iterator[str]:
    num_pf, num_vf = firmware.get(Fw.NUM_PF), firmware.get(Fw.NUM_VF)
    static = record.function_type == "vf" or record.device_type == "static"
    if static and num_pf is not None and record.pf_id is not None and record.pf_id >= num_pf:
        yield f"pf_id {record.pf_id} >= {Fw.NUM_PF}={num_pf}"
    vf = record.function_type == "vf" and record.vf_id is not None
    if vf and num_vf is not None and record.vf_id >= num_vf:
        yield f"vf_id {record.vf_id} >= {Fw.NUM_VF}={num_vf}"
    if record.device_type == "hotplug" and firmware.get(Fw.SWITCH_ENABLE) == 0:
        yield f"hotplug record but {Fw.SWITCH_ENABLE}=0"


def _lag_reasons(record: RecoveryRecord, config) -> Iterator[str]:
    if not config.get(Conf.IS_LAG):
        return
    bond = config.get(Conf.IB_DEV_LAG) or conf_default(Conf.IB_DEV_LAG)
    if record.port_ib_dev is not None and record.port_ib_dev != bond:
        yield (f"port_ib_dev {record.port_ib_dev} is not the bond device {bond} ({Conf.IS_LAG}=1)")


def _live_warnings(record: RecoveryRecord, device: ObservedDevice):
    if device.migrating:
        return []
    out = []
    diffs = record_differences(record, device)
    if diffs:
        what = ", ".join(f"{k} {live} (record {rec})" for k, (live, rec) in diffs.items())
        out.append(
            f"recovery record {record.vuid} differs from the live device: {what}; "
            "a controller restart would restore the record's values"
        )
    return out


def _occupied(record: RecoveryRecord, devices) -> bool:
    """A live device has the record's MAC or slot: the record may still be its identity."""
    is_vf = record.function_type == "vf"
    for dev in devices:
        if record.mac and dev.mac and dev.mac.lower() == record.mac:
            return True
        same_kind = (dev.type is DeviceType.VF) == is_vf
        if same_kind and dev.pf_id == record.pf_id and (not is_vf or dev.vf_id == record.vf_id):
            return True
    return False


def _cleanup(record: RecoveryRecord, stale: list[str], prune: bool) -> Change:
    why = "; ".join(stale) or "no live device"
    fields = frozen_map({"record": (record.vuid, None), "why": (why, None)})
    if prune:
        return Change(Action.RECOVERY_CLEANUP, cleanup_name(record.vuid), fields, vuid=record.vuid)
    return Change(
        Action.RECOVERY_CLEANUP,
        cleanup_name(record.vuid),
        fields,
        ChangeStatus.BLOCKED,
        REASON_PRUNE,
        vuid=record.vuid,
    )
