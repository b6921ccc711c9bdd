"""One handler per subcommand: parsed argv in, (exit code, stdout, stderr) and 'mutated' out."""

from __future__ import annotations

import errno as E
import os
from collections.abc import Iterable
from dataclasses import replace

from reconciler.emulator import mlxconfig
from reconciler.emulator.conf import conf_problems
from reconciler.emulator.controller import MAX_VIRT_QUEUES, Controller, VendorError
from reconciler.emulator.faults import MUTATING_OPS, FaultConfig
from reconciler.emulator.features_cap import SUPPORTED_FEATURES
from reconciler.emulator.firmware import DEFAULT_PROFILE
from reconciler.emulator.render import bitfield, device_object, success_text
from reconciler.emulator.state import ControllerState, Device, bdf_text
from reconciler.emulator.store import Store
from reconciler.features import FEATURE_BITS

__all__ = ["EMULATOR_OPS", "VENDOR_OPS", "init_state", "ok_text", "ordered", "params_of"]

CONTROLLER_VERSION = "v24.10.16"
_OK = {"errno": 0, "errstr": "Success"}
_NAMES = {bit: name for name, bit in FEATURE_BITS.items()}


def ok_text(params: dict | None = None) -> str:
    return success_text(_OK, params)


def ordered(devices: Iterable[Device]) -> list[Device]:
    """Devices in the order the controller lists them: by pf_id, a PF before its VFs."""
    return sorted(devices, key=lambda d: (d.pf_id, -1 if d.vf_id is None else d.vf_id))


def params_of(args) -> dict:
    """The request params the vendor client echoes (only what the user gave)."""
    skip = {"op", "netns", "version", "all", "brief", "latency_stats", "target"}
    out = {
        k: v for k, v in vars(args).items() if k not in skip and v is not None and v is not False
    }
    if "features" in out:
        out["features"] = hex(out["features"])
    return out


def init_state(store: Store, args, now: float) -> ControllerState:
    """A fresh controller: the default profile, or the one ``init`` asked for."""
    profile = DEFAULT_PROFILE
    if args is not None:
        values = {
            "num_pf": args.num_pf,
            "num_vf": args.num_vf,
            "num_msix": args.num_msix,
            "switch_ports": args.switch_ports,
            "total_sf": args.total_sf,
        }
        profile = replace(profile, **{k: v for k, v in values.items() if v is not None})
        if args.switch_ports == 0:
            profile = replace(profile, switch_enable=0)
        if args.total_sf is None:  # big profiles get enough SFs for every device
            need = profile.num_pf * (1 + profile.num_vf) + profile.hotplug_ports
            profile = replace(profile, total_sf=max(profile.total_sf, need))
        if args.force:
            store.clear_records()
    numvfs = profile.num_vf if args is None or args.sriov_numvfs is None else args.sriov_numvfs
    state = ControllerState(
        profile=profile, next_profile=profile, sriov=[min(numvfs, profile.num_vf)] * profile.num_pf
    )
    Controller(state, store, now).boot()
    return state


# ---- vendor subcommands ----------------------------------------------------------------
def _hotplug(ctrl: Controller, args):
    dev = ctrl.hotplug(
        args.ib_device,
        args.mac,
        args.mtu,
        args.max_queues,
        args.max_queue_size,
        args.features,
        args.sf_num,
        args.legacy,
    )
    result = {
        "bdf": bdf_text(dev.bdf_raw, padded=False),
        "vuid": dev.vuid,
        "id": dev.pf_id,
        "transitional": int(dev.legacy),
        "sf_rep_net_device": dev.representor,
        "mac": dev.mac.upper(),
        **_OK,
    }
    return (0, success_text(result, params_of(args)), ""), True


def _select(ctrl: Controller, args) -> Device:
    if args.vuid is None and args.pf_id is None:
        raise VendorError(E.EINVAL, "Specify a device with -p [-v] or -u")
    return ctrl.find(args.pf_id, getattr(args, "vf_id", None), args.vuid)


def _unplug(ctrl: Controller, args):
    ctrl.unplug(_select(ctrl, args))
    return (0, ok_text(params_of(args)), ""), True


def _objects(ctrl: Controller, devices: Iterable[Device], brief: bool) -> list[dict]:
    return [
        device_object(d, brief=brief, migrating=ctrl.migrating(d), features_names=_NAMES)
        for d in ordered(devices)
    ]


def _list(ctrl: Controller, args):
    state, profile = ctrl.state, ctrl.state.profile
    caps = {
        "emulation_manager": ctrl.conf.static_dev,
        "max_hotplug_devices": str(profile.hotplug_ports),
        "max_virt_net_devices": str(profile.num_pf * (1 + profile.num_vf) + profile.hotplug_ports),
        "max_virt_queues": str(min(profile.num_msix, MAX_VIRT_QUEUES)),
        "supported_features": bitfield(SUPPORTED_FEATURES, _NAMES),
        "sf_pool_size": profile.total_sf * ctrl.conf.sf_pool_percent // 100,
    }
    result = {"controller": caps, "devices": _objects(ctrl, state.devices.values(), True), **_OK}
    return (0, success_text(result), ""), False


def _query(ctrl: Controller, args):
    devices = list(ctrl.state.devices.values()) if args.all else [_select(ctrl, args)]
    result = {"devices": _objects(ctrl, devices, args.brief), **_OK}
    return (0, success_text(result, params_of(args)), ""), False


