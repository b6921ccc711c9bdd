"""SF representor netdevs through netlink (pyroute2, imported where used): list and set up/MTU."""

from __future__ import annotations

import errno as errno_codes
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.errors import BackendError
from reconciler.model import Representor

__all__ = ["REPRESENTOR_RE", "list_representors", "set_representor"]

# udev's name for an SF representor: en3f<port>pf<pf_num>sf<sf_num> (reference section 8)
REPRESENTOR_RE = re.compile(r"en3f\d+pf\d+sf\d+")
_IFF_UP = 0x1


@contextmanager
def _socket(netns: str | None) -> Iterator[Any]:
    """An IPRoute (or NetNS) socket; never creates a namespace that does not exist."""
    where = f"network namespace {netns!r}" if netns else "the host network namespace"
    try:
        from pyroute2 import IPRoute, NetNS
    except ImportError as e:
        raise BackendError("pyroute2 is not installed (pip install pyroute2)") from e
    try:
        # flags=0: pyroute2's default O_CREAT would silently create a missing namespace
        sock = NetNS(netns, flags=0) if netns else IPRoute()
    except FileNotFoundError as e:
        raise BackendError(f"{where} does not exist (ip netns list)") from e
    except PermissionError as e:
        raise BackendError(f"no permission to open {where}: run as root") from e
    except OSError as e:
        raise BackendError(f"cannot open {where}: {e.strerror or e}") from e
    try:
        yield sock
    finally:
        sock.close()


def _netlink_call(what: str, call: Callable[[], Any]) -> Any:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        return call()
    except NetlinkError as e:
        if e.code in (errno_codes.EPERM, errno_codes.EACCES):
            raise BackendError(
                f"{what}: operation not permitted (needs root / CAP_NET_ADMIN)", errno=e.code
            ) from e
        raise BackendError(f"{what}: {e}", errno=e.code) from e
    except OSError as e:
        raise BackendError(f"{what}: {e.strerror or e}", errno=e.errno) from e


def list_representors(netns: str | None = None) -> dict[str, Representor]:
    """Every link named like an SF representor, by name, as the kernel reports it now."""
    with _socket(netns) as sock:
        links = _netlink_call("list links", sock.get_links)
    found: dict[str, Representor] = {}
    for link in links:
        name = link.get("ifname") or link.get_attr("IFLA_IFNAME")
        if not name or not REPRESENTOR_RE.fullmatch(name):
            continue
        found[name] = Representor(
            name=name,
            ifindex=int(link.get("index")),
            up=bool(int(link.get("flags") or 0) & _IFF_UP),
            mtu=int(link.get("mtu") or link.get_attr("IFLA_MTU") or 0),
        )
    return found


def set_representor(
    name: str, *, up: bool | None = None, mtu: int | None = None, netns: str | None = None
) -> None:
    """Set the admin state and/or MTU of one representor in one netlink request."""
    if up is None and mtu is None:
        return
    changes: dict[str, Any] = {}
    if up is not None:
        changes["state"] = "up" if up else "down"
    if mtu is not None:
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 0 < mtu < 1 << 31:
            # out of the kernel's u32 range, pyroute2 would fail while packing, not with errno
            raise BackendError(f"set {name}: invalid MTU {mtu!r}", errno=errno_codes.EINVAL)
        changes["mtu"] = mtu
    with _socket(netns) as sock:
        found = _netlink_call(f"look up {name}", lambda: sock.link_lookup(ifname=name))
        if not found:
            raise BackendError(f"representor {name} does not exist", errno=errno_codes.ENODEV)
        _netlink_call(f"set {name}", lambda: sock.link("set", index=found[0], **changes))
