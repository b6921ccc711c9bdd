"""Allocation of identities: VUIDs, host BDFs, hotplug pf_ids and switch ports, SF numbers."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "HOTPLUG_SF_BASE",
    "SERIAL",
    "SF_MIN",
    "STATIC_SF_BASE",
    "VF_SF_BASE",
    "SfAllocator",
    "hotplug_bdf",
    "hotplug_port_of",
    "lowest_free",
    "next_sf",
    "static_bdf",
    "vf_bdf",
    "vuid_for",
]

SERIAL = "MT2151X03152"  # board serial the VUIDs start with
SF_MIN = 1000  # the controller never uses SF numbers below this (reference section 8)
STATIC_SF_BASE = 1000
HOTPLUG_SF_BASE = 2000
VF_SF_BASE = 3000
_STATIC_BUS = 0x14
_VF_BUS = 0x15
_HOTPLUG_BUS = 0x84  # one bus per switch downstream port


def vuid_for(kind: str, pf_id: int, vf_id: int | None = None, port: int | None = None) -> str:
    """A stable VUID: hotplug PFs are named by switch port, so a port reused reuses its VUID."""
    if kind == "hotplug":
        return f"{SERIAL}VNETS1D{port}F0"
    if vf_id is None:
        return f"{SERIAL}VNETS0D0F{pf_id}"
    return f"{SERIAL}VNETS0D0F{pf_id}V{vf_id}"


def static_bdf(pf_id: int) -> int:
    return (_STATIC_BUS << 8) + pf_id


def vf_bdf(pf_id: int, vf_id: int, num_vf: int) -> int:
    """VFs of a PF take consecutive routing ids on their own bus range (256 ids per bus)."""
    buses = max(1, -(-num_vf // 256))
    return ((_VF_BUS + pf_id * buses) << 8) + vf_id


def hotplug_bdf(port: int) -> int:
    return (_HOTPLUG_BUS + port) << 8


def hotplug_port_of(bdf_raw: int) -> int:
    return (bdf_raw >> 8) - _HOTPLUG_BUS


def lowest_free(used: Iterable[int], start: int) -> int:
    """The lowest integer >= start not in ``used`` (ids and ports are reused after unplug)."""
    taken = set(used)
    n = start
    while n in taken:
        n += 1
    return n


def next_sf(used: set[int], base: int) -> int:
    """Next free SF number in a kind's range: static 1000+, hotplug 2000+, VF 3000+."""
    return lowest_free(used, base)


class SfAllocator:
    """``next_sf`` for many devices at once (controller start): each range keeps a cursor.

    ``next_sf`` walks from the range base every time, which is quadratic over the
    16384 VFs a start may create. Nothing is freed during a start, so starting from
    the last number handed out gives the same answer. The caller marks a number used
    (in the shared ``used`` set) once its device is admitted.
    """

    def __init__(self, used: set[int]) -> None:
        self.used = used
        self._cursor: dict[int, int] = {}

    def take(self, base: int) -> int:
        n = self._cursor.get(base, base)
        while n in self.used:
            n += 1
        self._cursor[base] = n
        return n
