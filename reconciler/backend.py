"""The controller backend (vendor CLI or emulator): how to reach and restart it, and its files.

``resolve_backend`` picks one (DESIGN 4). Everything that differs between a DPU and
the emulator is a method or attribute of the two :class:`Backend` classes, so no other
module asks which one it has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from reconciler.drivers.mlxconfig import MlxconfigValues
from reconciler.drivers.runner import Runner, SubprocessRunner
from reconciler.drivers.virtnet_cli import VirtnetCli
from reconciler.errors import BackendError
from reconciler.model import ControllerInfo, RecoveryRecord

__all__ = [
    "EMULATOR",
    "VENDOR",
    "VENDOR_CLI_PATHS",
    "Backend",
    "BackendCache",
    "EmulatorBackend",
    "VendorBackend",
    "emulator_backend",
    "find_vendor_cli",
    "resolve_backend",
]

VENDOR = "vendor"
EMULATOR = "emulator"
VENDOR_CLI_PATHS = ("/usr/sbin/virtnet", "/usr/bin/virtnet")
VENDOR_ROOT = Path("/opt/mellanox/mlnx_virtnet")
VENDOR_DATA_DIR = Path("/var/lib/virtnet-reconciler")
EMULATOR_MODULE = "reconciler.emulator"
# virtnet.conf is read only at controller start (reference 10.2)
VENDOR_RESTART_ARGV = ("systemctl", "restart", "virtio-net-controller.service")
_RESTART_TIMEOUT_S = 120.0
_announced = False


@dataclass(slots=True)
class BackendCache:
    """Facts a process reads once (or again only when their source changed).

    ``capabilities``: ``virtnet list`` (fixed while the controller runs; dropped on
    restart). ``firmware``: mlxconfig (changes only with a cold power cycle).
    ``recovery``: the last read of the recovery dir and the stamp it was read at.
    """

    capabilities: ControllerInfo | None = None
    firmware: MlxconfigValues | None = None
    recovery: tuple[frozenset, tuple[tuple[RecoveryRecord, ...], tuple[str, ...]]] | None = None


@dataclass(frozen=True, kw_only=True)
class Backend(ABC):
    """One controller backend and the paths of its files; ``cache`` holds per-process facts.

    ``mlxconfig_args`` are run by ``mlxconfig_runner`` (which adds its own
    executable); ``None`` when no device to query is known. ``data_dir`` holds the
    reconciler's own files (inventory, journal, lock).
    """

    kind: ClassVar[str]
    # whether the DPU's RDMA devices (the hotplug ports' kernel side) can be listed here
    has_rdma_devices: ClassVar[bool]

    cli: VirtnetCli
    recovery_dir: Path
    conf_path: Path
    data_dir: Path
    mlxconfig_runner: Runner
    mlxconfig_args: tuple[str, ...] | None
    netns: str | None = None
    cache: BackendCache = field(default_factory=BackendCache, compare=False, repr=False)

    @property
    def mlxconfig_argv(self) -> tuple[str, ...] | None:
        """The full mlxconfig command line, for messages."""
        if self.mlxconfig_args is None:
            return None
        prefix = getattr(self.mlxconfig_runner, "prefix", ())
        return (*prefix, *self.mlxconfig_args)

    @property
    @abstractmethod
    def interrupted_grace_s(self) -> float:
        """How long a call whose CLI process died may still land in the controller (seconds)."""

    def capabilities(self) -> ControllerInfo:
        """``list`` once per process: capabilities do not change while the controller runs."""
        if self.cache.capabilities is None:
            self.cache.capabilities = self.cli.capabilities()
        return self.cache.capabilities

    def restart(self) -> None:
        """Restart the controller so it reads virtnet.conf again (its start time changes)."""
        self.cache.capabilities = None
        self._restart()

    @abstractmethod
    def _restart(self) -> None: ...

    def representors_unavailable(self) -> str | None:
        """Why representor netdevs cannot be read here at all (None: try netlink)."""
        return None


@dataclass(frozen=True, kw_only=True)
class VendorBackend(Backend):
    """The vendor's controller on a DPU: its ``virtnet`` CLI, systemd, the DPU's kernel."""

    kind: ClassVar[str] = VENDOR
    has_rdma_devices: ClassVar[bool] = True

    restart_argv: tuple[str, ...] = VENDOR_RESTART_ARGV

    @property
    def interrupted_grace_s(self) -> float:
        # the controller daemon finishes an RPC whose CLI was killed, up to the CLI's timeout
        return self.cli.timeout

    def _restart(self) -> None:
        argv = list(self.restart_argv)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=_RESTART_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise BackendError(f"controller restart failed: {e}", argv=argv) from e
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            raise BackendError(
                f"controller restart failed (exit {done.returncode}): {why[-1] if why else ''}",
                argv=argv,
                returncode=done.returncode,
            )


@dataclass(frozen=True, kw_only=True)
class EmulatorBackend(Backend):
    """The embedded emulator: its CLI (``virtnet-emu``), its state under ``emulator_root``."""

    kind: ClassVar[str] = EMULATOR
    # the emulator's ports have no kernel side: there are no RDMA devices to list
    has_rdma_devices: ClassVar[bool] = False

    emulator_root: Path

    @property
    def interrupted_grace_s(self) -> float:
        # the emulator's controller runs inside its CLI process: once no such process is
        # left (the engine waits for them first), nothing more can land
        return 0.0

    def _restart(self) -> None:
        self.cli.restart()

    def representors_unavailable(self) -> str | None:
        if self.netns is not None:
            return None
        # without a netns the emulator's representors exist only on paper: there is no
        # kernel side to compare with, so say so instead of reporting them missing
        return (
            "representors not read: the emulator has no netns "
            "(set VIRTNET_EMULATOR_NETNS to give it real netdevs)"
        )


def _is_own_script(path: Path) -> bool:
    """This package's console script (pip writes ``from reconciler.cli import main`` in it)."""
    try:
        if sys.argv and sys.argv[0] and path.resolve() == Path(sys.argv[0]).resolve():
            return True
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    # our console script, not any program that mentions the package (virtnet-emu can
    # stand in for the vendor CLI: it is a different device, not a loop back to us)
    return b"reconciler.cli" in head or b"reconciler import cli" in head


