"""SF representors as real netdevs (ifb) in a network namespace, through pyroute2."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MARK", "REP_PREFIX", "sync_representors"]

REP_PREFIX = "en3f"
# udev may give a representor any name (page), so ours carry this interface alias
MARK = "virtnet-emu representor"


def sync_representors(netns: str, wanted: Iterable[str]) -> dict[str, int]:
    """Make the netns hold exactly the ``wanted`` representors; return name -> ifindex.

    ``dummy`` links are unavailable on the target kernel, so representors are ``ifb``
    links. Only links this emulator made (alias :data:`MARK`, or the default ``en3f``
    names of older runs) are ever removed: other interfaces in the netns are left alone.
    pyroute2 is imported here so that the service starts without it.
    """
    from pyroute2 import IPRoute
    from pyroute2 import netns as nslib

    if netns not in nslib.listnetns():
        nslib.create(netns)
    wanted = set(wanted)
    with IPRoute(netns=netns) as ipr:
        have, ours = {}, set()
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            have[name] = link["index"]
            if link.get_attr("IFLA_IFALIAS") == MARK or name.startswith(REP_PREFIX):
                ours.add(name)
        for name in sorted(ours - wanted):
            ipr.link("del", index=have.pop(name))
        for name in sorted(wanted - set(have)):
            ipr.link("add", ifname=name, kind="ifb")
            have[name] = ipr.link_lookup(ifname=name)[0]
            ipr.link("set", index=have[name], ifalias=MARK)
    return {name: have[name] for name in wanted}
