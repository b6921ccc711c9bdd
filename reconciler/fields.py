"""The field tables: how the controller treats each device field, and every virtnet.conf key.

:data:`DEVICE_FIELDS` is the one place that says, per VirtioNetDevice field, which
device types have it, which ``virtnet hotplug`` option takes it (and its default when
the vendor requires it but the spec omits it), which ``virtnet modify`` option changes
it, whether the host's driver must be unbound first, and whether a hotplug device can
only get a new value by being replaced. Every list of fields the code needs is derived
from it below. :data:`CONF_KEYS` does the same for the keys of ``virtnet.conf``.
Value ranges are the schema's (:mod:`reconciler.loading.schema`); a test keeps the
schema's keys and these tables equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from reconciler.model import DeviceType

__all__ = [
    "CONF_KEYS",
    "CONF_SECTIONS",
    "DEVICE_FIELDS",
    "FIELDS",
    "GUEST_UNBIND",
    "HOTPLUG_DEFAULTS",
    "HOTPLUG_FIELDS",
    "MODIFIABLE",
    "MODIFY_FLAGS",
    "REPLACE_ON_CHANGE",
    "Conf",
    "ConfKey",
    "Field",
    "Spec",
    "conf_default",
]

_ALL = frozenset(DeviceType)
_HOTPLUG = frozenset({DeviceType.HOTPLUG})
_VF = frozenset({DeviceType.VF})
_FIRMWARE_MADE = frozenset({DeviceType.STATIC_PF, DeviceType.VF})


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


class Field(NamedTuple):
    """One VirtioNetDevice field (a row: NamedTuple, cheap to define at import).

    ``types``: device types whose spec may set it; ``required``: types whose spec must
    (beyond ``type`` and ``mac``, which every device needs and a set supplies).
    ``hotplug_flag``: the ``virtnet hotplug`` option that takes it (None: hotplug does
    not; a boolean field's option is a switch); ``hotplug_required``: the vendor requires
    it; ``hotplug_default``: the value given when the spec leaves a required one out.
    ``modify_flag``: the ``virtnet modify ... device`` option that changes it (None:
    modify cannot). ``guest_unbind``: modify needs the host's driver unbound (vendor
    README). ``replace``: on a hotplug device, a new value means unplug + hotplug (only
    with ``--allow-replace``).
    """

    name: str
    types: frozenset[DeviceType] = _ALL
    required: frozenset[DeviceType] = frozenset()
    hotplug_flag: str | None = None
    hotplug_required: bool = False
    hotplug_default: int | None = None
    modify_flag: str | None = None
    guest_unbind: bool = False
    replace: bool = False


# In the order of the vendor's hotplug usage line (reference 3.4), so the argv is built
# in that order; fields hotplug does not take follow.
DEVICE_FIELDS: tuple[Field, ...] = (
    Field(Spec.TYPE, replace=True),
    Field(
        Spec.IB_DEVICE,
        _HOTPLUG,
        required=_HOTPLUG,
        hotplug_flag="-i",
        hotplug_required=True,
        replace=True,
    ),
    Field(Spec.MAC, hotplug_flag="-m", hotplug_required=True, modify_flag="-m", guest_unbind=True),
    Field(
        Spec.MTU,
        hotplug_flag="-t",
        hotplug_required=True,
        hotplug_default=1500,
        modify_flag="-t",
        guest_unbind=True,
    ),
    Field(
        Spec.MAX_QUEUES,
        _HOTPLUG,
        hotplug_flag="-n",
        hotplug_required=True,
        hotplug_default=4,
        replace=True,
    ),
    Field(
        Spec.MAX_QUEUE_SIZE,
        hotplug_flag="-s",
        hotplug_required=True,
        hotplug_default=256,
        modify_flag="-q",
        guest_unbind=True,
    ),
    Field(Spec.SF_NUM, hotplug_flag="-u", replace=True),
    Field(Spec.FEATURES, hotplug_flag="-f", modify_flag="-f", guest_unbind=True),
    Field(Spec.LEGACY, _HOTPLUG, hotplug_flag="-l", replace=True),
    # VF MSI-X: the queue count follows it; PFs refuse it (reference 7.3)
    Field(Spec.MSIX_NUM, _VF, modify_flag="-n", guest_unbind=True),
    Field(Spec.PF_ID, _FIRMWARE_MADE, required=_FIRMWARE_MADE),
    Field(Spec.VF_ID, _VF, required=_VF),
    Field(Spec.REPRESENTOR),  # the kernel side (netlink), not the controller's
)

FIELDS: Mapping[str, Field] = MappingProxyType({f.name: f for f in DEVICE_FIELDS})
# what `virtnet hotplug` is given, in the vendor's argv order
HOTPLUG_FIELDS: tuple[Field, ...] = tuple(f for f in DEVICE_FIELDS if f.hotplug_flag)
# the vendor requires these at hotplug: the value a spec that omits one gets
HOTPLUG_DEFAULTS: Mapping[str, int] = MappingProxyType(
    {f.name: f.hotplug_default for f in DEVICE_FIELDS if f.hotplug_default is not None}
)
# what `virtnet modify ... device` can change, and with which option
MODIFY_FLAGS: Mapping[str, str] = MappingProxyType(
    {f.name: f.modify_flag for f in DEVICE_FIELDS if f.modify_flag}
)
MODIFIABLE: tuple[str, ...] = tuple(MODIFY_FLAGS)
GUEST_UNBIND: frozenset[str] = frozenset(f.name for f in DEVICE_FIELDS if f.guest_unbind)
REPLACE_ON_CHANGE: tuple[str, ...] = tuple(f.name for f in DEVICE_FIELDS if f.replace)


class Conf:
    """Key names of ``virtnet.conf`` (vendor page: "the currently supported options")."""

    IB_DEV_P0 = "ib_dev_p0"
    IB_DEV_P1 = "ib_dev_p1"
    IB_DEV_LAG = "ib_dev_lag"
    IB_DEV_FOR_STATIC_PF = "ib_dev_for_static_pf"
    IS_LAG = "is_lag"
    SINGLE_PORT = "single_port"
    RECOVERY = "recovery"
    SF_POOL_PERCENT = "sf_pool_percent"
    SF_POOL_FORCE_DESTROY = "sf_pool_force_destroy"
    MAC_BASE = "mac_base"
    FEATURES = "features"
    STATIC_PF = "static_pf"
    VF = "vf"
    VFS_PER_PF = "vfs_per_pf"
    QP_NUM = "qp_num"
    DPA_CORE_START = "dpa_core_start"
    DPA_CORE_END = "dpa_core_end"
    LM_PROV = "lm_prov"
    ETH_VQ_WORKERS = "eth_vq_workers"
    ADMIN_CMD_WORKERS = "admin_cmd_workers"
    MRG_RXBUF = "mrg_rxbuf"
    PACKED_VQ = "packed_vq"


class ConfKey(NamedTuple):
    """One ``virtnet.conf`` key: where it sits, and what the controller assumes without it.

    ``section`` is ``None`` for a top-level key, else ``static_pf`` or ``vf``;
    ``default`` is the vendor's documented default (None: undocumented or none).
    """

    name: str
    section: str | None = None
    default: Any = None

    @property
    def path(self) -> tuple[str, ...]:
        return (self.name,) if self.section is None else (self.section, self.name)


# The sections that hold per-function-type keys (mac_base, features, ...).
CONF_SECTIONS: tuple[str, ...] = (Conf.STATIC_PF, Conf.VF)

CONF_KEYS: tuple[ConfKey, ...] = (
    ConfKey(Conf.IB_DEV_P0, default="mlx5_0"),
    ConfKey(Conf.IB_DEV_P1, default="mlx5_1"),
    ConfKey(Conf.IB_DEV_LAG, default="mlx5_bond_0"),
    ConfKey(Conf.IB_DEV_FOR_STATIC_PF),
    ConfKey(Conf.IS_LAG, default=0),
    ConfKey(Conf.SINGLE_PORT, default=0),
    ConfKey(Conf.RECOVERY, default=1),
    ConfKey(Conf.SF_POOL_PERCENT, default=0),
    ConfKey(Conf.SF_POOL_FORCE_DESTROY, default=0),
    ConfKey(Conf.MAC_BASE),
    ConfKey(Conf.FEATURES),
    ConfKey(Conf.MAC_BASE, Conf.STATIC_PF),
    ConfKey(Conf.FEATURES, Conf.STATIC_PF),
    ConfKey(Conf.MAC_BASE, Conf.VF),
    ConfKey(Conf.FEATURES, Conf.VF),
    ConfKey(Conf.VFS_PER_PF, Conf.VF),
    ConfKey(Conf.QP_NUM, Conf.VF),  # absent: each VF takes its parent PF's QP number
    ConfKey(Conf.DPA_CORE_START),
    ConfKey(Conf.DPA_CORE_END),
    ConfKey(Conf.LM_PROV),
    ConfKey(Conf.ETH_VQ_WORKERS),
    ConfKey(Conf.ADMIN_CMD_WORKERS),
    ConfKey(Conf.MRG_RXBUF),
    ConfKey(Conf.PACKED_VQ),
)


def conf_default(name: str, section: str | None = None) -> Any:
    """The vendor's default for a key the file leaves out (None when it documents none)."""
    for key in CONF_KEYS:
        if key.name == name and key.section == section:
            return key.default
    raise KeyError(f"no virtnet.conf key {'.'.join(filter(None, (section, name)))}")
