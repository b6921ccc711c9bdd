"""Chooses the controller backend (vendor CLI or emulator) and where its files live (DESIGN 4)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.drivers.runner import InProcessRunner, Runner, SubprocessRunner
from reconciler.drivers.virtnet_cli import VirtnetCli
from reconciler.errors import BackendError
from reconciler.model import ControllerInfo

__all__ = [
    "EMULATOR",
    "VENDOR",
    "VENDOR_CLI_PATHS",
    "Backend",
    "find_vendor_cli",
    "resolve_backend",
]

VENDOR = "vendor"
EMULATOR = "emulator"
VENDOR_CLI_PATHS = ("/usr/sbin/virtnet", "/usr/bin/virtnet")
VENDOR_ROOT = Path("/opt/mellanox/mlnx_virtnet")
EMULATOR_MODULE = "reconciler.emulator"
# virtnet.conf is read only at controller start (reference 10.2)
VENDOR_RESTART_ARGV = ("systemctl", "restart", "virtio-net-controller.service")
_announced = False


@dataclass(frozen=True)
class Backend:
    """One controller backend and the paths of its files; ``cache`` holds per-process facts.

    ``mlxconfig_args`` are run by ``mlxconfig_runner`` (which adds its own
    executable); ``None`` when no device to query is known.
    """

    kind: str
    cli: VirtnetCli
    recovery_dir: Path
    conf_path: Path
    emulator_root: Path | None
    netns: str | None
    mlxconfig_runner: Runner
    mlxconfig_args: tuple[str, ...] | None
    restart_argv: tuple[str, ...]
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def mlxconfig_argv(self) -> tuple[str, ...] | None:
        """The full mlxconfig command line, for messages."""
        if self.mlxconfig_args is None:
            return None
        prefix = getattr(self.mlxconfig_runner, "prefix", ())
        return (*prefix, *self.mlxconfig_args)

    def capabilities(self) -> ControllerInfo:
        """``list`` once per process: capabilities do not change while the controller runs."""
        if "capabilities" not in self.cache:
            self.cache["capabilities"] = self.cli.capabilities()
        return self.cache["capabilities"]


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
    in_process: bool = False,
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
    backend = _emulator_backend(env, in_process, timeout)
    if chosen is None:
        _announce(f"no vendor CLI found; using the emulator backend at {backend.emulator_root}")
    return backend


def _vendor_backend(cli_path: Path, env: Mapping[str, str], timeout: float) -> Backend:
    device = env.get("VIRTNET_MLXCONFIG_DEVICE")
    return Backend(
        kind=VENDOR,
        cli=VirtnetCli(SubprocessRunner(str(cli_path)), timeout=timeout),
        recovery_dir=Path(env.get("VIRTNET_RECOVERY_DIR") or VENDOR_ROOT / "recovery"),
        conf_path=Path(env.get("VIRTNET_CONF") or VENDOR_ROOT / "virtnet.conf"),
        emulator_root=None,
        netns=None,
        mlxconfig_runner=SubprocessRunner("mlxconfig"),
        mlxconfig_args=("-d", device, "q", "-e") if device else None,
        restart_argv=VENDOR_RESTART_ARGV,
    )


def _emulator_backend(env: Mapping[str, str], in_process: bool, timeout: float) -> Backend:
    # absolute, so a later chdir (or the child process) agrees on the same state
    root = Path(env.get("VIRTNET_EMULATOR_ROOT") or ".virtnet-emulator").absolute()
    netns = env.get("VIRTNET_EMULATOR_NETNS") or None
    prefix = (sys.executable, "-m", EMULATOR_MODULE)
    runner: Runner
    if in_process:
        from reconciler.emulator import Emulator

        runner = InProcessRunner(Emulator(root, netns=netns))
    else:
        child_env = {"VIRTNET_EMULATOR_ROOT": str(root)}
        if netns:
            child_env["VIRTNET_EMULATOR_NETNS"] = netns
        runner = SubprocessRunner(prefix, env=child_env)
    return Backend(
        kind=EMULATOR,
        cli=VirtnetCli(runner, timeout=timeout),
        recovery_dir=Path(env.get("VIRTNET_RECOVERY_DIR") or root / "recovery"),
        conf_path=Path(env.get("VIRTNET_CONF") or root / "virtnet.conf"),
        emulator_root=root,
        netns=netns,
        mlxconfig_runner=runner,
        mlxconfig_args=("mlxconfig", "-d", "emu", "q", "-e"),
        restart_argv=(*prefix, "restart"),
    )
