"""Spec and vendor key names, defined once so that no module retypes them as literals."""

from __future__ import annotations

__all__ = [
    "API_VERSION",
    "DEVICE_FIELDS",
    "GUEST_UNBIND_FIELDS",
    "IMMUTABLE_FIELDS",
    "KINDS",
    "KIND_CONTROLLER_CONFIG",
    "KIND_DEVICE",
    "KIND_DEVICE_SET",
    "KIND_FIRMWARE_PROFILE",
    "Fw",
    "Spec",
]

API_VERSION = "virtnet/v1"

KIND_DEVICE = "VirtioNetDevice"
KIND_DEVICE_SET = "VirtioNetDeviceSet"
KIND_CONTROLLER_CONFIG = "ControllerConfig"
KIND_FIRMWARE_PROFILE = "FirmwareProfile"
KINDS = (KIND_DEVICE, KIND_DEVICE_SET, KIND_CONTROLLER_CONFIG, KIND_FIRMWARE_PROFILE)


class Spec:
    """Field names of a VirtioNetDevice ``spec`` (the contract, DESIGN.md section 3)."""

    TYPE = "type"
    IB_DEVICE = "ib_device"
    PF_ID = "pf_id"
    VF_ID = "vf_id"
    MAC = "mac"
    MTU = "mtu"
    MAX_QUEUES = "max_queues"
    MAX_QUEUE_SIZE = "max_queue_size"
    FEATURES = "features"
    MSIX_NUM = "msix_num"
    SF_NUM = "sf_num"
    LEGACY = "legacy"
    REPRESENTOR = "representor"


# Fields the reconciler compares between desired and observed devices.
DEVICE_FIELDS = (
    Spec.MAC,
    Spec.MTU,
    Spec.MAX_QUEUES,
    Spec.MAX_QUEUE_SIZE,
    Spec.FEATURES,
    Spec.MSIX_NUM,
)

# The vendor README: these need the host to unbind virtio-pci before `modify`.
GUEST_UNBIND_FIELDS = frozenset(
    {Spec.MAC, Spec.MTU, Spec.FEATURES, Spec.MSIX_NUM, Spec.MAX_QUEUE_SIZE}
)

# `modify` cannot change these after creation: a change means unplug + hotplug.
IMMUTABLE_FIELDS = frozenset({Spec.TYPE, Spec.IB_DEVICE, Spec.SF_NUM, Spec.LEGACY})


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
