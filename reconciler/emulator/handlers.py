"""The vendor methods: JSON-RPC params in, a result (or a VendorError) out, as the controller."""

from __future__ import annotations

import errno as E
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.emulator.conf import ConfView, conf_problems
from reconciler.emulator.controller import MAX_VIRT_QUEUES, Controller, StartRefused, VendorError
from reconciler.emulator.features_cap import SUPPORTED_FEATURES
from reconciler.emulator.render import (
    DEVICE_PAD,
    DeviceTexts,
    bitfield,
    device_object,
    devices_result_text,
    indented,
)
from reconciler.emulator.state import Device, bdf_text
from reconciler.features import FEATURE_BITS

__all__ = ["OK", "VENDOR_METHODS", "Call", "ControllerDown", "Params", "Rendered"]

OK = {"errno": 0, "errstr": "Success"}
_NAMES = {bit: name for name, bit in FEATURE_BITS.items()}
# JSON-RPC 2.0: the method does not exist (an old controller asked for "update")
METHOD_NOT_FOUND = -32601


class Params:
    """Request params with attribute access; an absent param reads as None."""

    __slots__ = ("_values",)

    def __init__(self, values: dict) -> None:
        self._values = values

    def __getattr__(self, name: str):
        return self._values.get(name)

    def get(self, name: str, default=None):
        return self._values.get(name, default)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A result already rendered as ``json.dumps(result, indent=2)`` would."""

    text: str


class ControllerDown(VendorError):
    """The call was answered, then the controller is gone (a restart that could not start)."""


@dataclass
class Call:
    """One method call: the controller, the params, and what the service keeps for it."""

    ctrl: Controller
    p: Params
    texts: DeviceTexts = field(default_factory=DeviceTexts)
    update_seconds: float = 2.0
    log: list[str] = field(default_factory=list)  # lines for the service log


def _hotplug(call: Call):
    p = call.p
    dev = call.ctrl.hotplug(
        p.ib_device, p.mac, p.mtu, p.max_queues, p.max_queue_size, p.features, p.sf_num,
        bool(p.legacy),
    )  # fmt: skip
    result = {"bdf": bdf_text(dev.bdf_raw, padded=False)}
    if call.ctrl.mode("hotplug_vuid"):  # older controllers answer without it
        result["vuid"] = dev.vuid
    result |= {
        "id": dev.pf_id,
        "transitional": int(dev.legacy),
        "sf_rep_net_device": dev.representor,
        "mac": dev.mac.upper(),
        **OK,
    }
    return result


def _select(call: Call) -> Device:
    p = call.p
    if p.vuid is None and p.pf_id is None:
        raise VendorError(E.EINVAL, "Specify a device with -p [-v] or -u")
    return call.ctrl.find(p.pf_id, p.vf_id, p.vuid)


def _unplug(call: Call):
    call.ctrl.unplug(_select(call))
    return OK


def _devices_text(call: Call, devices: list[Device], brief: bool, head: dict) -> Rendered:
    ctrl, show_status = call.ctrl, bool(call.ctrl.mode("dev_status"))
    texts = []
    for dev in devices:
        if ctrl.migrating(dev):
            obj = device_object(dev, brief=brief, migrating=True, features_names=_NAMES)
            texts.append(indented(obj, DEVICE_PAD))
        else:
            texts.append(call.texts.text(dev, brief=brief, dev_status=show_status, names=_NAMES))
    return Rendered(devices_result_text(head, texts, OK))


def _list(call: Call):
    ctrl = call.ctrl
    profile, conf = ctrl.dpu.profile, ConfView(ctrl.state.conf)
    caps = {
        "emulation_manager": conf.emulation_manager,
        "is_lag": int(conf.is_lag),
        "max_hotplug_devices": str(profile.hotplug_ports),
        "max_virt_net_devices": str(profile.num_pf * (1 + profile.num_vf) + profile.hotplug_ports),
        "max_virt_queues": str(min(profile.num_msix, MAX_VIRT_QUEUES)),
        "supported_features": bitfield(SUPPORTED_FEATURES, _NAMES),
        "sf_pool_size": max(ctrl.dpu.sf_pool.values(), default=0),
    }
    return _devices_text(call, ctrl.state.ordered(), True, {"controller": caps})


def _query(call: Call):
    devices = call.ctrl.state.ordered() if call.p.all else [_select(call)]
    return _devices_text(call, devices, bool(call.p.brief), {})


def _stats(call: Call):
    devices = call.ctrl.state.ordered() if call.p.all else [_select(call)]
    rows = [
        {"vuid": d.vuid, "rx_packets": "0", "tx_packets": "0", "rx_bytes": "0", "tx_bytes": "0"}
        for d in devices
    ]
    return {"devices": rows, **OK}


_MODIFY_FIELDS = ("mac", "mtu", "features", "num_msix", "max_queue_size")


def _modify(call: Call):
    p = call.p
    dev = _select(call)
    if p.target == "queue":
        call.ctrl.modify_queue(dev, p.event_mode, p.period, p.max_count)
        return OK
    changes = {k: p.get(k) for k in _MODIFY_FIELDS if p.get(k) is not None}
    if not changes:
        raise VendorError(E.EINVAL, "Nothing to modify")
    call.ctrl.modify_device(dev, changes)
    return OK


def _log(call: Call):
    call.ctrl.state.log_level = call.p.level
    return OK


def _version(call: Call):
    """Page: the versions of the controller running and of the one just installed."""
    return [
        {"Original Controller": call.ctrl.state.version},
        {"Destination Controller": call.ctrl.dpu.installed},
    ]


def _update(call: Call):
    if call.ctrl.mode("update") == "unsupported":
        raise VendorError(E.EOPNOTSUPP, "Method not found", code=METHOD_NOT_FOUND)
    if call.p.status or call.p.action == "status":
        return call.ctrl.update_status()
    call.ctrl.update_start(call.update_seconds)
    return OK


def _restart(call: Call):
    """Fast restart in the service (24.10+): the same rebuild from records as a start."""
    ctrl = call.ctrl
    call.log += ctrl.stop()
    try:
        call.log += ctrl.start()
    except StartRefused as exc:
        call.log.append(str(exc))
        raise ControllerDown(E.EINVAL, f"controller restart failed: {exc}") from None
    call.texts.clear()
    return OK


def _validate(call: Call):
    import json

    text = call.ctrl.persist.read_conf()
    try:
        raw = {} if text is None else json.loads(text)
    except ValueError as exc:
        raise VendorError(E.EINVAL, f"virtnet.conf is not valid JSON: {exc}") from None
    problems = conf_problems(raw, call.ctrl.dpu.profile.num_vf)
    if problems:
        raise VendorError(E.EINVAL, "; ".join(problems))
    return OK


def _health(call: Call):
    state = call.ctrl.state
    return {
        "status": "healthy",
        "devices": len(state.devices),
        # when the controller last started: the reconciler keys apply-loop detection on it
        "started_at": f"{state.started_at:.3f}",
        **OK,
    }


VENDOR_METHODS: dict[str, Callable[[Call], object]] = {
    "hotplug": _hotplug,
    "unplug": _unplug,
    "list": _list,
    "query": _query,
    "modify": _modify,
    "log": _log,
    "version": _version,
    "update": _update,
    "restart": _restart,
    "validate": _validate,
    "health": _health,
    "stats": _stats,
}
# methods that change the controller (their records, devices or settings)
MUTATING = frozenset({"hotplug", "unplug", "modify", "log", "update", "restart"})
