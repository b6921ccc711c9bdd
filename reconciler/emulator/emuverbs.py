"""Emulator-only methods (not in the vendor CLI): the DPU, host and guest around the controller.

Each takes the core and the request params and returns a :class:`Reply`, printed by the
client as it is. They run in the service, or offline (under the service lock) when the
controller is not running; ``core.state`` says which.
"""

from __future__ import annotations

import errno as E
import json
import re
from collections import Counter
from dataclasses import replace
from typing import NamedTuple

from reconciler.emulator import mlxconfig
from reconciler.emulator.controller import Controller, StartRefused, VendorError, host_set_sriov
from reconciler.emulator.faults import MUTATING_OPS, FaultConfig
from reconciler.emulator.firmware import DEFAULT_PROFILE
from reconciler.emulator.modes import MODES, mode_value, parse_mode
from reconciler.emulator.render import dumps_indented
from reconciler.emulator.state import DpuState, representor_name

__all__ = ["VERBS", "Reply"]


class Reply(NamedTuple):
    code: int
    stdout: str
    stderr: str
    after: str | None = None  # "exit": the controller is gone once this is answered


_OK = dumps_indented({"errno": 0, "errstr": "Success"}) + "\n"
# IFNAMSIZ is 16 with the NUL; the kernel refuses "/", ":" and whitespace in names
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_VERSION = re.compile(r"^v?\d+(\.\d+){1,3}$")


def _ok() -> Reply:
    return Reply(0, _OK, "")


def _json(value: object) -> Reply:
    return Reply(0, dumps_indented(value) + "\n", "")


def _ctrl(core) -> Controller:
    if core.state is None:
        raise VendorError(E.ENODEV, "controller is not running")
    return Controller(core.state, core.dpu, core.persist, core.clock())


def _restart_after_change(core) -> str | None:
    """In the service, the controller starts again at once; offline, at its next use."""
    if not getattr(core, "serving", False):
        return None
    if not core.dpu.profile.emulation_enable:
        return "exit"  # firmware disables emulation: the service does not run
    try:
        core.start_controller()
    except StartRefused:
        return "exit"
    return None


# ---- the DPU -----------------------------------------------------------------------------
def _init(core, p) -> Reply:
    """A fresh DPU: firmware from the options, every VF created, faults and modes reset."""
    profile = DEFAULT_PROFILE
    values = {
        "num_pf": p.num_pf,
        "num_vf": p.num_vf,
        "num_msix": p.num_msix,
        "switch_ports": p.switch_ports,
        "total_sf": p.total_sf,
    }
    profile = replace(profile, **{k: v for k, v in values.items() if v is not None})
    if p.switch_ports == 0:
        profile = replace(profile, switch_enable=0)
    if p.total_sf is None:  # big profiles get enough SFs for every device
        need = profile.num_pf * (1 + profile.num_vf) + profile.hotplug_ports
        profile = replace(profile, total_sf=max(profile.total_sf, need))
    if p.force:
        core.persist.clear_records()
    numvfs = profile.num_vf if p.sriov_numvfs is None else min(p.sriov_numvfs, profile.num_vf)
    core.state = None
    core.persist.drop_hibernation()
    core.dpu = DpuState(
        profile=profile, next_profile=profile, sriov=[numvfs] * profile.num_pf,
        netns=core.dpu.netns,
    )  # fmt: skip
    core.log("emulator: DPU initialised")
    return Reply(0, _OK, "", _restart_after_change(core))


def _power_cycle(core, p) -> Reply:
    """Next-boot firmware becomes current; the host re-creates its VFs; RAM (SF pool) is gone."""
    dpu = core.dpu
    core.state = None
    core.persist.drop_hibernation()
    dpu.profile = dpu.next_profile
    dpu.sriov = [dpu.profile.num_vf] * dpu.profile.num_pf
    dpu.sf_pool = {}
    dpu.stopped = False  # the service is enabled: it starts at boot (if firmware allows)
    core.log("emulator: DPU power cycle")
    return Reply(0, _OK, "", _restart_after_change(core))


def _stop(core, p) -> Reply:
    """systemctl stop: the controller stops and stays stopped until ``start``."""
    core.dpu.stopped = True
    core.stop_controller(hibernate=False)
    return Reply(0, _OK, "", "exit" if getattr(core, "serving", False) else None)


def _start(core, p) -> Reply:
    """systemctl start, the DPU side: the service may run again (the client starts it)."""
    core.dpu.stopped = False
    return _ok()


