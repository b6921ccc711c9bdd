"""``virtnet.conf`` as the emulated controller reads it at start: defaults, checks, verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass

from reconciler.features import parse_features
from reconciler.macs import mac_add

__all__ = [
    "BOND_DEV",
    "DEFAULT_FEATURES",
    "ConfVerdict",
    "ConfView",
    "conf_problems",
    "judge_conf",
]

# the controller computes its default at start ("Auto"); this is the README example value
DEFAULT_FEATURES = 0x230047082B
BOND_DEV = "mlx5_bond_0"
# locally administered bases for devices the operator gave no mac_base for
_STATIC_FALLBACK = "02:5a:00:00:00:00"
_VF_FALLBACK = "02:5b:00:00:00:00"
_FLAGS = ("is_lag", "single_port", "recovery", "sf_pool_force_destroy")
_DEVS = ("ib_dev_p0", "ib_dev_p1", "ib_dev_lag", "ib_dev_for_static_pf")


@dataclass(frozen=True, slots=True)
class ConfView:
    """Typed view of a (validated) ``virtnet.conf`` dict; missing keys get vendor defaults."""

    raw: dict

    def _sub(self, section: str, key: str):
        sub = self.raw.get(section)
        if isinstance(sub, dict) and sub.get(key) is not None:
            return sub[key]
        if section == "static_pf":  # 1.9 put these at the top level
            return self.raw.get(key)
        return None

    @property
    def is_lag(self) -> bool:
        return bool(self.raw.get("is_lag", 0))

    @property
    def recovery(self) -> bool:
        return bool(self.raw.get("recovery", 1))

    @property
    def sf_pool_percent(self) -> int:
        return int(self.raw.get("sf_pool_percent", 0))

    @property
    def sf_pool_force_destroy(self) -> bool:
        return bool(self.raw.get("sf_pool_force_destroy", 0))

    @property
    def port_devs(self) -> dict[str, int]:
        """RDMA device name -> port number (pf_num) that hotplug ``-i`` accepts."""
        if self.is_lag:
            return {self.raw.get("ib_dev_lag") or BOND_DEV: 0}
        devs = {self.raw.get("ib_dev_p0", "mlx5_0"): 0}
        if not self.raw.get("single_port", 0):
            devs[self.raw.get("ib_dev_p1", "mlx5_1")] = 1
        return devs

    @property
    def emulation_manager(self) -> str:
        """Page: ib_dev_p0 is the EMU manager when is_lag is 0, ib_dev_lag when it is 1."""
        if self.is_lag:
            return self.raw.get("ib_dev_lag") or BOND_DEV
        return self.raw.get("ib_dev_p0", "mlx5_0")

    @property
    def static_dev(self) -> str:
        default = (self.raw.get("ib_dev_lag") or BOND_DEV) if self.is_lag else "mlx5_0"
        return self.raw.get("ib_dev_for_static_pf") or default

    def features(self, section: str) -> int:
        value = self._sub(section, "features")
        if value in (None, "Auto", "auto", 0):
            return DEFAULT_FEATURES
        return parse_features(value)

    def static_mac(self, pf_id: int) -> str:
        """pf0 = mac_base, pf1 = mac_base + 1, ... (vendor rule)."""
        base = self._sub("static_pf", "mac_base")
        return mac_add(base or _STATIC_FALLBACK, pf_id)

    def vf_mac(self, pf_id: int, vf_id: int, num_vf: int) -> str:
        """vfN of pfP = mac_base + P * vfs_per_pf + N (vendor rule)."""
        base = self._sub("vf", "mac_base")
        if base:
            return mac_add(base, pf_id * int(self._sub("vf", "vfs_per_pf")) + vf_id)
        return mac_add(_VF_FALLBACK, pf_id * num_vf + vf_id)

    @property
    def vf_qp_num(self) -> int | None:
        """QPs of each VF; ``None``: taken from the parent PF (page)."""
        value = self._sub("vf", "qp_num")
        return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class ConfVerdict:
    """What the controller does with the file at start.

    ``action``: ``"use"`` (the file, or no file), ``"ignore"`` (boot with defaults),
    ``"refuse"`` (invalid: the controller does not start). ``why`` is its log line.
    """

    conf: dict
    action: str
    why: str = ""


def judge_conf(text: bytes | None, num_vf: int, invalid: str = "refuse") -> ConfVerdict:
    """The controller's reading of ``virtnet.conf`` (``None``: no file).

    ``invalid`` is what an invalid file does: ``"refuse"`` (25.10 validates and does
    not start; older builds crash) or ``"ignore"`` (boot with defaults).
    """
    if text is None:
        return ConfVerdict({}, "use")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return _invalid([f"not valid JSON: {exc}"], invalid)
    problems = conf_problems(raw, num_vf, exceed=False)
    if problems:
        return _invalid(problems, invalid)
    too_many = _vfs_per_pf_excess(raw, num_vf)
    if too_many:
        return ConfVerdict({}, "ignore", f"virtnet.conf ignored, using defaults: {too_many}")
    return ConfVerdict(raw, "use")


def _invalid(problems: list[str], invalid: str) -> ConfVerdict:
    text = "; ".join(problems)
    if invalid == "ignore":
        return ConfVerdict({}, "ignore", f"virtnet.conf is invalid, using defaults: {text}")
    return ConfVerdict({}, "refuse", f"virtnet.conf is invalid, not starting: {text}")


def _vfs_per_pf_excess(raw: dict, num_vf: int) -> str | None:
    vf = raw.get("vf")
    per = vf.get("vfs_per_pf") if isinstance(vf, dict) else None
    if isinstance(per, int) and not isinstance(per, bool) and per > num_vf:
        return f"vf.vfs_per_pf {per} exceeds VIRTIO_NET_EMULATION_NUM_VF {num_vf}"
    return None


def conf_problems(raw: object, num_vf: int, *, exceed: bool = True) -> list[str]:
    """Every documented constraint a ``virtnet.conf`` breaks (what ``validate`` reports).

    ``exceed=False`` leaves out ``vfs_per_pf`` > NUM_VF: the controller ignores such a
    file rather than refusing it (the page: vfs_per_pf <= VIRTIO_NET_EMULATION_NUM_VF).
    """
    if not isinstance(raw, dict):
        return ["virtnet.conf must be a JSON object"]
    problems = [f"{k} must be a device name string" for k in _DEVS if _bad_str(raw, k)]
    problems += [f"{k} must be 0 or 1" for k in _FLAGS if k in raw and not _flag(raw[k])]
    if raw.get("ib_dev_lag") is not None and (
        raw.get("ib_dev_p0") is not None or raw.get("ib_dev_p1") is not None
    ):
        problems.append("ib_dev_lag and ib_dev_p0/ib_dev_p1 cannot be configured simultaneously")
    if raw.get("is_lag") and raw.get("single_port"):
        problems.append("is_lag and single_port are mutually exclusive")
    pct = raw.get("sf_pool_percent", 0)
    if not _int(pct) or not 0 <= pct <= 100:
        problems.append("sf_pool_percent must be an integer 0-100")
    for section in ("static_pf", "vf"):
        sub = raw.get(section)
        if sub is not None and not isinstance(sub, dict):
            problems.append(f"{section} must be an object")
    problems += _section_problems(raw, num_vf, exceed)
    return problems


def _section_problems(raw: dict, num_vf: int, exceed: bool) -> list[str]:
    problems = []
    for where, base in (
        ("mac_base", raw.get("mac_base")),
        ("static_pf.mac_base", _get(raw, "static_pf", "mac_base")),
        ("vf.mac_base", _get(raw, "vf", "mac_base")),
    ):
        if base is not None and (not isinstance(base, str) or len(base) != 17):
            problems.append(f"{where} must be a 17-character MAC string")
        elif base is not None:
            try:  # base + N needs hex digits (the vendor only checks the length)
                mac_add(base, 0)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
    vf = raw.get("vf") if isinstance(raw.get("vf"), dict) else {}
    per = vf.get("vfs_per_pf")
    if per is not None and (not _int(per) or per < 1):
        problems.append("vf.vfs_per_pf must be a positive integer")
    elif vf.get("mac_base") and per is None:
        problems.append("vf.vfs_per_pf is mandatory when vf.mac_base is set")
    elif exceed and per is not None and per > num_vf:
        problems.append(f"vf.vfs_per_pf {per} exceeds VIRTIO_NET_EMULATION_NUM_VF {num_vf}")
    qp = vf.get("qp_num")
    if qp is not None and (not _int(qp) or not 1 <= qp <= 128):
        problems.append("vf.qp_num must be an integer 1-128")
    for section in ("static_pf", "vf"):
        try:
            ConfView(raw).features(section)
        except (ValueError, TypeError) as exc:
            problems.append(f"{section}.features: {exc}")
    return problems


def _get(raw: dict, section: str, key: str):
    sub = raw.get(section)
    return sub.get(key) if isinstance(sub, dict) else None


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(value: object) -> bool:
    return _int(value) and value in (0, 1)


def _bad_str(raw: dict, key: str) -> bool:
    return key in raw and not (isinstance(raw[key], str) and raw[key])
