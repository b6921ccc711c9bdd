"""JSON Schemas (draft 2020-12) of every spec kind: the single source of what a valid document is.

``schemas/*.json`` are exported from here (``python -m reconciler.loading.schema DIR``) and a
test keeps them identical. Ranges the vendor does not document (reference section 14,
question 5) are this project's choices: MTU 68..9216 (IPv4 minimum .. the BlueField uplink
maximum), max_queues 1..256 (the controller's ``max_virt_queues`` in the reference's
example), max_queue_size a power of two 64..32768 (virtio split-ring limit), msix_num
2..256 (one config vector plus at least one queue vector), sf_num 1000..65535 (the
controller never uses SF numbers below 1000), ``vf.qp_num`` 1..128 (a queue pair is two
virtqueues, and 256 is the controller's ``max_virt_queues`` in the reference's example).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reconciler.fields import Conf, Spec
from reconciler.keys import (
    API_VERSION,
    KIND_CONTROLLER_CONFIG,
    KIND_DEVICE,
    KIND_DEVICE_SET,
    KIND_FIRMWARE_PROFILE,
    Fw,
)

__all__ = ["FIRMWARE_PARAMETERS", "SCHEMAS", "export", "render", "schema_for"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
# "(?!\n)$", not "$": Python's "$" (jsonschema uses re.search) also matches before
# a trailing newline, so "web\n" would pass; the lookahead means the same in ECMA 262.
_END = r"(?!\n)$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?" + _END
MAC_PATTERN = r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}" + _END
IB_DEVICE_PATTERN = r"^mlx5_(bond_)?[0-9]+" + _END
HEX_PATTERN = r"^(0[xX])?[0-9a-fA-F]{1,16}" + _END
FEATURE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*" + _END
VF_IDS_PATTERN = r"^[ ]*[0-9]+([ ]*-[ ]*[0-9]+)?([ ]*,[ ]*[0-9]+([ ]*-[ ]*[0-9]+)?)*[ ]*" + _END

# mlxconfig parameters a FirmwareProfile may state (reference section 7).
FIRMWARE_PARAMETERS = (
    Fw.EMULATION_ENABLE,
    Fw.NUM_PF,
    Fw.NUM_VF,
    Fw.NUM_MSIX,
    Fw.NUM_VF_MSIX,
    Fw.SWITCH_ENABLE,
    Fw.SWITCH_NUM_PORT,
    Fw.PF_TOTAL_SF,
    "NUM_VF_MSIX",
    "VIRTIO_NET_EMULATION_PF_PCI_LAYOUT",
    "VIRTIO_EMULATION_HOTPLUG_TRANS",
    "VIRTIO_NET_EMULATION_VF_PCI_LAYOUT",
    "VIRTIO_NET_EMU_SUBSYSTEM_VENDOR_ID",
    "VIRTIO_NET_EMULATION_SUBSYSTEM_ID",
    "PF_SF_BAR_SIZE",
    "PER_PF_NUM_SF",
    "PF_BAR2_ENABLE",
    "ECPF_ESWITCH_MANAGER",
    "ECPF_PAGE_SUPPLIER",
    "SRIOV_EN",
    "NUM_OF_VFS",
)


def _int(minimum: int, maximum: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


_FLAG = {"type": "integer", "enum": [0, 1]}
_MAC = {"type": "string", "pattern": MAC_PATTERN, "description": "unicast MAC, xx:xx:xx:xx:xx:xx"}
_IB = {"type": "string", "pattern": IB_DEVICE_PATTERN, "description": "mlx5_<n> or mlx5_bond_<n>"}
_FEATURES = {
    "description": "virtio feature bits: hex string, number, or list of feature names",
    "anyOf": [
        {"type": "string", "pattern": HEX_PATTERN},
        {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        {"type": "array", "items": {"type": "string", "pattern": FEATURE_NAME_PATTERN}},
    ],
}
_MTU = _int(68, 9216, "device MTU")
_REPRESENTOR = {
    "type": "object",
    "additionalProperties": False,
    "description": "kernel side of the device's SF representor netdev",
    "properties": {"up": {"type": "boolean"}, "mtu": _MTU},
}
# fields a device and a set template share
_DEVICE_COMMON: dict[str, Any] = {
    Spec.IB_DEVICE: _IB,
    Spec.MTU: _MTU,
    Spec.MAX_QUEUES: _int(1, 256, "hotplug only: number of virtqueues (hotplug -n)"),
    Spec.MAX_QUEUE_SIZE: {
        "type": "integer",
        "enum": [2**n for n in range(6, 16)],
        "description": "depth of each virtqueue, a power of two 64..32768",
    },
    Spec.FEATURES: _FEATURES,
    Spec.MSIX_NUM: _int(2, 256, "vf only: MSI-X vectors (a VF gets one data queue per vector)"),
    Spec.SF_NUM: _int(1000, 65535, "pin the backing SF number"),
    Spec.LEGACY: {"type": "boolean", "description": "transitional device (hotplug -l)"},
    Spec.REPRESENTOR: _REPRESENTOR,
}


def _metadata() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 63},
            "labels": {
                "type": "object",
                # YAML keys may be numbers, booleans or null: labels are strings only
                "propertyNames": {"type": "string", "minLength": 1, "maxLength": 253},
                "additionalProperties": {"type": "string", "maxLength": 253},
            },
        },
    }


def _document(kind: str, spec: dict[str, Any], title: str) -> dict[str, Any]:
    return {
        "$schema": _DRAFT,
        "$id": f"https://virtnet-reconciler.invalid/schemas/{kind}.json",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": kind},
            "metadata": _metadata(),
            "spec": spec,
        },
    }


def _device_spec() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [Spec.TYPE, Spec.MAC],
        "properties": {
            Spec.TYPE: {"type": "string", "enum": ["hotplug", "static_pf", "vf"]},
            Spec.PF_ID: _int(0, 1023, "static_pf and vf: which PF"),
            Spec.VF_ID: _int(0, 4095, "vf: which VF of that PF"),
            Spec.MAC: _MAC,
            **_DEVICE_COMMON,
        },
    }


def _set_spec() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["mac_base", "template"],
        "properties": {
            Spec.PF_ID: _int(0, 1023, "VF sets: the PF whose VFs these are"),
            "vf_ids": {
                "description": 'VF sets: "0-99", "0-3,8,10-11" or a list of ids',
                "anyOf": [
                    {"type": "string", "pattern": VF_IDS_PATTERN},
                    {"type": "array", "items": _int(0, 4095, "vf id"), "minItems": 1},
                ],
            },
            "count": _int(1, 256, "hotplug sets: how many devices (index 0..count-1)"),
            "mac_base": _MAC,
            "template": {
                "type": "object",
                "additionalProperties": False,
                "properties": dict(_DEVICE_COMMON),
            },
        },
    }


def _controller_config_spec() -> dict[str, Any]:
    mac_or_null = {"anyOf": [_MAC, {"type": "null"}]}
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "the content of virtnet.conf (reference section 5)",
        "properties": {
            Conf.IB_DEV_P0: _IB,
            Conf.IB_DEV_P1: _IB,
            Conf.IB_DEV_LAG: {"anyOf": [_IB, {"type": "null"}]},
            Conf.IB_DEV_FOR_STATIC_PF: _IB,
            Conf.IS_LAG: _FLAG,
            Conf.SINGLE_PORT: _FLAG,
            Conf.RECOVERY: _FLAG,
            Conf.SF_POOL_PERCENT: _int(0, 100, "pre-created SF pool, % of max_sf"),
            Conf.SF_POOL_FORCE_DESTROY: _FLAG,
            Conf.MAC_BASE: mac_or_null,
            Conf.FEATURES: _FEATURES,
            Conf.STATIC_PF: {
                "type": "object",
                "additionalProperties": False,
                "properties": {Conf.MAC_BASE: mac_or_null, Conf.FEATURES: _FEATURES},
            },
            Conf.VF: {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    Conf.MAC_BASE: mac_or_null,
                    Conf.FEATURES: _FEATURES,
                    Conf.VFS_PER_PF: _int(1, 4096, "VFs per PF the MACs are planned for"),
                    Conf.QP_NUM: _int(1, 128, "QPs of each VF (absent: its parent PF's number)"),
                },
                "dependentRequired": {Conf.MAC_BASE: [Conf.VFS_PER_PF]},
            },
            Conf.DPA_CORE_START: _int(0, 1023, "first DPA core"),
            Conf.DPA_CORE_END: _int(0, 1023, "last DPA core"),
            Conf.LM_PROV: {"type": "string", "minLength": 1},
            Conf.ETH_VQ_WORKERS: _int(1, 24, "worker threads for ETH VQ operations"),
            Conf.ADMIN_CMD_WORKERS: _int(1, 16, "worker threads for admin commands"),
            Conf.MRG_RXBUF: _FLAG,
            Conf.PACKED_VQ: _FLAG,
        },
    }


def _firmware_spec() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["values"],
        "properties": {
            "values": {
                "type": "object",
                "propertyNames": {"enum": list(FIRMWARE_PARAMETERS)},
                "additionalProperties": {
                    "anyOf": [
                        {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                        {"type": "boolean"},
                    ]
                },
            }
        },
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    KIND_DEVICE: _document(KIND_DEVICE, _device_spec(), "one virtio-net device"),
    KIND_DEVICE_SET: _document(KIND_DEVICE_SET, _set_spec(), "a template for many devices"),
    KIND_CONTROLLER_CONFIG: _document(
        KIND_CONTROLLER_CONFIG, _controller_config_spec(), "virtnet.conf (at most one)"
    ),
    KIND_FIRMWARE_PROFILE: _document(
        KIND_FIRMWARE_PROFILE, _firmware_spec(), "expected mlxconfig values (read-only)"
    ),
}


def schema_for(kind: str) -> dict[str, Any]:
    """The schema of ``kind``; an unknown kind is a ValueError naming the known ones."""
    try:
        return SCHEMAS[kind]
    except (KeyError, TypeError):
        known = ", ".join(SCHEMAS)
        raise ValueError(f"unknown kind {kind!r}; known kinds: {known}") from None


def render(kind: str) -> str:
    """The exact text of ``schemas/<kind>.json`` (sorted keys, so the export is stable)."""
    return json.dumps(schema_for(kind), indent=2, sort_keys=True) + "\n"


def export(directory: str | Path) -> list[Path]:
    """Write every schema to ``directory/<kind>.json``; returns the paths written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in SCHEMAS:
        path = out / f"{kind}.json"
        path.write_text(render(kind))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in export(sys.argv[1] if len(sys.argv) > 1 else "schemas"):
        print(written_path)
