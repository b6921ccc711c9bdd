"""Every kind, registered once: its spec kind, its normalisation, its diff, the actions it owns.

The loader looks a document's ``kind:`` up here, the planner runs every ``diff`` in
this order (so their warnings come out in it), and the executor checks that each
action has exactly one handler in the kinds' apply modules (``HANDLERS``, assembled
by :mod:`reconciler.apply`, which may do I/O: this module must not import them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from reconciler import keys
from reconciler.model import Action
from reconciler.resources import (
    controller_config,
    device,
    device_set,
    firmware_profile,
    recovery_records,
)
from reconciler.resources.base import Diff, Normalise

__all__ = ["BY_SPEC_KIND", "DIFFS", "KINDS", "Kind"]


class Kind(NamedTuple):
    """One kind's surface. ``name`` is its module under ``reconciler.resources``.

    ``spec_kind``: the ``kind:`` of its documents (None: nobody declares it, it is only
    observed). ``declared``: the names an invalid document still claims (never pruned).
    ``actions``: the change actions its apply module handles.
    """

    name: str
    spec_kind: str | None
    normalise: Normalise | None = None
    diff: Diff | None = None
    declared: Callable[[Any], tuple[str, ...]] | None = None
    actions: tuple[Action, ...] = ()


KINDS: tuple[Kind, ...] = (
    Kind(
        "device",
        keys.KIND_DEVICE,
        device.normalise,
        device.diff,
        actions=(Action.HOTPLUG, Action.UNPLUG, Action.MODIFY, Action.REPLACE, Action.REPRESENTOR),
    ),
    Kind(
        "device_set", keys.KIND_DEVICE_SET, device_set.normalise, declared=device_set.declared_names
    ),
    Kind(
        "controller_config",
        keys.KIND_CONTROLLER_CONFIG,
        controller_config.normalise,
        controller_config.diff,
        actions=(Action.CONFIG,),
    ),
    Kind("recovery_records", None, diff=recovery_records.diff, actions=(Action.RECOVERY_CLEANUP,)),
    Kind(
        "firmware_profile",
        keys.KIND_FIRMWARE_PROFILE,
        firmware_profile.normalise,
        firmware_profile.diff,
    ),
)

BY_SPEC_KIND: Mapping[str, Kind] = MappingProxyType(
    {k.spec_kind: k for k in KINDS if k.spec_kind is not None}
)
DIFFS: tuple[Diff, ...] = tuple(k.diff for k in KINDS if k.diff is not None)
