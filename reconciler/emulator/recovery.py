"""Vendor recovery records: build one from a device, and a device's identity back from one."""

from __future__ import annotations

from reconciler.emulator.state import HOTPLUG, STATIC, VF, Device

__all__ = ["record_for"]


def record_for(dev: Device) -> dict:
    """The vendor record (reference section 6): field names exactly, MAC lower-case.

    Pending modify values are persisted: the controller stored the new config even
    though the guest still runs with the old one.
    """
    pending = dict(dev.pending)
    rec = {
        "port_ib_dev": dev.ib_dev,
        "pf_id": dev.pf_id,
        "function_type": "vf" if dev.kind == VF else "pf",
        "bdf_raw": dev.bdf_raw,
        "mac": str(pending.get("mac", dev.mac)).lower(),
        "pf_num": dev.pf_num,
        "sf_num": dev.sf_num,
        "mq": int(pending.get("num_queues", dev.num_queues)),
    }
    if dev.kind == VF:
        rec["vf_id"] = dev.vf_id
    else:
        rec["device_type"] = HOTPLUG if dev.kind == HOTPLUG else STATIC
    return rec