def find_vendor_cli(env: Mapping[str, str] | None = None) -> Path | None:
    """The vendor ``virtnet`` executable, never this package's own ``virtnet`` script."""
    env = os.environ if env is None else env
    explicit = env.get("VIRTNET_VENDOR_CLI")
    candidates = (explicit,) if explicit else VENDOR_CLI_PATHS
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and os.access(path, os.X_OK) and not _is_own_script(path):
            return path
    return None


def _announce(message: str) -> None:
    global _announced  # noqa: PLW0603 - said once per process, whoever asks first
    if not _announced:
        _announced = True
        print(f"virtnet: {message}", file=sys.stderr)


def resolve_backend(
    name: str | None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Backend:
    """``--backend`` value, else ``$VIRTNET_BACKEND``, else vendor when found, else emulator."""
    env = os.environ if env is None else env
    chosen = (name or env.get("VIRTNET_BACKEND") or "").strip().lower() or None
    if chosen not in (None, VENDOR, EMULATOR):
        raise BackendError(f"unknown backend {chosen!r}: use 'vendor' or 'emulator'")
    vendor = find_vendor_cli(env) if chosen != EMULATOR else None
    explicit = env.get("VIRTNET_VENDOR_CLI")
    if explicit and vendor is None and chosen != EMULATOR:
        # a typo here must not quietly turn a DPU's reconciler into an emulator's
        raise BackendError(
            f"VIRTNET_VENDOR_CLI={explicit} is not an executable vendor virtnet CLI; "
            "fix it, or choose --backend emulator"
        )
    if chosen == VENDOR and vendor is None:
        where = env.get("VIRTNET_VENDOR_CLI") or " or ".join(VENDOR_CLI_PATHS)
        raise BackendError(f"vendor backend asked for, but no vendor virtnet CLI at {where}")
    if vendor is not None:
        if chosen is None:
            _announce(f"using the vendor controller CLI {vendor}")
        return _vendor_backend(vendor, env, timeout)
    backend = emulator_backend(env, timeout=timeout)
    if chosen is None:
        _announce(f"no vendor CLI found; using the emulator backend at {backend.emulator_root}")
    return backend


def _vendor_backend(cli_path: Path, env: Mapping[str, str], timeout: float) -> VendorBackend:
    device = env.get("VIRTNET_MLXCONFIG_DEVICE")
    return VendorBackend(
        cli=VirtnetCli(SubprocessRunner(str(cli_path)), timeout=timeout),
        recovery_dir=Path(env.get("VIRTNET_RECOVERY_DIR") or VENDOR_ROOT / "recovery"),
        conf_path=Path(env.get("VIRTNET_CONF") or VENDOR_ROOT / "virtnet.conf"),
        data_dir=Path(env.get("VIRTNET_DATA_DIR") or VENDOR_DATA_DIR),
        mlxconfig_runner=SubprocessRunner("mlxconfig"),
        mlxconfig_args=("-d", device, "q", "-e") if device else None,
    )


def emulator_backend(
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 30.0,
    make_runner: Callable[[Path, str | None], Runner] | None = None,
) -> EmulatorBackend:
    """The emulator at ``$VIRTNET_EMULATOR_ROOT``, reached through ``virtnet-emu`` processes.

    ``make_runner(root, netns)`` replaces the subprocess with another way to call it
    (:func:`reconciler.emulator.inprocess.in_process_backend` calls it in this process).
    """
    env = os.environ if env is None else env
    # absolute, so a later chdir (or the child process) agrees on the same state
    root = Path(env.get("VIRTNET_EMULATOR_ROOT") or ".virtnet-emulator").absolute()
    netns = env.get("VIRTNET_EMULATOR_NETNS") or None
    if make_runner is not None:
        runner = make_runner(root, netns)
    else:
        child_env = {"VIRTNET_EMULATOR_ROOT": str(root)}
        if netns:
            child_env["VIRTNET_EMULATOR_NETNS"] = netns
        runner = SubprocessRunner((sys.executable, "-m", EMULATOR_MODULE), env=child_env)
    return EmulatorBackend(
        cli=VirtnetCli(runner, timeout=timeout),
        recovery_dir=Path(env.get("VIRTNET_RECOVERY_DIR") or root / "recovery"),
        conf_path=Path(env.get("VIRTNET_CONF") or root / "virtnet.conf"),
        data_dir=Path(env.get("VIRTNET_DATA_DIR") or root / "reconciler"),
        emulator_root=root,
        netns=netns,
        mlxconfig_runner=runner,
        mlxconfig_args=("mlxconfig", "-d", "emu", "q", "-e"),
    )
