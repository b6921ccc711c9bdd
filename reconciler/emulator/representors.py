"""SF representors as real netdevs (ifb) in a network namespace, through pyroute2."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["REP_PREFIX", "sync_representors"]

REP_PREFIX = "en3f"


def sync_representors(netns: str, wanted: Iterable[str]) -> dict[str, int]:
    """Make the netns hold exactly the ``wanted`` representors; return name -> ifindex.

    ``dummy`` links are unavailable on the target kernel, so representors are ``ifb``
    links. Only ``en3f*`` links are ever removed: other interfaces in the netns are
    left alone. pyroute2 is imported here so that the CLI starts without it.
    """
    from pyroute2 import IPRoute
    from pyroute2 import netns as nslib

    if netns not in nslib.listnetns():
        nslib.create(netns)
    wanted = set(wanted)
    with IPRoute(netns=netns) as ipr:
        have = {link.get_attr("IFLA_IFNAME"): link["index"] for link in ipr.get_links()}
        for name in sorted(set(have) - wanted):
            if name.startswith(REP_PREFIX):
                ipr.link("del", index=have.pop(name))
        for name in sorted(wanted - set(have)):
            ipr.link("add", ifname=name, kind="ifb")
            have[name] = ipr.link_lookup(ifname=name)[0]
    return {name: have[name] for name in wanted}
