"""Issue 12 item 4: one implausible observation is never believed for an irreversible step.

The stand-in answers ``query -a -b`` with ``{"devices": []}`` (or without the hotplug
devices): a controller that must have its static PF and VFs, and that did not restart,
cannot have lost them. Recovery records are counted in the emulator root's recovery/.
"""

from __future__ import annotations

import pytest

MACS = [f"0c:c4:7a:00:04:0{i}" for i in range(6)]


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 4: one empty query deletes the static PF/VF recovery records and "
    "hotplugs an existing device again (duplicate MAC)",
)
def test_one_empty_observation_deletes_no_record_and_duplicates_no_device(vendor):
    """Issue 12 item 4: the cycle observes again; nothing follows from the empty answer."""
    vendor.spec("web", MACS[0])
    assert vendor.virtnet("apply").returncode == 0
    records = vendor.recovery_records()
    assert len(records) == 4  # static PF, two VFs, the hotplug device
    vendor.rules([{"op": "query", "match": ["-a", "-b"], "action": "empty_devices", "times": 1}])
    mark = vendor.mark()
    proc = vendor.virtnet("apply", "--prune")
    assert len(vendor.fired("empty_devices")) == 1
    assert vendor.recovery_records() == records, proc.stdout
    assert vendor.mutations(mark, op="hotplug") == [], proc.stdout
    assert len(vendor.with_mac(MACS[0])) == 1


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 4: an observation that stays empty deletes recovery records "
    "instead of blocking with 'implausible observation'",
)
def test_an_observation_that_stays_empty_blocks_record_deletion(vendor):
    """Issue 12 item 4: still contradictory after the second look: irreversible steps blocked."""
    vendor.spec("web", MACS[0])
    assert vendor.virtnet("apply").returncode == 0
    records = vendor.recovery_records()
    vendor.rules([{"op": "query", "match": ["-a", "-b"], "action": "empty_devices", "times": 2}])
    proc = vendor.virtnet("apply", "--prune")
    assert len(vendor.fired("empty_devices")) == 2
    assert vendor.recovery_records() == records, proc.stdout
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "implausible observation" in proc.stdout


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 4: every owned device vanishing at once without a controller "
    "restart is believed: their recovery records are deleted",
)
def test_owned_devices_vanishing_at_once_without_a_restart_blocks_record_deletion(vendor):
    """Issue 12 item 4: more than a few owned devices gone since the last cycle is implausible.

    Six owned devices vanish from two answers in a row while the static PF and VFs stay,
    so only the mass disappearance can give it away. Slow: six hotplugs through the
    vendor-CLI path, twice.
    """
    for i, mac in enumerate(MACS):
        vendor.spec(f"hp-{i}", mac)
    assert vendor.virtnet("apply").returncode == 0
    records = vendor.recovery_records()
    assert len(records) == 9
    vendor.rules(
        [
            {
                "op": "query",
                "match": ["-a", "-b"],
                "action": "empty_devices",
                "drop_types": ["hotplug PF"],
                "times": 2,
            }
        ]
    )
    proc = vendor.virtnet("apply", "--prune")
    assert len(vendor.fired("empty_devices")) == 2
    assert vendor.recovery_records() == records, proc.stdout
    assert "implausible observation" in proc.stdout


def test_a_truncated_observation_deletes_nothing(vendor):
    """Issue 12 item 4 (partial observation): an answer cut in the middle is no observation.

    Passes on today's main (unparsable output fails the cycle): a regression guard.
    """
    vendor.spec("web", MACS[0])
    assert vendor.virtnet("apply").returncode == 0
    records = vendor.recovery_records()
    vendor.rules(
        [{"op": "query", "match": ["-a", "-b"], "action": "truncate", "bytes": 900, "times": 1}]
    )
    mark = vendor.mark()
    proc = vendor.virtnet("apply", "--prune")
    assert len(vendor.fired("truncate")) == 1
    assert vendor.recovery_records() == records, proc.stdout
    assert vendor.mutations(mark) == [], proc.stdout
