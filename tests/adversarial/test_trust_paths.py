"""Issue 12 item 3 (and the message of item 7): only trusted paths are read or written.

The attacker is a second local user (uid 54321, no passwd entry, no groups) acting on
the file system between two runs of the reconciler, which runs as root.
"""

from __future__ import annotations

import json
import os

import pytest

from .world import ATTACKER_UID, as_attacker

MAC = "0c:c4:7a:00:03:01"
VICTIM_MAC = "0c:c4:7a:00:03:99"


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 3: a state dir swapped for a symlink to an empty dir by the owner "
    "of its parent validates as 'ok: 0 devices' and apply --prune unplugs every owned device",
)
def test_a_state_dir_swapped_for_a_symlink_by_the_owner_of_its_parent_is_refused(world):
    """Issue 12 item 3: every component up to the state dir, the link itself included, is checked.

    The parent dir belongs to the attacker; the state dir and the link's target (an empty
    dir) belong to root, so only the parent and the link betray the swap.
    """
    parent = world.base / "specs"
    parent.mkdir(mode=0o755)
    state = parent / "state"
    state.mkdir(mode=0o755)
    empty = world.base / "empty"
    empty.mkdir(mode=0o755)
    world.spec("web", MAC, state=state)
    assert world.virtnet("apply", "-f", str(state)).returncode == 0
    os.chown(parent, ATTACKER_UID, ATTACKER_UID)  # the misconfiguration the attack needs
    as_attacker("swap_for_symlink", str(state), str(empty))
    assert state.is_symlink()

    validate = world.virtnet("validate", "-f", str(state))
    assert validate.returncode == 1, validate.stdout
    assert str(parent) in validate.stdout + validate.stderr
    mark = world.mark()
    apply = world.virtnet("apply", "--prune", "-f", str(state))
    assert world.mutations(mark) == [], apply.stdout
    assert apply.returncode == 1, apply.stdout + apply.stderr
    assert len(world.with_mac(MAC)) == 1


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 3: a world-writable (non-sticky) parent of the state dir is accepted",
)
def test_a_state_dir_under_a_world_writable_parent_is_refused(world):
    """Issue 12 item 3: a parent dir anyone can write is a breach (one line, exit 1)."""
    parent = world.base / "open"
    parent.mkdir()
    parent.chmod(0o777)
    state = parent / "state"
    state.mkdir(mode=0o755)
    world.spec("web", MAC, state=state)
    proc = world.virtnet("validate", "-f", str(state))
    assert proc.returncode == 1, proc.stdout
    assert str(parent) in proc.stdout + proc.stderr


@pytest.mark.xfail(strict=True, reason="issue 12 item 3: a data dir pre-created 0777 is accepted")
def test_a_world_writable_data_dir_is_refused_before_any_call(world):
    """Issue 12 item 3: a data dir writable by others is one line naming it, exit 1."""
    world.data.mkdir()
    world.data.chmod(0o777)
    world.spec("web", MAC)
    mark = world.mark()
    proc = world.virtnet("apply")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert str(world.data) in proc.stdout + proc.stderr
    assert world.mutations(mark) == []


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 item 3: an inventory.json planted by another user in a 0777 data dir "
    "gets a hand-made device unplugged",
)
def test_an_inventory_planted_by_another_user_gets_nothing_unplugged(world):
    """Issue 12 item 3: the inventory must be ours and 0600; a planted one is refused.

    The planted file claims a device someone made by hand, in the inventory's own format
    (which any reader of a data dir can learn).
    """
    vuid = world.hand_hotplug(VICTIM_MAC)
    victim = world.with_mac(VICTIM_MAC)[0]
    world.data.mkdir()
    world.data.chmod(0o777)
    planted = {
        "version": 1,
        "owned": {
            "victim": {
                "vuid": vuid,
                "mac": VICTIM_MAC,
                "type": "hotplug",
                "pf_id": victim["pf_id"],
                "vf_id": None,
                "sf_num": victim.get("sf_num"),
                "adopted": False,
            }
        },
    }
    as_attacker("write", str(world.data / "inventory.json"), json.dumps(planted))
    mark = world.mark()
    proc = world.virtnet("apply", "--prune")
    assert world.mutations(mark, op="unplug") == [], proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(world.with_mac(VICTIM_MAC)) == 1


@pytest.mark.xfail(
    strict=True, reason="issue 12 item 3: an inventory owned by another user is trusted"
)
def test_an_inventory_owned_by_another_user_is_refused(world):
    """Issue 12 item 3: inventory, journal and lock files are ours: another owner is a breach."""
    world.spec("web", MAC)
    assert world.virtnet("apply").returncode == 0
    inventory = world.data / "inventory.json"
    assert inventory.exists()
    os.chown(inventory, ATTACKER_UID, ATTACKER_UID)
    mark = world.mark()
    proc = world.virtnet("apply", "--prune")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert str(inventory) in proc.stdout + proc.stderr
    assert world.mutations(mark) == []


@pytest.mark.xfail(
    strict=True,
    reason='issue 12 item 7: an insecure state dir is reported as "cannot write the '
    "reconciler's state\"",
)
def test_an_insecure_state_dir_is_reported_as_insecure_not_as_unwritable(world):
    """Issue 12 item 7: the refusal says what it is (an insecure state dir), exit 1."""
    world.spec("web", MAC)
    world.state.chmod(0o777)
    proc = world.virtnet("apply")
    assert proc.returncode == 1
    assert str(world.state) in proc.stderr
    assert "writable" in proc.stderr
    assert "cannot write the reconciler's state" not in proc.stderr
