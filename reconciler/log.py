"""structlog set-up: key=value events on stderr, JSON when stderr is not a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]

_LEVELS = ("debug", "info", "warning", "error", "critical")


def configure_logging(*, json: bool | None = None, level: str = "info") -> None:
    """Route every structlog event to stderr, rendered for whoever reads it.

    A journal, a container runtime or a log shipper reads a pipe and wants one
    JSON object per line; a person at a terminal wants aligned key=value pairs
    in colour. ``json=None`` picks by ``isatty`` so the unit file and the
    DaemonSet need no flag. Loggers are not cached, so tests can still capture.
    """
    name = level.lower()
    if name not in _LEVELS:
        from reconciler.errors import ReconcilerError

        raise ReconcilerError(
            f"unknown log level {level!r} (VIRTNET_LOG_LEVEL): expected one of {', '.join(_LEVELS)}"
        )
    as_json = not sys.stderr.isatty() if json is None else json
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        # a traceback inside a JSON object, not a multi-line dump that breaks the stream
        processors.append(structlog.processors.dict_tracebacks)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, name.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
