"""Fuzzing the loader: no input, however broken, raises or prints more than one line per error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.loading import load_state
from reconciler.loading.parse import parse_bytes

_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# fragments that steer random text towards the parser's interesting corners
_FRAGMENTS = st.sampled_from(
    [
        "apiVersion: virtnet/v1\n",
        "kind: VirtioNetDevice\n",
        "kind: VirtioNetDeviceSet\n",
        "metadata:\n  name: x\n",
        "spec:\n",
        "  type: vf\n",
        "  mac: '0c:00:00:00:00:01'\n",
        "---\n",
        "...\n",
        "&a ",
        "*a",
        "<<: *a\n",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "- ",
        "\t",
        "'",
        '"',
        "!!binary ",
        "!!python/name:os.system ",
        "? ",
        "|\n",
        ">\n",
        "%YAML 1.1\n",
        "#",
        "\x00",
        "9" * 30,
        "0x1F",
        "1e400",
        ".nan",
        "~",
        "yes",
        "\ufeff",
        "é",
        "\n",
        "  ",
    ]
)


def _assert_one_line_errors(errors, file):
    for error in errors:
        line = str(error)
        assert "\n" not in line
        assert line.startswith(file)


class TestParserNeverRaises:
    """parse_bytes turns any byte string into documents and one-line errors."""

    @_SETTINGS
    @given(st.binary(max_size=512))
    def test_random_bytes(self, data):
        parsed = parse_bytes(data, "f.yaml")
        _assert_one_line_errors(parsed.errors, "f.yaml")

    @_SETTINGS
    @given(st.lists(_FRAGMENTS, max_size=40).map("".join))
    def test_yaml_like_text(self, text):
        parsed = parse_bytes(text.encode("utf-8", "surrogatepass"), "f.yaml")
        _assert_one_line_errors(parsed.errors, "f.yaml")

    @_SETTINGS
    @given(st.binary(max_size=256))
    def test_random_bytes_as_json(self, data):
        parsed = parse_bytes(b'{"a": ' + data, "f.json", is_json=True)
        _assert_one_line_errors(parsed.errors, "f.json")


_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=6)
    | st.sampled_from(["hotplug", "vf", "mlx5_0", "0c:00:00:00:00:01", "0-3", "virtnet/v1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "kind",
                    "spec",
                    "metadata",
                    "name",
                    "type",
                    "mac",
                    "pf_id",
                    "vf_ids",
                    "template",
                    "mac_base",
                    "values",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


class TestLoadStateNeverRaises:
    """Structurally random documents in a real state dir give errors, never exceptions."""

    @_SETTINGS
    @given(
        st.sampled_from(
            ["VirtioNetDevice", "VirtioNetDeviceSet", "ControllerConfig", "FirmwareProfile"]
        ),
        _JSONISH,
        _JSONISH,
    )
    def test_random_documents(self, kind, metadata, spec):
        doc = {"apiVersion": "virtnet/v1", "kind": kind, "metadata": metadata, "spec": spec}
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            root.chmod(0o755)
            (root / "x.yaml").write_text(yaml.safe_dump(doc))
            (root / "x.yaml").chmod(0o644)
            desired = load_state(root)
        _assert_one_line_errors(desired.errors, str(root))
        for device in desired.devices:
            assert device.mac == device.mac.lower()
