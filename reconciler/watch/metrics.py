"""Prometheus metrics and a /healthz endpoint for ``virtnet watch`` (the opt-in [metrics] extra)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.errors import EXIT_BLOCKED, EXIT_CHANGES, EXIT_ERROR, EXIT_OK, ReconcilerError
from reconciler.model import CycleResult

__all__ = [
    "Health",
    "Metrics",
    "MetricsServer",
    "MetricsUnavailableError",
    "cycle_succeeded",
    "parse_address",
]

_INSTALL = "install virtnet-reconciler[metrics] (prometheus-client) to use --metrics-address"
_RESULTS = {EXIT_OK: "converged", EXIT_CHANGES: "pending", EXIT_BLOCKED: "blocked"}
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsUnavailableError(ReconcilerError, ImportError):
    """Metrics were asked for but cannot be served: the [metrics] extra is missing, the
    address is malformed or cannot be bound. The operator's set-up, reported as one line."""


@dataclass(frozen=True)
class Health:
    """Whether the loop is alive: ``ok`` plus a reason a person can act on."""

    ok: bool
    reason: str


def _prometheus():
    try:
        import prometheus_client
    except ImportError as exc:
        raise MetricsUnavailableError(_INSTALL) from exc
    return prometheus_client


def cycle_succeeded(result: CycleResult) -> bool:
    """A cycle counts for health when it reached the controller.

    Bad specs and refused changes are reported in the status and the metrics;
    restarting the reconciler would not fix them, so they do not make it unhealthy.
    """
    return result.exit_code != EXIT_ERROR or result.observe_calls > 0


class Metrics:
    """All watch-loop metrics on a private registry, so several can live in one process."""

    def __init__(self, *, health_threshold_s: float = 300.0, clock=time.time) -> None:
        prom = _prometheus()
        self._prom = prom
        self._clock = clock
        self.registry = prom.CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._cycles = prom.Counter(
            "virtnet_reconcile_total", "Reconcile cycles by result.", ["result"], registry=reg
        )
        self._duration = prom.Histogram(
            "virtnet_reconcile_duration_seconds",
            "Reconcile cycle duration.",
            buckets=_BUCKETS,
            registry=reg,
        )
        self._drift = prom.Counter(
            "virtnet_drift_repairs_total", "Changes that repaired drift.", registry=reg
        )
        self._applied = prom.Counter(
            "virtnet_changes_applied_total", "Changes applied, by action.", ["action"], registry=reg
        )
        self._blocked = prom.Gauge(
            "virtnet_blocked_items", "Changes blocked in the last cycle.", registry=reg
        )
        self._errors = prom.Counter(
            "virtnet_errors_total", "Spec errors and refused changes.", registry=reg
        )
        self._last_success = prom.Gauge(
            "virtnet_last_success_timestamp_seconds", "When a cycle last succeeded.", registry=reg
        )
        self._threshold = health_threshold_s
        self._started = clock()
        self._last_ok: float | None = None
        self._lock = threading.Lock()

    def record(self, result: CycleResult) -> None:
        """Account one finished cycle."""
        self._cycles.labels(result=_RESULTS.get(result.exit_code, "error")).inc()
        self._duration.observe(max(0.0, result.duration_s))
        self._drift.inc(result.drift_repaired)
        for change in result.applied:
            self._applied.labels(action=change.action.value).inc()
        self._blocked.set(len(result.plan.blocked))
        self._errors.inc(len(result.errors) + len(result.failed))
        if cycle_succeeded(result):
            now = self._clock()
            with self._lock:
                self._last_ok = now
            self._last_success.set(now)

    def record_crash(self) -> None:
        """A cycle that could not run at all (lock held elsewhere, unexpected backend state)."""
        self._cycles.labels(result="error").inc()
        self._errors.inc()

    def health(self) -> Health:
        """200-worthy while a cycle succeeded within the threshold (or we just started)."""
        now = self._clock()
        with self._lock:
            last = self._last_ok
        if last is None:
            waited = now - self._started
            if waited < self._threshold:
                return Health(True, "starting: no reconcile finished yet")
            return Health(False, f"no successful reconcile in {waited:.0f}s since start")
        age = now - last
        if age > self._threshold:
            return Health(
                False,
                f"last successful reconcile {age:.0f}s ago (threshold {self._threshold:.0f}s)",
            )
        return Health(True, f"last successful reconcile {age:.0f}s ago")

    def exposition(self) -> tuple[bytes, str]:
        """The /metrics body and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); a bare ``:PORT`` listens on localhost."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise MetricsUnavailableError(
            f"bad metrics address {address!r}: expected HOST:PORT, e.g. 127.0.0.1:9464"
        )
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class MetricsServer:
    """An HTTP server on its own daemon thread serving /metrics and /healthz."""

    def __init__(self, metrics: Metrics, address: str) -> None:
        host, port = parse_address(address)
        handler = _handler_for(metrics)
        server_cls = _V6Server if ":" in host else ThreadingHTTPServer
        try:
            self._server = server_cls((host, port), handler)
        except OSError as exc:
            raise MetricsUnavailableError(f"cannot listen on {address}: {exc.strerror}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="virtnet-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful with port 0 in tests)."""
        return self._server.server_address[1]

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler_for(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, ctype = metrics.exposition()
                self._send(200, body, ctype)
            elif path == "/healthz":
                health = metrics.health()
                self._send(200 if health.ok else 503, f"{health.reason}\n".encode(), "text/plain")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:
            """Scrapes every few seconds would drown the reconcile log: stay quiet."""

    return _Handler
