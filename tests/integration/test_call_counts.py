"""Controller call counts: N mutating calls for N devices, one observation per cycle, 0 on re-apply.

Counted twice over, from the two sides of the wire: the emulator's ledger
(``virtnet-emu calls``, what the controller received) and the driver runner's
per-op counters (what the reconciler sent). Operations are counted, never timed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backend import resolve_backend
from reconciler.engine import Engine, EngineOptions

MUTATING = ("hotplug", "unplug", "modify")
N_VFS = 6
N_HOTPLUG = 3


def _write_specs(sandbox) -> None:
    """N_VFS VFs whose MTU differs from the booted one, and N_HOTPLUG new hotplug PFs."""
    sandbox.write(
        "fleet.yaml",
        "apiVersion: virtnet/v1\nkind: VirtioNetDeviceSet\nmetadata:\n  name: fleet\n"
        f'spec:\n  pf_id: 0\n  vf_ids: "0-{N_VFS - 1}"\n  mac_base: "cc:48:15:ff:00:00"\n'
        "  template:\n    mtu: 9000\n",
    )
    for i in range(N_HOTPLUG):
        sandbox.hotplug(f"hp-{i}", f"0c:c4:7a:00:01:{i:02x}")


def _engine(sandbox) -> Engine:
    """An Engine on the sandbox's DPU through the virtnet-emu subprocess (as the CLI runs it)."""
    backend = resolve_backend("emulator", env=sandbox.env)
    return Engine(
        EngineOptions(state_dir=sandbox.state, status_dir=Path(sandbox.env["VIRTNET_STATUS_DIR"])),
        backend,
    )


def _ledger(sandbox) -> dict[str, int]:
    counts = sandbox.emu_json("calls")
    return {op: counts.get(op, 0) for op in (*MUTATING, "query")}


@pytest.fixture
def dpu(sandbox, monkeypatch):
    monkeypatch.delenv("VIRTNET_DATA_DIR", raising=False)
    sandbox.emu("init", "--num-pf", "1", "--num-vf", "16")
    _write_specs(sandbox)
    sandbox.clear_calls()
    return sandbox


class TestFirstApply:
    """The first apply issues exactly one mutating call per device that needs a change."""

    def test_first_apply_issues_one_mutating_call_per_device(self, dpu):
        engine = _engine(dpu)
        result = engine.reconcile()
        assert result.exit_code == 0, result.errors
        ledger = _ledger(dpu)
        assert ledger["modify"] == N_VFS  # all fields of a device in one modify
        assert ledger["hotplug"] == N_HOTPLUG
        assert ledger["unplug"] == 0
        assert result.mutating_calls == N_VFS + N_HOTPLUG

    def test_runner_counters_agree_with_the_controller_ledger(self, dpu):
        engine = _engine(dpu)
        engine.reconcile()
        sent = engine.backend.cli.calls
        ledger = _ledger(dpu)
        for op in (*MUTATING, "query"):
            assert sent[op] == ledger[op], op

    def test_each_observation_is_one_query_call(self, dpu):
        engine = _engine(dpu)
        result = engine.reconcile()
        # the cycle's observation plus the verification re-reads, one query each
        assert _ledger(dpu)["query"] == result.observe_calls >= 2


class TestReapply:
    """Once converged, a cycle observes once and changes nothing."""

    def test_reapply_issues_zero_mutating_calls_and_one_query(self, dpu):
        engine = _engine(dpu)
        engine.reconcile()
        dpu.clear_calls()
        before = dict(engine.backend.cli.calls)
        result = engine.reconcile()
        assert result.exit_code == 0
        assert result.mutating_calls == 0
        assert _ledger(dpu) == {"hotplug": 0, "unplug": 0, "modify": 0, "query": 1}
        sent = {op: engine.backend.cli.calls[op] - before.get(op, 0) for op in (*MUTATING, "query")}
        assert sent == {"hotplug": 0, "unplug": 0, "modify": 0, "query": 1}

    def test_capabilities_and_firmware_are_read_once_per_process(self, dpu):
        engine = _engine(dpu)
        for _ in range(3):
            engine.reconcile()
        assert engine.backend.cli.calls["list"] == 1
        assert engine.backend.cli.calls["mlxconfig"] == 1

    def test_cold_reapply_through_the_cli_issues_zero_mutating_calls(self, dpu):
        dpu.virtnet("apply", check=0)
        dpu.clear_calls()
        dpu.virtnet("apply", check=0)
        assert _ledger(dpu) == {"hotplug": 0, "unplug": 0, "modify": 0, "query": 1}