def _mlxconfig(core, p) -> Reply:
    dpu = core.dpu
    if p.command in ("q", "query"):
        text = mlxconfig.query_text(p.dev, dpu.profile, dpu.next_profile, bool(p.show_default))
        return Reply(0, text, "")
    try:
        dpu.next_profile, text = mlxconfig.apply_set(p.dev, dpu.next_profile, p.items or [])
    except ValueError as exc:
        return Reply(1, "", f"{exc}\n")
    return Reply(0, text, "")


def _host(core, p) -> Reply:
    if core.state is not None:
        _ctrl(core).host_sriov(p.pf_id, p.numvfs)
    else:
        host_set_sriov(core.dpu, core.persist, p.pf_id, p.numvfs)
        core.persist.drop_hibernation()
    return _ok()


def _fault(core, p) -> Reply:
    if p.action == "clear":
        core.dpu.faults = FaultConfig()
        return _json(core.dpu.faults.to_json())
    deadline = mode_value(core.dpu.modes, "call_deadline_s")
    if p.latency_ms and p.latency_ms / 1000 > deadline:
        raise VendorError(
            E.EINVAL,
            f"latency {p.latency_ms:g} ms exceeds the call deadline of {deadline:g} s "
            "(every received call lands within it: mode call_deadline_s)",
        )
    ops = tuple(p.ops.split(",")) if p.ops else MUTATING_OPS
    core.dpu.faults = FaultConfig(
        fail_nth=p.fail_nth,
        fail_rate=p.fail_rate or 0.0,
        seed=p.seed or 0,
        latency_ms=p.latency_ms or 0.0,
        crash_at=p.crash_at,
        ops=ops,
    )
    return _json(core.dpu.faults.to_json())


def _calls(core, p) -> Reply:
    counts: Counter[str] = Counter(entry.get("op") for entry in core.persist.calls())
    if p.clear:
        core.persist.clear_calls()
    return _json(dict(counts))


def _journal(core, p) -> Reply:
    lines = core.persist.journal()
    if p.lines is not None:
        lines = lines[-p.lines :] if p.lines > 0 else []
    return Reply(0, "".join(line + "\n" for line in lines), "")


def _install(core, p) -> Reply:
    """dpkg -i / rpm -U of a controller package: installed, not running until update/start."""
    version = str(p.package_version)
    if not _VERSION.match(version):
        raise VendorError(E.EINVAL, f"not a controller version: {version!r} (e.g. v25.04.8)")
    core.dpu.installed = version if version.startswith("v") else f"v{version}"
    core.log(f"emulator: package virtio-net-controller {core.dpu.installed} installed")
    return _ok()


def _mode(core, p) -> Reply:
    modes = core.dpu.modes
    if p.action == "reset":
        modes.clear()
    elif p.action == "set":
        try:
            parsed = [parse_mode(item) for item in p.items or []]
        except ValueError as exc:
            raise VendorError(E.EINVAL, str(exc)) from None
        modes.update(parsed)
    return _json({name: mode_value(modes, name) for name in MODES})


# ---- SFs of other applications, and udev names of representors -------------------------
def _sf(core, p) -> Reply:
    dpu = core.dpu
    if p.action == "add":
        return _sf_add(core, p.port, p.sfnum, p.app or "other")
    if p.action == "del":
        kept = [x for x in dpu.other_sfs if (x[0], x[1]) != (p.port, p.sfnum)]
        if len(kept) == len(dpu.other_sfs):
            raise VendorError(E.ENOENT, f"no SF {p.sfnum} of another application on port {p.port}")
        dpu.other_sfs = kept
        return _ok()
    if p.action == "budget":
        return _json(_budget(core))
    return _devlink_show(core, bool(p.json))


def _sf_add(core, port: int, sfnum: int | None, app: str) -> Reply:
    dpu = core.dpu
    if sfnum is None or sfnum < 0:
        raise VendorError(E.EINVAL, "sf add needs --sfnum N")
    if port not in (0, 1):
        raise VendorError(E.EINVAL, "--port must be 0 or 1")
    taken = {sf for _p, sf, _a in dpu.other_sfs}
    if core.state is not None:
        taken |= core.state.sf_used
    if sfnum in taken:
        raise VendorError(E.EEXIST, f"SF number {sfnum} is already in use")
    row = _budget(core)[f"port{port}"]
    if row["free"] < 1:
        raise VendorError(
            E.ENOSPC,
            f"no free SF on port {port}: PF_TOTAL_SF {row['PF_TOTAL_SF']}, the controller "
            f"holds {row['controller']}, other applications {row['other_applications']}",
        )
    dpu.other_sfs.append((port, sfnum, app))
    return _ok()


