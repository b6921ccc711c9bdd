"""Builds one :class:`ObservedWorld` per cycle from the drivers: pure assembly, no policy."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from reconciler.backend import Backend
from reconciler.drivers.mlxconfig import MlxconfigValues, query_mlxconfig
from reconciler.drivers.recovery import read_records
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
    controller = backend.capabilities()
    devices = backend.cli.query_all()
    if read_live_update:
        controller = dataclasses.replace(controller, live_update_active=backend.cli.update_status())
    if read_firmware:
        controller = _with_firmware(backend, controller, notes)
    records, problems = read_records(backend.recovery_dir)
    notes.extend(f"recovery record {p}" for p in problems)
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


def _representors(backend: Backend, notes: list[str]):
    from reconciler.drivers.netlink import list_representors

    if backend.kind == "emulator" and backend.netns is None:
        # without --netns the emulator's representors exist only on paper: there is
        # no kernel side to compare with, so say so instead of reporting them missing
        notes.append("representors not read: the emulator has no netns "
                     "(set VIRTNET_EMULATOR_NETNS to give it real netdevs)")
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


def _with_firmware(backend: Backend, controller: ControllerInfo, notes: list[str]):
    """mlxconfig once per process: firmware values change only with a cold reboot."""
    if backend.mlxconfig_args is None:
        notes.append("firmware not read: set $VIRTNET_MLXCONFIG_DEVICE to the mlxconfig device")
        return controller
    if "firmware" not in backend.cache:
        try:
            backend.cache["firmware"] = query_mlxconfig(
                backend.mlxconfig_runner, backend.mlxconfig_args
            )
        except BackendError as e:
            notes.append(f"firmware not read: {e}")
            return controller
    values: MlxconfigValues = backend.cache["firmware"]
    in_force = values.current or values.next_boot
    return dataclasses.replace(controller, firmware=frozen_map(in_force))


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
