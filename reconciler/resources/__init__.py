"""One home per kind: ``<kind>.py`` is pure (normalise, diff), ``<kind>_apply.py`` does its I/O.

Kinds: ``device`` (VirtioNetDevice), ``device_set`` (VirtioNetDeviceSet, expanded to
devices), ``controller_config`` (virtnet.conf), ``recovery_records`` (observed only)
and ``firmware_profile`` (read-only). ``base`` is the surface they share, ``registry``
lists them once, ``handlers`` lists their apply handlers once. The planner may import
the pure modules only (an import-linter contract checks it).
"""

from __future__ import annotations

__all__: list[str] = []
