"""VirtioNetDevice: normalisation of its spec, and its pure diff against the live devices.

Which fields a device type has, and what hotplug and modify do with each, is the
field table's (:mod:`reconciler.fields`); this module turns a schema-valid document
into a :class:`DeviceSpec`, and says which changes a spec needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reconciler.features import features_problem, parse_features
from reconciler.fields import DEVICE_FIELDS, Spec
from reconciler.macs import mac_problem, normalize_mac
from reconciler.model import DeviceSpec, DeviceType, RepresentorSpec, Source, frozen_map
from reconciler.resources.base import Normalised, Problem

__all__ = ["build_device", "generation", "normalise", "type_problems"]

# fields a spec names that are not copied as they are into the DeviceSpec
_BUILT = frozenset({Spec.TYPE, Spec.MAC, Spec.FEATURES, Spec.LEGACY, Spec.REPRESENTOR})
_PF = "(the controller rejects it on a PF)"


def normalise(document: Mapping[str, Any], source: Source) -> Normalised:
    """One device from a schema-valid document, or the problems that stop it."""
    meta, spec = document["metadata"], document["spec"]
    problems = type_problems(spec, spec[Spec.TYPE], ("spec",))
    mac = normalize_mac(spec[Spec.MAC])
    if (why := mac_problem(mac)) is not None:
        problems.append((("spec", Spec.MAC), f"{mac} {why}"))
    if problems:
        return Normalised(problems=tuple(problems))
    device = build_device(meta["name"], spec[Spec.TYPE], mac, spec,
                          labels=frozen_map(meta.get("labels")), source=source)
    return Normalised(devices=(device,))


def type_problems(spec: Mapping[str, Any], dtype: str, prefix: tuple) -> list[Problem]:
    """Fields the device type needs or must not have (the schema cannot say it clearly),
    and features that name no known bit."""
    problems: list[Problem] = []
    for field in DEVICE_FIELDS:
        if dtype in field.required and field.name not in spec:
            problems.append((prefix, f"{field.name} is required: {_needed(field.name, dtype)}"))
    for field in DEVICE_FIELDS:
        if dtype not in field.types and field.name in spec:
            problems.append(((*prefix, field.name), _refused(field.name, dtype)))
    if Spec.FEATURES in spec and (why := features_problem(spec[Spec.FEATURES])) is not None:
        problems.append(((*prefix, Spec.FEATURES), why))
    return problems


def _needed(name: str, dtype: str) -> str:
    return {
        Spec.IB_DEVICE: "a hotplug device is created on an RDMA device (mlx5_0, mlx5_bond_0)",
        Spec.PF_ID: f"a {dtype} device is identified by its PF",
        Spec.VF_ID: "a vf is identified by pf_id and vf_id",
    }[name]


def _refused(name: str, dtype: str) -> str:
    return {
        Spec.PF_ID: "a hotplug device gets its pf_id from the controller; remove it",
        Spec.VF_ID: "only a vf has a vf_id",
        Spec.MSIX_NUM: f"msix_num applies to VFs only {_PF}",
        Spec.IB_DEVICE: f"a {dtype} device is created by firmware, not on an ib_device",
        Spec.MAX_QUEUES: f"max_queues applies to hotplug devices only; a {dtype}'s queue count "
        "follows msix_num (VF) or the firmware (static PF)",
        Spec.LEGACY: "legacy applies to hotplug devices only",
    }[name]


def build_device(name: str, dtype: str, mac: str, spec: Mapping[str, Any], *,
                 labels: Mapping[str, str], source: Source) -> DeviceSpec:
    """The normalised spec: features as an int, ``legacy`` a bool, omitted fields None."""
    plain = {f.name: spec.get(f.name) for f in DEVICE_FIELDS if f.name not in _BUILT}
    rep, features = spec.get(Spec.REPRESENTOR), spec.get(Spec.FEATURES)
    return DeviceSpec(
        name=name,
        type=DeviceType(dtype),
        mac=mac,
        features=None if features is None else parse_features(features),
        legacy=bool(spec.get(Spec.LEGACY, False)),
        representor=None if rep is None else RepresentorSpec(rep.get("up"), rep.get("mtu")),
        labels=labels,
        source=source,
        **plain,
    )


def generation(spec: DeviceSpec) -> str:
    """A short digest of what the device spec asks for (not where it came from).

    Status records carry it so that a reader can tell which version of a spec a
    result refers to; labels and the source position are not part of it. The parts
    are listed, not derived, so a digest stays the same from one release to the next.
    """
    rep = spec.representor
    parts = [
        spec.name, spec.type.value, spec.mac, spec.mtu, spec.max_queues, spec.max_queue_size,
        spec.features, spec.msix_num, spec.sf_num, spec.legacy, spec.ib_device, spec.pf_id,
        spec.vf_id, None if rep is None else (rep.up, rep.mtu),
    ]
    return hashlib.blake2s(repr(parts).encode(), digest_size=6).hexdigest()
