"""Load the desired-state directory into one :class:`DesiredState`, reusing unchanged files.

``load_state`` never raises for bad content: every problem becomes a one-line
:class:`SpecError` and the result is then incomplete (so nothing is pruned). Only a state
dir that is missing, not a directory or insecure raises.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from pathlib import Path

from reconciler import keys
from reconciler.loading.crosscheck import cross_check
from reconciler.loading.files import (
    check_root,
    iter_spec_files,
    os_reason,
    read_bounded,
    warn_insecure_once,
)
from reconciler.loading.parse import Limits, parse_bytes
from reconciler.loading.validate import DocResult, validate_document
from reconciler.model import DesiredState, Source, SpecError

__all__ = ["LoadCache", "load_state"]


@dataclass(frozen=True, slots=True)
class _Entry:
    key: tuple[int, int, int, int]
    results: tuple[DocResult, ...]
    errors: tuple[SpecError, ...]


class LoadCache:
    """Parsed and validated documents per file, reused while a file's stat is unchanged.

    The watch loop keeps one between cycles; ``parsed_files`` counts files actually
    parsed, so tests can check that an unchanged file is not parsed again.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.parsed_files = 0

    def get(self, path: str, key: tuple[int, int, int, int]) -> _Entry | None:
        entry = self._entries.get(path)
        return entry if entry is not None and entry.key == key else None

    def put(self, path: str, entry: _Entry) -> None:
        self._entries[path] = entry

    def forget_except(self, paths: set[str]) -> None:
        """Drop entries of files that are gone, so the cache does not grow forever."""
        for path in set(self._entries) - paths:
            del self._entries[path]


def _load_file(shown: str, limits: Limits) -> _Entry:
    try:
        data = read_bounded(shown, limits.max_bytes)
    except OSError as exc:
        return _Entry((0, 0, 0, 0), (), (SpecError(Source(shown), "", os_reason(exc)),))
    parsed = parse_bytes(data, shown, is_json=shown.endswith(".json"), limits=limits)
    # an empty document ("---" alone, or only comments) declares nothing, like kubectl
    results = tuple(validate_document(parsed, d) for d in parsed.documents if d.data is not None)
    return _Entry((0, 0, 0, 0), results, parsed.errors)


def load_state(
    state_dir,
    *,
    cache: LoadCache | None = None,
    check_permissions: bool = True,
    limits: Limits | None = None,
) -> DesiredState:
    """Everything the state dir declares, with every problem as a one-line error."""
    limits = limits or Limits()
    root_shown = Path(state_dir)
    if not check_permissions:
        warn_insecure_once()
    real_root = check_root(root_shown, check_permissions)
    cache = cache if cache is not None else LoadCache()
    results: list[DocResult] = []
    errors: list[SpecError] = []
    with _gc_paused():
        _load_all(
            root_shown, real_root, cache, check_permissions, limits, results=results, errors=errors
        )
    return _assemble(results, errors)


@contextlib.contextmanager
def _gc_paused():
    """Parsing thousands of documents allocates many long-lived, acyclic objects.

    The cyclic collector then rescans the growing heap over and over (it was 3/4 of the
    load time for 4096 devices); nothing here creates cycles that must be freed early.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_all(root_shown, real_root, cache, check_permissions, limits, *, results, errors) -> None:
    visited: set[str] = set()
    for shown, st, error in iter_spec_files(
        root_shown, real_root, check_permissions=check_permissions
    ):
        if error is not None:
            errors.append(error)
            continue
        visited.add(shown)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        entry = cache.get(shown, key)
        if entry is None:
            cache.parsed_files += 1
            loaded = _load_file(shown, limits)
            entry = _Entry(key, loaded.results, loaded.errors)
            cache.put(shown, entry)
        results.extend(entry.results)
        errors.extend(entry.errors)
    cache.forget_except(visited)


def _singleton(results: list[DocResult], kind: str, attr: str, errors: list[SpecError]):
    found = [r for r in results if r.kind == kind and getattr(r, attr) is not None]
    if len(found) <= 1:
        return getattr(found[0], attr) if found else None
    for r in found:
        others = ", ".join(f"{o.name!r} ({o.source})" for o in found if o is not r)
        errors.append(SpecError(r.source, "kind", f"at most one {kind}; also {others}"))
    return None


def _assemble(results: list[DocResult], errors: list[SpecError]) -> DesiredState:
    rejected: set[str] = set()
    devices = []
    for result in results:
        errors.extend(result.errors)
        if result.errors:
            rejected.update(n for n in (result.name, *result.declared) if n)
        devices.extend(result.devices)
    checked = cross_check(devices)
    errors.extend(checked.errors)
    config = _singleton(results, keys.KIND_CONTROLLER_CONFIG, "config", errors)
    firmware = _singleton(results, keys.KIND_FIRMWARE_PROFILE, "firmware", errors)
    errors.sort(key=lambda e: (e.source.file, e.source.line or 0, e.source.column or 0))
    return DesiredState(
        devices=checked.devices,
        controller_config=config,
        firmware=firmware,
        errors=tuple(errors),
        rejected=frozenset(rejected | checked.rejected),
    )
