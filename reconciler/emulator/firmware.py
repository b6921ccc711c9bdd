"""Firmware profile of the emulated DPU: the mlxconfig values the controller's limits come from."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.keys import Fw

__all__ = ["BOOL_PARAMS", "DEFAULT_PROFILE", "PARAMS", "FirmwareProfile", "parse_value"]


@dataclass(frozen=True, slots=True)
class FirmwareProfile:
    """The mlxconfig parameters the controller obeys (reference section 7).

    ``sriov_numvfs`` is not firmware but host state (how many VFs the host created
    per PF); it lives here because every layout decision needs both.
    """

    emulation_enable: int = 1
    num_pf: int = 2
    num_vf: int = 126
    num_msix: int = 64
    num_vf_msix: int = 0
    switch_enable: int = 1
    switch_ports: int = 16
    total_sf: int = 512

    def to_params(self) -> dict[str, int]:
        """mlxconfig parameter name -> value, in the order mlxconfig prints them."""
        return {name: getattr(self, attr) for name, attr in PARAMS.items()}

    @classmethod
    def from_params(cls, params: dict[str, int]) -> FirmwareProfile:
        known = {PARAMS[k]: int(v) for k, v in params.items() if k in PARAMS}
        return replace(DEFAULT_PROFILE, **known)

    @property
    def vf_msix(self) -> int:
        """Default MSI-X of an emulated VF: the VF knob when set, else the PF one."""
        return self.num_vf_msix or self.num_msix

    @property
    def hotplug_ports(self) -> int:
        """Usable switch ports: none when switch emulation is off."""
        return self.switch_ports if self.switch_enable else 0


# mlxconfig name -> dataclass attribute (an explicit registry, not getattr by convention)
PARAMS: dict[str, str] = {
    Fw.EMULATION_ENABLE: "emulation_enable",
    Fw.NUM_PF: "num_pf",
    Fw.NUM_VF: "num_vf",
    Fw.NUM_MSIX: "num_msix",
    Fw.NUM_VF_MSIX: "num_vf_msix",
    Fw.SWITCH_ENABLE: "switch_enable",
    Fw.SWITCH_NUM_PORT: "switch_ports",
    Fw.PF_TOTAL_SF: "total_sf",
}
BOOL_PARAMS = frozenset({Fw.EMULATION_ENABLE, Fw.SWITCH_ENABLE})
DEFAULT_PROFILE = FirmwareProfile()


def parse_value(name: str, text: str) -> int:
    """An mlxconfig ``KEY=VAL`` value: booleans accept True/False as mlxconfig does."""
    word = text.strip().lower()
    if name in BOOL_PARAMS and word in ("true", "false"):
        return int(word == "true")
    if word.endswith(")") and "(" in word:  # the "True(1)" form mlxconfig prints
        word = word[word.index("(") + 1 : -1]
    value = int(word, 0)
    if value < 0:
        raise ValueError(f"negative value for {name}")
    return value
