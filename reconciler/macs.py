"""MAC address normalisation and the vendor's mac_base arithmetic, pure functions."""

from __future__ import annotations

import re

__all__ = ["mac_add", "mac_problem", "normalize_mac"]

_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


def normalize_mac(text: str) -> str:
    """Lower-case, colon-separated; raises ValueError for anything that is not a MAC."""
    if not isinstance(text, str) or not _MAC_RE.match(text.strip()):
        raise ValueError(f"{text!r} is not a MAC address (xx:xx:xx:xx:xx:xx)")
    return text.strip().lower().replace("-", ":")


def mac_problem(mac: str) -> str | None:
    """Why a (normalised) MAC cannot be a device address, or None.

    The controller only checks the length, so we check the rest before it is too late.
    """
    first = int(mac[:2], 16)
    if first & 1:
        return "is a multicast address (first octet odd); a device needs a unicast MAC"
    if mac == "00:00:00:00:00:00":
        return "is all zeros"
    return None


def mac_add(base: str, offset: int) -> str:
    """``base`` + ``offset`` as a 48-bit number (vendor rule: pf0 = base, pf1 = base+1, ...)."""
    value = int(normalize_mac(base).replace(":", ""), 16) + offset
    if value >= 1 << 48:
        raise ValueError(f"{base} + {offset} overflows 48 bits")
    raw = f"{value:012x}"
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))
