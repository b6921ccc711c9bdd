"""The embedded controller: a faithful emulator of the BlueField virtio-net controller.

A service (``virtnet-emu serve``, or started on first use) holding the controller in
memory, reached over JSON-RPC on ``<root>/controller.sock`` by the thin vendor-style
client ``virtnet-emu``; in process for tests as ``Emulator(root).run(argv)``. Every
choice it makes where the vendor's documents are silent is listed in docs/vendor-cli.md.

Names are imported lazily: the thin client imports this package and must stay light.
"""

from __future__ import annotations

__all__ = ["ControllerState", "Device", "Emulator", "FirmwareProfile", "VendorError"]

_WHERE = {
    "ControllerState": "reconciler.emulator.state",
    "Device": "reconciler.emulator.state",
    "Emulator": "reconciler.emulator.emulator",
    "FirmwareProfile": "reconciler.emulator.firmware",
    "VendorError": "reconciler.emulator.controller",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
