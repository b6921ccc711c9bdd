"""One :class:`ObservedWorld` per cycle: a single ``query -a -b``, plus what surrounds it.

Reads, through the drivers, the controller's devices and capabilities, the recovery
records (reused while no record file changed), ``virtnet.conf``, the representor
netdevs, the RDMA devices and mlxconfig; the once-per-process reads run in threads
beside the query. A secondary source that cannot be read becomes ``None`` and a
note; nothing here decides what to do about any of it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from reconciler.backend import Backend
from reconciler.drivers.mlxconfig import MlxconfigValues, query_mlxconfig
from reconciler.drivers.recovery import read_records
from reconciler.drivers.runner import SubprocessRunner
from reconciler.errors import BackendError
from reconciler.model import ControllerInfo, ObservedWorld, frozen_map

__all__ = ["observe", "read_config"]


def observe(
    backend: Backend,
    *,
    read_representors: bool = True,
    read_rdma: bool = False,
    read_firmware: bool = False,
    read_live_update: bool = False,
) -> ObservedWorld:
    """Everything the planner compares against, with exactly one ``query -a -b`` call.

    Controller failures raise :class:`BackendError` (there is nothing to plan
    against); secondary sources that cannot be read become ``None`` plus a note.
    """
    notes: list[str] = []
    # records before devices: a device hotplugged between the two reads would otherwise
    # show a record with no device, i.e. look orphaned, and could be cleaned up
    records, problems = _recovery_records(backend)
    notes.extend(f"recovery record {p}" for p in problems)
    firmware = read_firmware and backend.mlxconfig_args is not None
    background = _Prefetch(backend, firmware=firmware)
    try:
        devices = backend.cli.query_all()
    finally:
        background.join()
    controller = background.capabilities()
    if read_live_update:
        controller = dataclasses.replace(controller, live_update_active=backend.cli.update_status())
    if read_firmware:
        controller = _with_firmware(backend, controller, notes, background.firmware_error)
    representors = _representors(backend, notes) if read_representors else None
    rdma = _rdma(notes) if read_rdma else None
    config, problem = read_config(backend.conf_path)
    if problem:
        notes.append(problem)
    return ObservedWorld(
        controller=controller,
        devices=devices,
        recovery=records,
        representors=representors,
        rdma_devices=rdma,
        config_on_disk=config,
        notes=tuple(notes),
    )


def _recovery_records(backend: Backend):
    """``read_records``, reused while no record file changed since the last cycle.

    A DPU with 4096 devices has 4096 record files; opening and parsing them all
    was a fifth of a no-op cycle. One ``scandir`` + ``stat`` per file tells whether
    anything changed: the controller writes records by rename (new inode) or in
    place (new mtime/size), and a file added or removed changes the name set.
    """
    stamp = _records_stamp(backend.recovery_dir)
    cached = backend.cache.recovery
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    result = read_records(backend.recovery_dir)
    if stamp is not None:
        backend.cache.recovery = (stamp, result)
    return result


def _records_stamp(directory: Path) -> frozenset | None:
    """(name, inode, size, mtime_ns) of every entry; ``None`` when it cannot be listed."""
    try:
        with os.scandir(directory) as entries:
            return frozenset(
                (e.name, st.st_ino, st.st_size, st.st_mtime_ns)
                for e in entries
                for st in (e.stat(follow_symlinks=True),)
            )
    except OSError:
        return None


def _representors(backend: Backend, notes: list[str]):
    from reconciler.drivers.netlink import list_representors

    unavailable = backend.representors_unavailable()
    if unavailable is not None:
        notes.append(unavailable)
        return None
    try:
        return frozen_map(list_representors(backend.netns))
    except BackendError as e:
        notes.append(f"representors not read: {e}")
        return None


def _rdma(notes: list[str]) -> tuple[str, ...] | None:
    from reconciler.drivers.rdma import list_rdma_devices

    inventory = list_rdma_devices()
    if inventory.problem:
        notes.append(f"RDMA devices not read: {inventory.problem}")
    return inventory.devices


class _Prefetch:
    """The once-per-process reads (``list``, mlxconfig) run beside ``query -a -b``.

    A cold ``virtnet diff`` otherwise waits for three controller calls in a row;
    each vendor CLI call is its own process, so they overlap well even on two cores
    (other runners are called one after the other, before the query, as before).
    Later cycles find both cached and start no thread at all.
    """

    def __init__(self, backend: Backend, *, firmware: bool):
        self.backend = backend
        self.caps_error: BackendError | None = None
        self.firmware_error: BackendError | None = None
        self.threads = []
        if backend.cache.capabilities is None:
            self._start(self._caps)
        if firmware and backend.cache.firmware is None:
            self._start(self._firmware)

    def _start(self, target) -> None:
        if not isinstance(self.backend.cli.runner, SubprocessRunner):
            # an in-process emulator shares our stdout redirection and memory: in order
            target()
            return
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _caps(self) -> None:
        try:
            self.backend.capabilities()
        except BackendError as e:
            self.caps_error = e

    def _firmware(self) -> None:
        try:
            self.backend.cache.firmware = query_mlxconfig(
                self.backend.mlxconfig_runner, self.backend.mlxconfig_args
            )
        except BackendError as e:
            self.firmware_error = e

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def capabilities(self) -> ControllerInfo:
        if self.caps_error is not None:
            raise self.caps_error
        return self.backend.capabilities()


def _with_firmware(
    backend: Backend,
    controller: ControllerInfo,
    notes: list[str],
    prefetch_error: BackendError | None = None,
):
    """mlxconfig once per process: firmware values change only with a cold reboot."""
    if backend.mlxconfig_args is None:
        notes.append("firmware not read: set $VIRTNET_MLXCONFIG_DEVICE to the mlxconfig device")
        return controller
    if prefetch_error is not None:
        notes.append(f"firmware not read: {prefetch_error}")
        return controller
    if backend.cache.firmware is None:
        try:
            backend.cache.firmware = query_mlxconfig(
                backend.mlxconfig_runner, backend.mlxconfig_args
            )
        except BackendError as e:
            notes.append(f"firmware not read: {e}")
            return controller
    values: MlxconfigValues = backend.cache.firmware
    in_force = values.current or values.next_boot
    next_boot = frozen_map(values.next_boot if in_force else {})
    return dataclasses.replace(
        controller, firmware=frozen_map(in_force), firmware_next_boot=next_boot
    )


def read_config(path: Path) -> tuple[Mapping | None, str | None]:
    """``virtnet.conf`` as parsed JSON (``None`` if absent), and a note when it is unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as e:
        return None, f"{path}: unreadable: {getattr(e, 'strerror', None) or e}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        return None, f"{path}: not valid JSON: {str(e).splitlines()[0][:100]}"
    if not isinstance(data, dict):
        return None, f"{path}: not a JSON object"
    return frozen_map(data), None
