"""Hostile state dirs: size, alias and nesting bombs, bad encodings, huge numbers, random trees.

tests/unit/test_loader_fuzz.py fuzzes ``parse_bytes`` and structured documents; this
file adds resource exhaustion (memory is measured with tracemalloc, time bounded by
hypothesis deadlines) and random bytes in real files of a real directory tree.
"""

from __future__ import annotations

import os
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.loading import files as loader_files
from reconciler.loading import load_state
from reconciler.loading.parse import Limits

_MB = 1 << 20


def _state(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "state"
    root.mkdir(mode=0o755, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o644)
    return root


def _load_measured(root: Path):
    """load_state plus the peak Python memory it allocated, in bytes."""
    tracemalloc.start()
    try:
        desired = load_state(root)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return desired, peak


def _one_error(desired, file_name: str, words: str) -> str:
    errors = [str(e) for e in desired.errors]
    assert len(errors) == 1, errors
    assert file_name in errors[0], errors
    assert words in errors[0], errors
    assert "\n" not in errors[0]
    return errors[0]


class TestSizeLimit:
    """A huge file is refused by size, reading at most one byte past the limit."""

    def test_a_sparse_100_megabyte_file_is_refused_without_being_read(self, tmp_path, monkeypatch):
        root = _state(tmp_path, {})
        with (root / "big.yaml").open("wb") as fh:
            fh.truncate(100 * _MB)
        (root / "big.yaml").chmod(0o644)
        read_bytes = []
        real_read = os.read

        def counting_read(fd, n):
            chunk = real_read(fd, n)
            read_bytes.append(len(chunk))
            return chunk

        monkeypatch.setattr(loader_files.os, "read", counting_read)
        desired, peak = _load_measured(root)
        _one_error(desired, "big.yaml", "byte limit")
        assert sum(read_bytes) <= Limits().max_bytes + 1
        assert peak < 3 * Limits().max_bytes

    def test_a_file_just_under_the_limit_is_parsed(self, tmp_path):
        body = b"# " + b"x" * (Limits().max_bytes - 100) + b"\n"
        desired = load_state(_state(tmp_path, {"pad.yaml": body}))
        assert desired.errors == ()


class TestBombs:
    """Alias expansion and nesting are bounded; memory stays small."""

    def test_billion_laughs_is_refused(self, tmp_path):
        lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
        root = _state(tmp_path, {"bomb.yaml": "\n".join(lines).encode() + b"\n"})
        desired, peak = _load_measured(root)
        _one_error(desired, "bomb.yaml", "alias")
        assert peak < 64 * _MB

    def test_a_thousand_aliases_of_one_scalar_are_refused(self, tmp_path):
        body = "x: &x 1\ny: [" + ", ".join(["*x"] * 1000) + "]\n"
        desired = load_state(_state(tmp_path, {"many.yaml": body.encode()}))
        _one_error(desired, "many.yaml", "alias")

    @pytest.mark.parametrize(
        ("name", "body"),
        [
            ("deep.yaml", b"[" * 100_000 + b"]" * 100_000),
            ("deep2.yaml", b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 2000))),
            ("deep.json", b"[" * 100_000 + b"]" * 100_000),
            ("deep2.json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        ],
    )
    def test_deep_nesting_is_one_error_not_a_recursion_error(self, tmp_path, name, body):
        desired, peak = _load_measured(_state(tmp_path, {name: body}))
        assert len(desired.errors) == 1
        assert name in str(desired.errors[0])
        assert peak < 64 * _MB


class TestEncodingsAndNumbers:
    """Bytes that are not UTF-8 and numbers no field could hold are errors with a location."""

    @pytest.mark.parametrize(
        "body",
        [
            b"\xff\xfe\x00k\x00i\x00n\x00d",
            b"apiVersion: virtnet/v1\nkind: \xc3\x28\n",
            b"\xed\xa0\x80: 1\n",  # an encoded surrogate
            b"kind: VirtioNetDevice\x00\n",
        ],
    )
    def test_invalid_utf8_or_nul_is_one_error(self, tmp_path, body):
        desired = load_state(_state(tmp_path, {"enc.yaml": body}))
        assert len(desired.errors) == 1
        assert "enc.yaml" in str(desired.errors[0])

    @pytest.mark.parametrize(
        "value",
        ["9" * 5000, "9" * 100_000, "1e400", "-" + "9" * 4301, ".inf", "0x" + "f" * 100],
        ids=["5000-digits", "100000-digits", "1e400", "minus-4301-digits", "inf", "hex-400-bits"],
    )
    @pytest.mark.parametrize("ext", ["yaml", "json"])
    def test_huge_numbers_in_fields_are_errors(self, tmp_path, value, ext):
        desired = load_state(_state(tmp_path, {f"n.{ext}": _numbers_doc(value).encode()}))
        assert desired.devices == ()
        assert desired.errors
        assert all(f"n.{ext}" in str(e) for e in desired.errors)

    def test_a_hex_integer_too_long_to_print_is_an_error_not_an_abort(self, tmp_path):
        body = _numbers_doc("0x" + "f" * 5000)
        ok = (
            b"apiVersion: virtnet/v1\nkind: VirtioNetDevice\nmetadata: {name: ok}\n"
            b"spec: {type: hotplug, ib_device: mlx5_0, mac: '0c:c4:7a:00:00:02', mtu: 1500,"
            b" max_queues: 4, max_queue_size: 256}\n"
        )
        files = {"n.yaml": body.encode(), "ok.yaml": ok}
        desired = load_state(_state(tmp_path, files))
        assert [d.name for d in desired.devices] == ["ok"]  # the other file still applies
        assert desired.errors
        assert all("n.yaml" in str(e) for e in desired.errors)


def _numbers_doc(value: str) -> str:
    """A hotplug device whose mtu and max_queues are ``value`` (JSON is YAML too)."""
    fields = f'"mtu": {value}, "max_queues": {value}, "pf_id": 0'
    return (
        '{"apiVersion": "virtnet/v1", "kind": "VirtioNetDevice", '
        '"metadata": {"name": "big"}, "spec": {"type": "hotplug", '
        '"ib_device": "mlx5_0", "mac": "0c:c4:7a:00:00:01", ' + fields + "}}"
    )


_NAMES = st.sampled_from(
    [
        "a.yaml",
        "b.yml",
        "c.json",
        "sub/d.yaml",
        "sub/deeper/e.json",
        "..data/f.yaml",
        "_g.yaml",
        ".h.yaml",
        "i.yaml~",
        "j.txt",
    ]
)
_CHUNKS = st.sampled_from(
    [
        b"apiVersion: virtnet/v1\n",
        b"kind: VirtioNetDevice\n",
        b"metadata: {name: x}\n",
        b"spec: {type: hotplug, ib_device: mlx5_0, mac: '0c:00:00:00:00:01'}\n",
        b"---\n",
        b"&a [*a]\n",
        b"\xff",
        b"\x00",
        b"{",
        b"[",
        b'"',
        b"9" * 400,
        b"!!python/object:os.system\n",
    ]
)


class TestRandomTrees:
    """Random bytes in random files of a real tree: errors, never an exception or a hang."""

    @settings(
        max_examples=60,
        deadline=3000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        st.dictionaries(
            _NAMES,
            st.one_of(st.binary(max_size=300), st.lists(_CHUNKS, max_size=12).map(b"".join)),
            max_size=6,
        )
    )
    def test_random_files_never_raise(self, files):
        with tempfile.TemporaryDirectory() as tmp:
            desired = load_state(_state(Path(tmp), files))
        for error in desired.errors:
            assert "\n" not in str(error)
        assert len({d.name for d in desired.devices}) == len(desired.devices)
