"""The embedded controller: a faithful emulator of the BlueField virtio-net controller.

Reachable in process (``Emulator(root).run(argv)``) and as ``virtnet-emu``, which
speaks the vendor argv and output of docs/vendor-cli.md. Choices the vendor
reference leaves open, made here:

* pf_ids: static PFs are 0..NUM_PF-1; hotplug PFs take the lowest free id from
  NUM_PF up, so an id freed by unplug is reused. A hotplug PF's VUID names its
  switch port (``...VNETS1D<port>F0``), the lowest free port is used.
* SF numbers: static PFs from 1000, hotplug PFs from 2000, VFs from 3000, next
  free in each range; ``hotplug -u N`` pins (EINVAL below 1000, EEXIST if used).
  Every device uses one of its port's PF_TOTAL_SF (ENOSPC when exhausted).
* Guest driver: ``guest bind`` sets the status byte to 15 (0->1->3->11->15),
  ``guest unbind`` to 0. A device-level modify of MAC/MTU/features/MSI-X/queue
  size while the driver is bound is accepted but pending: ``query`` shows the
  running values until the unbind (driver reset), then the pending ones. The
  recovery record already holds the new values.
* Live update: ``update -s`` starts a window of ``$VIRTNET_EMULATOR_UPDATE_SECONDS``
  (default 2 s) of wall time; devices hand over one at a time in BDF order, each
  migrating during its own 1/n slice; hotplug/unplug get EBUSY for the whole window.
* Restart / stop+start / power-cycle rebuild the controller from firmware, the
  host's sriov_numvfs and recovery records only (MTU, features, queue size revert).
  Records that do not fit the (new) limits are ignored and stay on disk, and so
  are record files that cannot be read or parsed or whose JSON is not an object.
* A corrupt ``state.json`` or an unusable root is one ``ERR: `` line on stderr and
  exit 1 (``init`` still works, to start over); any other unexpected failure of
  ``virtnet-emu`` is ``ERR: internal emulator error: <type>: <msg>``, never a
  traceback (``VIRTNET_DEBUG=1`` re-raises).
* Faults target hotplug/unplug/modify unless ``--ops`` says otherwise.
"""

from __future__ import annotations

from reconciler.emulator.controller import VendorError
from reconciler.emulator.emulator import Emulator
from reconciler.emulator.firmware import FirmwareProfile
from reconciler.emulator.state import ControllerState, Device

__all__ = ["ControllerState", "Device", "Emulator", "FirmwareProfile", "VendorError"]
