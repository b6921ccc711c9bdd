"""RDMA device inventory through pyverbs (from rdma-core, imported lazily); absence is a note."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["SYSFS_INFINIBAND", "RdmaInventory", "list_rdma_devices"]

SYSFS_INFINIBAND = "/sys/class/infiniband"
_NO_PYVERBS = "pyverbs not installed (apt-get install python3-pyverbs)"


@dataclass(frozen=True, slots=True)
class RdmaInventory:
    """The RDMA device names, or ``None`` with the reason they could not be read."""

    devices: tuple[str, ...] | None
    problem: str | None = None


def list_rdma_devices(sysfs: str = SYSFS_INFINIBAND) -> RdmaInventory:
    """Names of the RDMA devices (``mlx5_0``, ...); never raises for a missing stack.

    Checked before pyverbs is asked because libibverbs only says "failed to get
    devices list" when the whole subsystem is absent, which explains nothing.
    """
    try:
        from pyverbs.device import get_device_list
    except ImportError:
        return RdmaInventory(None, _NO_PYVERBS)
    except Exception as e:  # a broken binary module (ABI mismatch) must not crash observe
        return RdmaInventory(None, f"pyverbs cannot be loaded: {e}")
    if not os.path.isdir(sysfs):
        return RdmaInventory(None, f"no RDMA subsystem: {sysfs} is missing")
    try:
        devices = get_device_list()
    except Exception as e:  # PyverbsRDMAError and friends; their base class is pyverbs'
        return RdmaInventory(None, f"cannot list RDMA devices: {e}")
    return RdmaInventory(tuple(sorted(_name(dev) for dev in devices)))


def _name(device: object) -> str:
    name = getattr(device, "name", device)
    return name.decode() if isinstance(name, bytes) else str(name)