def _stats(ctrl: Controller, args):
    devices = list(ctrl.state.devices.values()) if args.all else [_select(ctrl, args)]
    rows = [
        {"vuid": d.vuid, "rx_packets": "0", "tx_packets": "0", "rx_bytes": "0", "tx_bytes": "0"}
        for d in ordered(devices)
    ]
    return (0, success_text({"devices": rows, **_OK}, params_of(args)), ""), False


_MODIFY_FIELDS = ("mac", "mtu", "features", "num_msix", "max_queue_size")


def _modify(ctrl: Controller, args):
    dev = _select(ctrl, args)
    if args.target == "queue":
        ctrl.modify_queue(dev, args.event_mode, args.period, args.max_count)
        return (0, ok_text(params_of(args)), ""), True
    changes = {k: getattr(args, k) for k in _MODIFY_FIELDS if getattr(args, k) is not None}
    if not changes:
        raise VendorError(E.EINVAL, "Nothing to modify")
    ctrl.modify_device(dev, changes)
    return (0, ok_text(params_of(args)), ""), True


def _log(ctrl: Controller, args):
    ctrl.state.log_level = args.level
    return (0, ok_text({"level": args.level}), ""), True


def _version(ctrl: Controller, args):
    result = [
        {"Original Controller": CONTROLLER_VERSION},
        {"Destination Controller": CONTROLLER_VERSION},
    ]
    return (0, success_text(result), ""), False


def _update(ctrl: Controller, args):
    if args.status:
        return (0, success_text(ctrl.update_status()), ""), False
    seconds = float(os.environ.get("VIRTNET_EMULATOR_UPDATE_SECONDS", "2.0"))
    ctrl.update_start(seconds)
    return (0, ok_text(), ""), True


def _restart(ctrl: Controller, args):
    ctrl.boot()
    return (0, ok_text(), ""), True


def _validate(ctrl: Controller, args):
    try:
        raw = ctrl.store.read_conf() or {}
    except ValueError as exc:
        raise VendorError(E.EINVAL, f"virtnet.conf is not valid JSON: {exc}") from None
    problems = conf_problems(raw, ctrl.state.profile.num_vf)
    if problems:
        raise VendorError(E.EINVAL, "; ".join(problems))
    return (0, ok_text(), ""), False


def _health(ctrl: Controller, args):
    result = {
        "status": "healthy",
        "devices": len(ctrl.state.devices),
        # when the controller last started: the reconciler keys apply-loop detection on it
        "started_at": f"{ctrl.state.started_at:.3f}",
        **_OK,
    }
    return (0, success_text(result), ""), False


VENDOR_OPS = {
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


# ---- emulator-only subcommands ---------------------------------------------------------
def _guest(ctrl: Controller, args):
    if not ctrl.state.running:
        raise VendorError(E.ENODEV, "controller is stopped")
    dev = _select(ctrl, args)
    (ctrl.guest_bind if args.action == "bind" else ctrl.guest_unbind)(dev)
    return (0, ok_text(), ""), True


def _host(ctrl: Controller, args):
    ctrl.host_sriov(args.pf_id, args.numvfs)
    return (0, ok_text(), ""), True


def _fault(ctrl: Controller, args):
    if args.action == "clear":
        ctrl.state.faults = FaultConfig()
    else:
        ops = tuple(args.ops.split(",")) if args.ops else MUTATING_OPS
        ctrl.state.faults = FaultConfig(
            fail_nth=args.fail_nth,
            fail_rate=args.fail_rate,
            seed=args.seed,
            latency_ms=args.latency_ms,
            crash_at=args.crash_at,
            ops=ops,
        )
    return (0, success_text(ctrl.state.faults.to_json()), ""), True


def _mlxconfig(ctrl: Controller, args):
    state = ctrl.state
    if args.command in ("q", "query"):
        text = mlxconfig.query_text(args.dev, state.profile, state.next_profile, args.show_default)
        return (0, text, ""), False
    try:
        state.next_profile, text = mlxconfig.apply_set(args.dev, state.next_profile, args.items)
    except ValueError as exc:
        return (1, "", f"{exc}\n"), False
    return (0, text, ""), True


def _power_cycle(ctrl: Controller, args):
    ctrl.power_cycle()
    return (0, ok_text(), ""), True


def _stop(ctrl: Controller, args):
    ctrl.state.running = False
    return (0, ok_text(), ""), True


def _start(ctrl: Controller, args):
    if not ctrl.state.running:
        ctrl.boot()
    return (0, ok_text(), ""), True


def _calls(ctrl: Controller, args):
    counts: dict[str, int] = {}
    for entry in ctrl.store.calls():
        counts[entry["op"]] = counts.get(entry["op"], 0) + 1
    if args.clear:
        ctrl.store.clear_calls()
    return (0, success_text(counts), ""), False


def _debug(ctrl: Controller, args):
    dev = ctrl.find(None, None, args.vuid)
    ctrl.state.devices[dev.vuid] = replace(dev, migrating_pin=args.state == "on")
    return (0, ok_text(), ""), True


EMULATOR_OPS = {
    "guest": _guest,
    "host": _host,
    "fault": _fault,
    "mlxconfig": _mlxconfig,
    "power-cycle": _power_cycle,
    "stop": _stop,
    "start": _start,
    "calls": _calls,
    "debug": _debug,
}
