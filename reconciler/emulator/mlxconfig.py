"""``mlxconfig``-style text: the query table (with -e: Default / Current / Next Boot) and set."""

from __future__ import annotations

from reconciler.emulator.firmware import (
    BOOL_PARAMS,
    DEFAULT_PROFILE,
    PARAMS,
    FirmwareProfile,
    parse_value,
)

__all__ = ["apply_set", "query_text"]

_HEADER = (
    "\nDevice #1:\n----------\n\nDevice type:    BlueField3\n"
    "Name:           900-9D3B6-00CV-AA0_Ax\n"
    "Description:    NVIDIA BlueField-3 B3220 P-Series FHHL DPU; 200GbE (default mode)\n"
    "Device:         {dev}\n\n"
)


_FOOTER = "The '*' shows parameters with next value different from default/current value.\n"


def _fmt(name: str, value: int) -> str:
    if name in BOOL_PARAMS:
        return f"{'True' if value else 'False'}({value})"
    return str(value)


def query_text(dev: str, current: FirmwareProfile, nxt: FirmwareProfile, extended: bool) -> str:
    """``mlxconfig -d DEV q`` (Next Boot column) or ``-e q`` (Default, Current, Next Boot)."""
    lines = [_HEADER.format(dev=dev)]
    defaults, cur, nb = DEFAULT_PROFILE.to_params(), current.to_params(), nxt.to_params()
    if extended:
        lines.append(f"{'Configurations:':<53}{'Default':<16}{'Current':<16}Next Boot\n")
    else:
        lines.append(f"{'Configurations:':<53}Next Boot\n")
    for name in PARAMS:
        mark = "*" if extended and nb[name] != defaults[name] else " "
        row = f"{mark:<9}{name:<44}"
        if extended:
            row += f"{_fmt(name, defaults[name]):<16}{_fmt(name, cur[name]):<16}"
        lines.append(row + _fmt(name, nb[name]) + "\n")
    if extended:
        lines.append(_FOOTER)
    return "".join(lines)


def apply_set(dev: str, nxt: FirmwareProfile, items: list[str]) -> tuple[FirmwareProfile, str]:
    """Parse ``KEY=VAL`` items into new next-boot values; raises ValueError like ``-E-``."""
    values = nxt.to_params()
    new: dict[str, int] = {}
    for item in items:
        key, sep, val = item.partition("=")
        key = key.strip().upper()
        if not sep or key not in PARAMS:
            raise ValueError(f"-E- The Device doesn't support {key} parameter")
        try:
            new[key] = parse_value(key, val)
        except ValueError:
            raise ValueError(f"-E- Bad value for {key}: {val!r}") from None
    lines = [_HEADER.format(dev=dev), f"{'Configurations:':<53}{'Next Boot':<16}New\n"]
    for key, val in new.items():
        lines.append(f"{'':<9}{key:<44}{_fmt(key, values[key]):<16}{_fmt(key, val)}\n")
    lines.append("\n Apply new Configuration? (y/n) [n] : y\nApplying... Done!\n")
    lines.append("-I- Please reboot machine to load new configurations.\n")
    return FirmwareProfile.from_params({**values, **new}), "".join(lines)
