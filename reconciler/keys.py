"""Names that are not fields: the API version, the spec kinds, the mlxconfig parameters.

Field names and what the controller does with each field are in :mod:`reconciler.fields`.
"""

from __future__ import annotations

__all__ = [
    "API_VERSION",
    "KINDS",
    "KIND_CONTROLLER_CONFIG",
    "KIND_DEVICE",
    "KIND_DEVICE_SET",
    "KIND_FIRMWARE_PROFILE",
    "Fw",
]

API_VERSION = "virtnet/v1"

KIND_DEVICE = "VirtioNetDevice"
KIND_DEVICE_SET = "VirtioNetDeviceSet"
KIND_CONTROLLER_CONFIG = "ControllerConfig"
KIND_FIRMWARE_PROFILE = "FirmwareProfile"
KINDS = (KIND_DEVICE, KIND_DEVICE_SET, KIND_CONTROLLER_CONFIG, KIND_FIRMWARE_PROFILE)


class Fw:
    """mlxconfig parameter names (reference section 7)."""

    EMULATION_ENABLE = "VIRTIO_NET_EMULATION_ENABLE"
    NUM_PF = "VIRTIO_NET_EMULATION_NUM_PF"
    NUM_VF = "VIRTIO_NET_EMULATION_NUM_VF"
    NUM_MSIX = "VIRTIO_NET_EMULATION_NUM_MSIX"
    NUM_VF_MSIX = "VIRTIO_NET_EMULATION_NUM_VF_MSIX"
    SWITCH_ENABLE = "PCI_SWITCH_EMULATION_ENABLE"
    SWITCH_NUM_PORT = "PCI_SWITCH_EMULATION_NUM_PORT"
    PF_TOTAL_SF = "PF_TOTAL_SF"
