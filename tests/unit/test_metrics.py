"""Metrics on a private registry; /metrics and /healthz over HTTP on an opt-in address."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from reconciler.model import Action, Change, ChangeStatus, CycleResult, Plan
from reconciler.watch.metrics import (
    Metrics,
    MetricsServer,
    MetricsUnavailableError,
    cycle_succeeded,
    parse_address,
)


class _Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _converged() -> CycleResult:
    change = Change(Action.MODIFY, "web")
    return CycleResult(
        plan=Plan(changes=(change,)),
        applied=(change,),
        drift_repaired=1,
        duration_s=0.2,
        observe_calls=2,
    )


def _blocked() -> CycleResult:
    blocked = Change(Action.MODIFY, "db", status=ChangeStatus.BLOCKED, reason="guest bound")
    return CycleResult(plan=Plan(changes=(blocked,)), exit_code=3, observe_calls=1)


class TestCounters:
    """Counts by result, drift repairs, blocked items, errors; registries are independent."""

    def test_cycles_are_counted_by_result(self):
        m = Metrics()
        m.record(_converged())
        m.record(_blocked())
        m.record(CycleResult(plan=Plan(), exit_code=1, errors=("no controller",)))
        reg = m.registry
        assert reg.get_sample_value("virtnet_reconcile_total", {"result": "converged"}) == 1
        assert reg.get_sample_value("virtnet_reconcile_total", {"result": "blocked"}) == 1
        assert reg.get_sample_value("virtnet_reconcile_total", {"result": "error"}) == 1
        assert reg.get_sample_value("virtnet_drift_repairs_total") == 1
        assert reg.get_sample_value("virtnet_errors_total") == 1
        assert reg.get_sample_value("virtnet_reconcile_duration_seconds_count") == 3
        assert reg.get_sample_value("virtnet_changes_applied_total", {"action": "modify"}) == 1

    def test_blocked_gauge_follows_the_last_cycle(self):
        m = Metrics()
        m.record(_blocked())
        assert m.registry.get_sample_value("virtnet_blocked_items") == 1
        m.record(_converged())
        assert m.registry.get_sample_value("virtnet_blocked_items") == 0

    def test_two_instances_do_not_share_a_registry(self):
        a, b = Metrics(), Metrics()
        a.record(_converged())
        assert (
            b.registry.get_sample_value("virtnet_reconcile_total", {"result": "converged"}) is None
        )


class TestHealth:
    """Healthy while a cycle reached the controller within the threshold."""

    def test_starting_up_is_healthy_until_the_threshold(self):
        clock = _Clock()
        m = Metrics(health_threshold_s=60, clock=clock)
        assert m.health().ok
        clock.now += 61
        assert not m.health().ok
        assert "no successful reconcile" in m.health().reason

    def test_a_stale_last_success_is_unhealthy(self):
        clock = _Clock()
        m = Metrics(health_threshold_s=60, clock=clock)
        m.record(_converged())
        clock.now += 30
        assert m.health().ok
        clock.now += 31
        health = m.health()
        assert not health.ok
        assert "61s ago" in health.reason

    def test_a_bad_spec_does_not_make_it_unhealthy_but_an_unreachable_controller_does(self):
        spec_error = CycleResult(plan=Plan(), exit_code=1, errors=("a.yaml: bad",), observe_calls=1)
        no_controller = CycleResult(plan=Plan(), exit_code=1, errors=("cannot connect",))
        assert cycle_succeeded(spec_error)
        assert not cycle_succeeded(no_controller)


class TestHttpServer:
    """/metrics is the exposition format; /healthz is 200 or 503 with the reason."""

    def _get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def test_serves_metrics_and_health(self):
        clock = _Clock()
        m = Metrics(health_threshold_s=60, clock=clock)
        m.record(_converged())
        server = MetricsServer(m, "127.0.0.1:0").start()
        try:
            code, body = self._get(server.port, "/metrics")
            assert code == 200
            assert 'virtnet_reconcile_total{result="converged"} 1.0' in body
            assert self._get(server.port, "/healthz")[0] == 200
            clock.now += 120
            code, body = self._get(server.port, "/healthz")
            assert code == 503
            assert "threshold 60s" in body
            assert self._get(server.port, "/nope")[0] == 404
        finally:
            server.close()


class TestAddress:
    """HOST:PORT, [V6]:PORT and :PORT; anything else is a clear error."""

    @pytest.mark.parametrize(
        ("text", "want"),
        [
            ("127.0.0.1:9464", ("127.0.0.1", 9464)),
            ("[::1]:9464", ("::1", 9464)),
            (":9464", ("127.0.0.1", 9464)),
            ("10.0.0.5:0", ("10.0.0.5", 0)),
        ],
    )
    def test_parses(self, text, want):
        assert parse_address(text) == want

    @pytest.mark.parametrize("text", ["9464", "host:", "host:http", "h:70000"])
    def test_rejects(self, text):
        with pytest.raises(MetricsUnavailableError, match="HOST:PORT"):
            parse_address(text)

    def test_a_port_in_use_is_a_one_line_error(self):
        first = MetricsServer(Metrics(), "127.0.0.1:0").start()
        try:
            with pytest.raises(MetricsUnavailableError, match="cannot listen on"):
                MetricsServer(Metrics(), f"127.0.0.1:{first.port}")
        finally:
            first.close()
