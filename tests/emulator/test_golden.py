"""Golden vendor outputs under tests/data/vendor/ stay what the emulator prints.

The files are also input for the vendor-CLI driver's parser tests. Regenerate with
``VIRTNET_REGEN_GOLDEN=1 pytest tests/emulator/test_golden.py`` after a deliberate change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.emulator import Emulator

DATA = Path(__file__).resolve().parents[1] / "data" / "vendor"
HOTPLUG = [
    "hotplug",
    "-i",
    "mlx5_0",
    "-m",
    "0C:C4:7A:FF:22:93",
    "-t",
    "1500",
    "-n",
    "4",
    "-s",
    "256",
]


def _scenario() -> dict[str, tuple[int, str]]:
    emu = Emulator(None)
    emu.run(["init", "--num-pf", "1", "--num-vf", "2"])
    outputs = {"hotplug.txt": emu.run(HOTPLUG)}
    emu.run(["modify", "-p", "0", "-v", "1", "device", "-n", "4"])
    emu.run(["guest", "bind", "-p", "0", "-v", "0"])
    outputs["list.txt"] = emu.run(["list"])
    outputs["query_all_brief.txt"] = emu.run(["query", "-a", "-b"])
    outputs["query_vf.txt"] = emu.run(["query", "-p", "0", "-v", "1"])
    outputs["error_unplug_static.txt"] = emu.run(["unplug", "-p", "0"])
    outputs["update_status.txt"] = emu.run(["update", "-t"])
    outputs["version.txt"] = emu.run(["version"])
    return {name: (code, out) for name, (code, out, _err) in outputs.items()}


class TestGoldenOutputs:
    """Each golden file is byte-identical to a fresh run of its scenario."""

    @pytest.mark.parametrize("name", sorted(_scenario()))
    def test_output_matches_golden_file(self, name):
        code, out = _scenario()[name]
        path = DATA / name
        if os.environ.get("VIRTNET_REGEN_GOLDEN"):
            DATA.mkdir(parents=True, exist_ok=True)
            path.write_text(out)
        assert code == (1 if name.startswith("error") else 0)
        assert path.read_text() == out
