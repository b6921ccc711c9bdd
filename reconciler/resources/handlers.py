"""The kinds' apply halves, registered once: which handler carries out each change action.

Apart from :mod:`reconciler.resources.registry` because handlers do I/O and the
planner must not import them; a test checks that every action has exactly one handler
and that it belongs to the kind the registry says owns that action.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reconciler.model import Action
from reconciler.resources import controller_config_apply, device_apply, recovery_records_apply
from reconciler.resources.base import Handler

__all__ = ["BY_KIND", "HANDLERS"]

# kind name (as in the registry) -> its apply module's handlers
BY_KIND: Mapping[str, Mapping[Action, Handler]] = MappingProxyType(
    {
        "device": device_apply.HANDLERS,
        "controller_config": controller_config_apply.HANDLERS,
        "recovery_records": recovery_records_apply.HANDLERS,
    }
)
HANDLERS: Mapping[Action, Handler] = MappingProxyType(
    {action: handler for handlers in BY_KIND.values() for action, handler in handlers.items()}
)
