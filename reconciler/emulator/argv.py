"""Argument parsing: the vendor ``virtnet`` argv, plus the emulator-only subcommands.

Imports argparse only: the thin client parses here before it talks to the service.
"""

from __future__ import annotations

import argparse

__all__ = ["ArgvExit", "build_parser"]


class ArgvExit(Exception):
    """argparse wanted to exit (usage error: 2, ``-h``: 0); its text is already printed."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def exit(self, status=0, message=None):
        if message:
            self._print_message(message, None)
        raise ArgvExit(status)

    def _print_message(self, message, file=None):
        import sys  # resolved at call time so that redirect_stdout/stderr capture it

        if message:
            (file or sys.stderr).write(message)


def _hex(text: str) -> int:
    return int(text, 16)


def _selector(p: argparse.ArgumentParser, *, vf: bool = True) -> None:
    p.add_argument("-p", "--pf", type=int, dest="pf_id")
    if vf:
        p.add_argument("-v", "--vf", type=int, dest="vf_id")
    p.add_argument("-u", "--vuid")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="virtnet", description="virtio-net controller CLI (emulated)")
    parser.add_argument("-v", "--version", action="store_true", help="show version")
    parser.add_argument("--netns", help="emulator: create SF representors in this netns")
    parser.add_argument("--root", help="emulator: the emulated DPU's directory")
    sub = parser.add_subparsers(dest="op", parser_class=_Parser)
    _vendor(sub)
    _emulator(sub)
    return parser


def _vendor(sub) -> None:
    hp = sub.add_parser("hotplug", help="hotplug a virtio-net PF")
    hp.add_argument("-i", "--ib_device", required=True)
    hp.add_argument("-m", "--mac", required=True)
    hp.add_argument("-t", "--mtu", type=int, required=True)
    hp.add_argument("-n", "--max_queues", type=int, required=True)
    hp.add_argument("-s", "--max_queue_size", type=int, required=True)
    hp.add_argument("-u", "--sf_num", type=int)
    hp.add_argument("-f", "--features", type=_hex)
    hp.add_argument("-l", "--legacy", action="store_true")
    _selector(sub.add_parser("unplug", help="unplug a hotplug PF"), vf=False)
    sub.add_parser("list", help="list devices and controller capabilities")
    for name in ("query", "stats"):
        q = sub.add_parser(name, help=f"{name} one or all devices")
        q.add_argument("-a", "--all", action="store_true")
        _selector(q)
        q.add_argument("-b", "--brief", action="store_true")
        q.add_argument("--latency_stats", action="store_true")
    md = sub.add_parser("modify", help="modify a device")
    _selector(md)
    msub = md.add_subparsers(dest="target", required=True, parser_class=_Parser)
    dev = msub.add_parser("device")
    dev.add_argument("-m", "--mac")
    dev.add_argument("-t", "--mtu", type=int)
    dev.add_argument("-f", "--features", type=_hex)
    dev.add_argument("-n", "--num_msix", type=int)
    dev.add_argument("-q", "--max_queue_size", type=int)
    que = msub.add_parser("queue")
    que.add_argument("-e", "--event_mode", required=True)
    que.add_argument("-n", "--period", type=int, required=True)
    que.add_argument("-c", "--max_count", type=int, required=True)
    sub.add_parser("log", help="set log level").add_argument(
        "-l", "--level", required=True, choices=("info", "err", "debug"),
        help="log level: info/err/debug",
    )  # fmt: skip
    upd = sub.add_parser("update", help="live update")
    # the page spells both "update status" and "update -t", "update --start" and "-s"
    upd.add_argument("action", nargs="?", choices=("status",))
    group = upd.add_mutually_exclusive_group()
    group.add_argument("-s", "--start", action="store_true")
    group.add_argument("-t", "--status", action="store_true")
    for name in ("version", "restart", "validate", "health"):
        sub.add_parser(name)


def _emulator(sub) -> None:
    init = sub.add_parser("init", help="emulator: set up a fresh controller")
    for flag in (
        "--num-pf",
        "--num-vf",
        "--sriov-numvfs",
        "--switch-ports",
        "--total-sf",
        "--num-msix",
    ):
        init.add_argument(flag, type=int)
    init.add_argument("--force", action="store_true")
    guest = sub.add_parser("guest", help="emulator: bind/unbind the guest driver")
    guest.add_argument("action", choices=("bind", "unbind"))
    _selector(guest)
    host = sub.add_parser("host", help="emulator: host-side actions")
    host.add_argument("action", choices=("sriov",))
    host.add_argument("-p", "--pf", type=int, dest="pf_id", required=True)
    host.add_argument("--numvfs", type=int, required=True)
    fault = sub.add_parser("fault", help="emulator: fault injection")
    fault.add_argument("action", choices=("set", "clear"))
    fault.add_argument("--fail-nth", type=int)
    fault.add_argument("--fail-rate", type=float, default=0.0)
    fault.add_argument("--seed", type=int, default=0)
    fault.add_argument("--latency-ms", type=float, default=0.0)
    fault.add_argument("--crash-at", type=int)
    fault.add_argument("--ops")
    mlx = sub.add_parser("mlxconfig", help="emulator: firmware configuration")
    mlx.add_argument("-d", "--dev", default="/dev/mst/mt41686_pciconf0")
    mlx.add_argument("-y", "--yes", action="store_true")
    mlx.add_argument("-e", "--show_default", action="store_true")
    mlx.add_argument("command", choices=("q", "query", "s", "set"))
    mlx.add_argument("items", nargs="*")
    for name in ("power-cycle", "stop", "start"):
        sub.add_parser(name, help=f"emulator: {name} (stop/start: as systemctl does)")
    sub.add_parser("calls").add_argument("--clear", action="store_true")
    dbg = sub.add_parser("debug", help="emulator: debug knobs")
    dbg.add_argument("what", choices=("migrating",))
    dbg.add_argument("-u", "--vuid", required=True)
    dbg.add_argument("state", choices=("on", "off"))
    _service(sub)
    _dpu(sub)


def _service(sub) -> None:
    serve = sub.add_parser("serve", help="emulator: run the controller service in the foreground")
    serve.add_argument("--idle-timeout", type=float, help="exit after this many idle seconds")
    serve.add_argument("--auto", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    svc = sub.add_parser("service", help="emulator: the service, as systemctl drives it")
    svc.add_argument("action", choices=("start", "stop", "restart", "status"))
    sub.add_parser("journal", help="emulator: the service log").add_argument(
        "-n", "--lines", type=int, help="only the last N lines"
    )
    sub.add_parser("dump", help=argparse.SUPPRESS)


def _dpu(sub) -> None:
    sf = sub.add_parser("sf", help="emulator: SFs of other applications (devlink view)")
    sf.add_argument("action", choices=("add", "del", "show", "budget"))
    sf.add_argument("--port", type=int, default=0, help="PF (port) number: 0 or 1")
    sf.add_argument("--sfnum", type=int)
    sf.add_argument("--app", default="other")
    sf.add_argument("-j", "--json", action="store_true")
    udev = sub.add_parser("udev", help="emulator: udev rules naming SF representors")
    udev.add_argument("action", choices=("add", "del", "show"))
    udev.add_argument("--pf-num", type=int, default=0)
    udev.add_argument("--sf-num", type=int)
    udev.add_argument("--name")
    sub.add_parser("install", help="emulator: install a controller package").add_argument(
        "package_version"
    )
    mode = sub.add_parser("mode", help="emulator: controller builds and behaviours")
    mode.add_argument("action", choices=("show", "set", "reset"))
    mode.add_argument("items", nargs="*", metavar="NAME=VALUE")


_PARSER: list[argparse.ArgumentParser] = []


def parse_argv(argv: list[str]) -> argparse.Namespace:
    """Parse, with the checks argparse cannot express; usage errors raise ArgvExit(2).

    The parser is built once per process (30 subparsers: ~10 ms, per in-process call).
    """
    if not _PARSER:
        _PARSER.append(build_parser())
    parser = _PARSER[0]
    args = parser.parse_args(argv)
    if args.op == "update" and not (args.start or args.status or args.action):
        parser.error("update: one of -s/--start, -t/--status or status is required")
    if args.op == "update" and args.start and args.action:
        parser.error("update: --start and status are exclusive")
    return args
