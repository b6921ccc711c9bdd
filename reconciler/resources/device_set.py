"""VirtioNetDeviceSet: a template expanded to many VFs or hotplug devices (``<set>-<index>``).

A set has no diff of its own: its devices are VirtioNetDevices once expanded. MAC
of device ``i`` is ``mac_base + i`` (the vendor's mac_base rule); a VF set names its
PF and lists ``vf_ids``, a hotplug set gives a ``count``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from reconciler.fields import Spec
from reconciler.macs import mac_add, mac_problem, normalize_mac
from reconciler.model import DeviceType, Source, frozen_map
from reconciler.resources.base import Normalised, Problem
from reconciler.resources.device import build_device, type_problems

__all__ = ["declared_names", "expand_vf_ids", "normalise"]

_MAX_VF_IDS = 4096
_MAX_NAME = 63
_MAC_BASE, _VF_IDS, _COUNT, _TEMPLATE = "mac_base", "vf_ids", "count", "template"


def normalise(document: Mapping[str, Any], source: Source) -> Normalised:
    """Every device of a schema-valid set, or the problems that stop the whole set."""
    meta, spec = document["metadata"], document["spec"]
    name = meta["name"]
    template = dict(spec[_TEMPLATE])
    dtype, indexes, problems = _plan(spec)
    if dtype == DeviceType.VF:
        if Spec.PF_ID not in spec:
            problems.append((("spec",), "pf_id is required: a VF set names the PF of its VFs"))
        # the set supplies the identity fields, so the per-type check must not miss them
        template[Spec.PF_ID], template[Spec.VF_ID] = spec.get(Spec.PF_ID, 0), 0
    elif Spec.PF_ID in spec:
        problems.append((("spec", Spec.PF_ID), "a hotplug set gets pf_ids from the controller"))
    problems += type_problems(template, dtype, ("spec", _TEMPLATE))
    macs, mac_problems = _macs(normalize_mac(spec[_MAC_BASE]), indexes)
    problems += mac_problems
    if indexes and len(longest := f"{name}-{max(indexes)}") > _MAX_NAME:
        why = f"device name {longest!r} would be longer than {_MAX_NAME} characters; shorten it"
        problems.append((("metadata", "name"), why))
    if problems:
        return Normalised(problems=tuple(problems))
    labels = frozen_map(meta.get("labels"))
    devices = []
    for index, mac in zip(indexes, macs, strict=True):
        fields = dict(template)
        if dtype == DeviceType.VF:
            fields[Spec.VF_ID] = index
        devices.append(
            build_device(f"{name}-{index}", dtype, mac, fields, labels=labels, source=source)
        )
    return Normalised(devices=tuple(devices))


def expand_vf_ids(value: str | list[int]) -> list[int]:
    """``"0-3,8"`` -> ``[0, 1, 2, 3, 8]``; a list passes through.

    ValueError on a reversed range, an id above 4095 or more than 4096 ids in all: a
    PF has at most 4096 VFs, and stopping there bounds the work a hostile string causes.
    """
    if isinstance(value, list):
        return list(value)
    ids: list[int] = []
    for part in value.split(","):
        low, _, high = part.strip().partition("-")
        start, end = _vf_id(low), _vf_id(high or low)
        if end < start:
            raise ValueError(f"range {part.strip()!r} runs backwards")
        if len(ids) + end - start + 1 > _MAX_VF_IDS:
            raise ValueError(f"more than {_MAX_VF_IDS} VF ids in all")
        ids.extend(range(start, end + 1))
    return ids


def _vf_id(text: str) -> int:
    digits = text.strip()
    # compare digits first: a 5000-digit id must not reach int()'s own limit
    if len(digits.lstrip("0")) > 4 or int(digits) > _MAX_VF_IDS - 1:
        raise ValueError(f"vf id {digits[:12]!r} is above {_MAX_VF_IDS - 1}")
    return int(digits)


def _plan(spec: Mapping[str, Any]) -> tuple[str, list[int], list[Problem]]:
    """(device type, indexes, problems) of a set spec."""
    has_ids, has_count = _VF_IDS in spec, _COUNT in spec
    if has_ids == has_count:
        return (
            DeviceType.VF,
            [],
            [(("spec",), "give vf_ids (a VF set) or count (a hotplug set), not both")],
        )
    if has_count:
        return DeviceType.HOTPLUG, list(range(spec[_COUNT])), []
    try:
        ids = expand_vf_ids(spec[_VF_IDS])
    except (ValueError, TypeError) as exc:
        return DeviceType.VF, [], [(("spec", _VF_IDS), str(exc))]
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        return DeviceType.VF, [], [(("spec", _VF_IDS), f"vf ids listed twice: {dupes[:10]}")]
    return DeviceType.VF, ids, []


def declared_names(document: Any) -> tuple[str, ...]:
    """Names a set declares even when it is invalid, so that none of its devices is pruned."""
    meta = document.get("metadata") if isinstance(document, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    spec = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(name, str) or not isinstance(spec, dict):
        return ()
    count = _whole(spec.get(_COUNT))
    if count is not None:
        return tuple(f"{name}-{i}" for i in range(min(count, _MAX_VF_IDS)))
    try:
        ids = expand_vf_ids(spec.get(_VF_IDS))
    except (ValueError, TypeError, AttributeError):
        return ()
    whole = (_whole(i) for i in ids[:_MAX_VF_IDS])
    return tuple(f"{name}-{i}" for i in whole if i is not None)


def _whole(value: Any) -> int | None:
    """``value`` as an int if it is one (``2.0`` included, ``True`` not), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _macs(base: str, indexes: list[int]) -> tuple[list[str], list[Problem]]:
    """(MAC per index, problems): the first expanded MAC that overflows, is multicast or
    is all zeros is reported at mac_base (base + index can cross into an odd first octet).
    """
    value = int(base.replace(":", ""), 16)
    macs = []
    for index in indexes:
        if value + index >= 1 << 48:
            return [], [(("spec", _MAC_BASE), f"{base} + {index} overflows 48 bits")]
        mac = mac_add(base, index)
        if (why := mac_problem(mac)) is not None:
            return [], [(("spec", _MAC_BASE), f"{base} + {index} = {mac} {why}")]
        macs.append(mac)
    return macs, []
