"""Coverage-guided fuzz targets (atheris) for the spec loader and the vendor-CLI parser.

Run one for as long as you like, e.g.::

    python tests/fuzz/atheris_targets.py loader -atheris_runs=200000
    python tests/fuzz/atheris_targets.py parse -max_total_time=600

A finding is any exception other than the documented ones (none for the loader, whose
errors are values; BackendError for the parser). tests/fuzz/test_atheris.py runs both
briefly when atheris is installed.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from reconciler.drivers.parse import (
        parse_controller,
        parse_devices,
        parse_hotplug,
        parse_output,
        parse_version,
    )
    from reconciler.errors import BackendError
    from reconciler.loading.parse import parse_bytes
    from reconciler.loading.validate import validate_document

__all__ = ["fuzz_loader", "fuzz_parse"]


def fuzz_loader(data: bytes) -> None:
    """Parse and validate one file's bytes, as YAML and as JSON; errors must be one line."""
    for is_json in (False, True):
        parsed = parse_bytes(data, "f.json" if is_json else "f.yaml", is_json=is_json)
        for error in parsed.errors:
            if "\n" in str(error):
                raise AssertionError(f"multi-line error: {error!r}")
        for doc in parsed.documents:
            if doc.data is not None:
                validate_document(parsed, doc)


def fuzz_parse(data: bytes) -> None:
    """Run CLI output through every parser; only BackendError may escape."""
    fdp = atheris.FuzzedDataProvider(data)
    code = fdp.ConsumeIntInRange(0, 2)
    text = fdp.ConsumeUnicodeNoSurrogates(len(data))
    try:
        values = parse_output(code, text, "", ["query", "-a"])
    except BackendError:
        return
    for parser in (parse_devices, parse_controller, parse_hotplug, parse_version):
        with contextlib.suppress(BackendError):
            parser(values, ["query", "-a"])


_TARGETS = {"loader": fuzz_loader, "parse": fuzz_parse}


def main() -> None:
    target = _TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
