"""How a plan reads for people (text) and for machines (the contract's JSON)."""

from __future__ import annotations

import json

from reconciler.model import (
    Action,
    Change,
    ChangeStatus,
    DeviceType,
    ObservedDevice,
    Plan,
    frozen_map,
)
from reconciler.render import render_json, render_text

MAC = "0c:c4:7a:ff:22:98"
HOTPLUG = Change(
    Action.HOTPLUG,
    "web-frontend",
    frozen_map({"mac": (None, MAC), "mtu": (None, 1500), "features": (None, 0x2B)}),
)
MODIFY = Change(Action.MODIFY, "db-1", frozen_map({"mtu": (1500, 9000)}), vuid="V1")
UNPLUG = Change(Action.UNPLUG, "old-1", vuid="V2")
BLOCKED = Change(
    Action.MODIFY,
    "vf-3",
    frozen_map({"mtu": (None, 9000)}),
    status=ChangeStatus.BLOCKED,
    reason="waiting for the host to create it (sriov_numvfs)",
    temporary=True,
)
PORTS = "plan needs 20 hotplug ports, firmware has 16 (PCI_SWITCH_EMULATION_NUM_PORT)"
STRAY = ObservedDevice(vuid="V9", type=DeviceType.HOTPLUG, pf_id=4, mac="0c:c4:7a:00:00:09")


class TestText:
    """A readable plan: one line per change, a summary, colour only when asked."""

    def test_each_action_has_its_own_line(self):
        text = render_text(Plan(changes=(UNPLUG, HOTPLUG, MODIFY, BLOCKED)), color=False)
        assert text.splitlines() == [
            "- unplug old-1 (V2)",
            f"+ hotplug web-frontend (mac {MAC}, mtu 1500, features 0x2b)",
            "~ modify db-1  mtu: 1500 -> 9000",
            "! blocked modify vf-3: waiting for the host to create it (sriov_numvfs) (will retry)",
            "Plan: 1 to hotplug, 1 to modify, 1 to unplug, 1 blocked.",
        ]

    def test_empty_plan_says_nothing_to_do(self):
        assert render_text(Plan(), color=False) == "No changes. Devices match the desired state.\n"

    def test_replace_shows_only_fields_that_change_and_is_counted(self):
        change = Change(
            Action.REPLACE, "web", frozen_map({"max_queues": (4, 8), "mtu": (1500, 1500)})
        )
        lines = render_text(Plan(changes=(change,)), color=False).splitlines()
        assert lines == [
            "-/+ replace web  max_queues: 4 -> 8",
            "Plan: 0 to hotplug, 0 to modify, 0 to unplug, 1 to replace, 0 blocked.",
        ]

    def test_unmanaged_devices_warnings_and_errors_are_listed(self):
        plan = Plan(
            changes=(HOTPLUG,),
            unmanaged=(STRAY,),
            errors=(PORTS,),
            warnings=("old-1 (V2) is no longer declared; apply --prune unplugs it",),
        )
        lines = render_text(plan, color=False).splitlines()
        assert "  unmanaged: hotplug pf4 V9 mac 0c:c4:7a:00:00:09 (left alone)" in lines
        assert "Warning: old-1 (V2) is no longer declared; apply --prune unplugs it" in lines
        assert f"Error: {PORTS}" in lines
        assert "Nothing will be changed until the errors above are fixed." in lines

    def test_colour_only_when_asked(self):
        plan = Plan(changes=(HOTPLUG, BLOCKED))
        assert "\x1b[" not in render_text(plan, color=False)
        coloured = render_text(plan, color=True)
        assert coloured.startswith("\x1b[32m+ hotplug web-frontend")
        assert "\x1b[1;31m! blocked modify vf-3" in coloured


class TestJson:
    """The contract's shape: changes with action, name, fields as [old, new], status, reason."""

    def test_plan_json_shape(self):
        out = render_json(Plan(changes=(MODIFY, BLOCKED), unmanaged=(STRAY,), warnings=("w",)))
        assert out == {
            "changes": [
                {
                    "action": "modify",
                    "name": "db-1",
                    "fields": {"mtu": [1500, 9000]},
                    "status": "ready",
                    "vuid": "V1",
                },
                {
                    "action": "modify",
                    "name": "vf-3",
                    "fields": {"mtu": [None, 9000]},
                    "status": "blocked",
                    "reason": "waiting for the host to create it (sriov_numvfs)",
                },
            ],
            "unmanaged": [
                {
                    "vuid": "V9",
                    "type": "hotplug",
                    "pf_id": 4,
                    "vf_id": None,
                    "mac": "0c:c4:7a:00:00:09",
                },
            ],
            "errors": [],
            "warnings": ["w"],
        }

    def test_json_is_serialisable(self):
        text = json.dumps(render_json(Plan(changes=(HOTPLUG, UNPLUG))))
        assert json.loads(text)["changes"][1] == {
            "action": "unplug",
            "name": "old-1",
            "fields": {},
            "status": "ready",
            "vuid": "V2",
        }
