"""README's code map names every module of the package, so a new contributor can find each."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_outside_the_emulator_is_in_the_readme_map():
    readme = (ROOT / "README.md").read_text()
    package = ROOT / "reconciler"
    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*.py")
        if "emulator" not in p.relative_to(package).parts[:1] and p.name != "__init__.py"
    )
    missing = [m for m in modules if m not in readme]
    assert missing == [], f"add to README's map (section Development): {missing}"
    assert "reconciler/emulator/" in readme
