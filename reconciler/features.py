"""virtio-net feature bits: names <-> numbers (reference section 11), pure functions."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FEATURE_BITS", "feature_names", "features_problem", "parse_features"]

FEATURE_BITS: dict[str, int] = {
    "VIRTIO_NET_F_CSUM": 0,
    "VIRTIO_NET_F_GUEST_CSUM": 1,
    "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS": 2,
    "VIRTIO_NET_F_MTU": 3,
    "VIRTIO_NET_F_MAC": 5,
    "VIRTIO_NET_F_HOST_TSO4": 11,
    "VIRTIO_NET_F_HOST_TSO6": 12,
    "VIRTIO_NET_F_MRG_RXBUF": 15,
    "VIRTIO_NET_F_STATUS": 16,
    "VIRTIO_NET_F_CTRL_VQ": 17,
    "VIRTIO_NET_F_CTRL_RX": 18,
    "VIRTIO_NET_F_CTRL_VLAN": 19,
    "VIRTIO_NET_F_GUEST_ANNOUNCE": 21,
    "VIRTIO_NET_F_MQ": 22,
    "VIRTIO_NET_F_CTRL_MAC_ADDR": 23,
    "VIRTIO_F_VERSION_1": 32,
    "VIRTIO_F_ACCESS_PLATFORM": 33,
    "VIRTIO_F_RING_PACKED": 34,
    "VIRTIO_F_ORDER_PLATFORM": 36,
    "VIRTIO_F_SR_IOV": 37,
    "VIRTIO_F_NOTIFICATION_DATA": 38,
    "VIRTIO_F_RING_RESET": 40,
    "VIRTIO_F_ADMIN_VQ": 41,
    "VIRTIO_NET_F_HOST_USO": 56,
    "VIRTIO_NET_F_HASH_REPORT": 57,
    "VIRTIO_NET_F_GUEST_HDRLEN": 59,
    "VIRTIO_NET_F_SPEED_DUPLEX": 63,
}
# the vendor calls bit 33 by its older name too
_ALIASES = {"VIRTIO_F_IOMMU_PLATFORM": 33}
_BY_BIT = {bit: name for name, bit in FEATURE_BITS.items()}


def _bit_of(name: str) -> int:
    key = name.strip().upper()
    if key in FEATURE_BITS:
        return FEATURE_BITS[key]
    if key in _ALIASES:
        return _ALIASES[key]
    # short forms: "mq", "net_f_mq", "f_version_1"
    for prefix in ("VIRTIO_NET_F_", "VIRTIO_F_", "VIRTIO_"):
        if prefix + key in FEATURE_BITS:
            return FEATURE_BITS[prefix + key]
    raise ValueError(f"unknown feature name {name!r}")


def parse_features(value: str | int | Iterable[str]) -> int:
    """Normalise a features value (hex string, int, or list of names) to an int.

    Raises ValueError with a message fit for a user when it cannot.
    """
    if isinstance(value, bool):
        raise ValueError("features must be a hex string or a list of feature names")
    if isinstance(value, int):
        if value < 0 or value >= 1 << 64:
            raise ValueError("features must fit in 64 bits")
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            number = int(text, 16)  # "0x" prefix optional, as the vendor CLI accepts
        except ValueError:
            raise ValueError(f"features {value!r} is not a hex number") from None
        return parse_features(number)
    result = 0
    for name in value:
        if not isinstance(name, str):
            raise ValueError("features list must contain feature names (strings)")
        result |= 1 << _bit_of(name)
    return result


def features_problem(value: str | int | Iterable[str]) -> str | None:
    """Why ``value`` is not a feature set :func:`parse_features` accepts, or None."""
    try:
        parse_features(value)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def feature_names(value: int) -> list[str]:
    """Names of the known bits set in ``value`` (unknown bits as ``bit<N>``)."""
    return [_BY_BIT.get(bit, f"bit{bit}") for bit in range(64) if value >> bit & 1]
