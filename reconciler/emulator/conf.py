"""``virtnet.conf`` as the emulated controller reads it at start: defaults, MAC bases, checks."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.features import parse_features
from reconciler.macs import mac_add

__all__ = ["BOND_DEV", "DEFAULT_FEATURES", "ConfView", "conf_problems"]

# the controller computes its default at start ("Auto"); this is the README example value
DEFAULT_FEATURES = 0x230047082B
BOND_DEV = "mlx5_bond_0"
# locally administered bases for devices the operator gave no mac_base for
_STATIC_FALLBACK = "02:5a:00:00:00:00"
_VF_FALLBACK = "02:5b:00:00:00:00"


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
    def port_devs(self) -> dict[str, int]:
        """RDMA device name -> port number (pf_num) that hotplug ``-i`` accepts."""
        if self.is_lag:
            return {self.raw.get("ib_dev_lag") or BOND_DEV: 0}
        devs = {self.raw.get("ib_dev_p0", "mlx5_0"): 0}
        if not self.raw.get("single_port", 0):
            devs[self.raw.get("ib_dev_p1", "mlx5_1")] = 1
        return devs

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


def conf_problems(raw: object, num_vf: int) -> list[str]:
    """Every documented constraint a ``virtnet.conf`` breaks (what ``validate`` reports)."""
    if not isinstance(raw, dict):
        return ["virtnet.conf must be a JSON object"]
    problems = []
    if raw.get("ib_dev_lag") and (raw.get("ib_dev_p0") or raw.get("ib_dev_p1")):
        problems.append("ib_dev_lag must not be set together with ib_dev_p0/ib_dev_p1")
    if raw.get("is_lag") and raw.get("single_port"):
        problems.append("is_lag and single_port are mutually exclusive")
    for key in ("is_lag", "single_port", "recovery", "sf_pool_force_destroy"):
        if key in raw and raw[key] not in (0, 1):
            problems.append(f"{key} must be 0 or 1")
    pct = raw.get("sf_pool_percent", 0)
    if not isinstance(pct, int) or not 0 <= pct <= 100:
        problems.append("sf_pool_percent must be an integer 0-100")
    vf = raw.get("vf") or {}
    if isinstance(vf, dict) and vf.get("mac_base"):
        per = vf.get("vfs_per_pf")
        if not isinstance(per, int) or per < 1:
            problems.append("vf.vfs_per_pf is mandatory when vf.mac_base is set")
        elif per > num_vf:
            problems.append(f"vf.vfs_per_pf {per} exceeds VIRTIO_NET_EMULATION_NUM_VF {num_vf}")
    for section in ("static_pf", "vf"):
        try:
            ConfView(raw).features(section)
        except ValueError as exc:
            problems.append(f"{section}.features: {exc}")
    return problems