def _budget(core) -> dict:
    """PF_TOTAL_SF per port and who holds it: the controller max(pool, devices), others."""
    dpu, state = core.dpu, core.state
    out = {}
    for port in (0, 1):
        devices = state.per_port[port] if state is not None else 0
        pool = dpu.sf_pool.get(port, 0)
        held = max(pool, devices)
        others = dpu.others_on(port)
        out[f"port{port}"] = {
            "PF_TOTAL_SF": dpu.profile.total_sf,
            "sf_pool": pool,
            "controller_devices": devices,
            "controller": held,
            "other_applications": others,
            "free": max(0, dpu.profile.total_sf - held - others),
        }
    return out


def _devlink_show(core, as_json: bool) -> Reply:
    """``devlink port show`` of the SF ports: the controller's and other applications'."""
    rows = []
    if core.state is not None:
        for dev in core.state.ordered():
            rows.append((dev.pf_num, dev.sf_num, dev.representor, dev.mac))
    for port, sfnum, _app in core.dpu.other_sfs:
        rows.append((port, sfnum, representor_name(port, sfnum), "00:00:00:00:00:00"))
    ports = {}
    lines = []
    for pf, sf, netdev, mac in sorted(rows):
        handle = f"pci/0000:03:00.{pf}/{0x38000 + (pf << 16) + sf}"
        ports[handle] = {
            "type": "eth", "netdev": netdev, "flavour": "pcisf", "controller": 0,
            "pfnum": pf, "sfnum": sf, "splittable": False,
            "function": {"hw_addr": mac, "state": "active", "opstate": "attached"},
        }  # fmt: skip
        lines.append(
            f"{handle}: type eth netdev {netdev} flavour pcisf controller 0 pfnum {pf} "
            f"sfnum {sf} splittable false\n  function:\n"
            f"    hw_addr {mac} state active opstate attached\n"
        )
    if as_json:
        return Reply(0, json.dumps({"port": ports}) + "\n", "")
    return Reply(0, "".join(lines), "")


def _udev(core, p) -> Reply:
    rules = core.dpu.udev
    if p.action == "show":
        return _json([{"pf_num": pf, "sf_num": sf, "name": n} for (pf, sf), n in rules.items()])
    if p.sf_num is None:
        raise VendorError(E.EINVAL, f"udev {p.action} needs --sf-num N")
    key = (p.pf_num or 0, p.sf_num)
    if p.action == "del":
        if rules.pop(key, None) is None:
            raise VendorError(E.ENOENT, f"no udev rule for pf {key[0]} sf {key[1]}")
        return _ok()
    if not p.name or not _IFNAME.match(p.name):
        raise VendorError(
            E.EINVAL, f"invalid interface name {p.name!r} (1-15 of A-Z a-z 0-9 _ . -)"
        )
    if p.name in rules.values() and rules.get(key) != p.name:
        raise VendorError(E.EEXIST, f"another udev rule already names a representor {p.name}")
    rules[key] = p.name
    return _ok()


# ---- guest and debug (need a running controller) --------------------------------------------
def _guest(core, p) -> Reply:
    ctrl = _ctrl(core)
    if p.vuid is None and p.pf_id is None:
        raise VendorError(E.EINVAL, "Specify a device with -p [-v] or -u")
    dev = ctrl.find(p.pf_id, p.vf_id, p.vuid)
    (ctrl.guest_bind if p.action == "bind" else ctrl.guest_unbind)(dev)
    return _ok()


def _debug(core, p) -> Reply:
    ctrl = _ctrl(core)
    dev = ctrl.find(None, None, p.vuid)
    core.state.put(replace(dev, migrating_pin=p.state == "on"))
    return _ok()


def _dump(core, p) -> Reply:
    """The whole model as JSON, for tests' typed helpers (``Emulator.devices()``)."""
    state = core.state
    body = {
        "running": state is not None,
        "dpu": core.dpu.to_json(),
        "controller": None if state is None else {**state.to_json(), "devices": None},
        "devices": [] if state is None else [d.to_row() for d in state.ordered()],
    }
    return Reply(0, json.dumps(body) + "\n", "")


VERBS = {
    "init": _init,
    "power-cycle": _power_cycle,
    "stop": _stop,
    "start": _start,
    "mlxconfig": _mlxconfig,
    "host": _host,
    "fault": _fault,
    "calls": _calls,
    "journal": _journal,
    "install": _install,
    "mode": _mode,
    "sf": _sf,
    "udev": _udev,
    "guest": _guest,
    "debug": _debug,
    "dump": _dump,
}
# what works while the controller does not run (the DPU itself, firmware, host, files)
OFFLINE = frozenset(VERBS) - {"guest", "debug"}
