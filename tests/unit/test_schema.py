"""JSON Schemas: one source, exported verbatim, valid draft 2020-12, and a fast path that agrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler import keys
from reconciler.loading import load_state
from reconciler.loading.fastschema import compile_schema
from reconciler.loading.schema import SCHEMAS, render, schema_for

ROOT = Path(__file__).resolve().parents[2]


class TestSchemaSource:
    """``schemas/*.json`` are exactly what ``reconciler.loading.schema`` produces."""

    @pytest.mark.parametrize("kind", keys.KINDS)
    def test_exported_file_is_identical_to_schema_defs(self, kind):
        exported = ROOT / "schemas" / f"{kind}.json"
        assert exported.read_text() == render(kind), (
            f"regenerate: python -m reconciler.loading.schema schemas ({exported} is stale)"
        )

    def test_no_stray_schema_files(self):
        assert {p.stem for p in (ROOT / "schemas").glob("*.json")} == set(keys.KINDS)

    @pytest.mark.parametrize("kind", keys.KINDS)
    def test_every_schema_is_valid_draft_2020_12(self, kind):
        Draft202012Validator.check_schema(json.loads(render(kind)))

    def test_every_kind_has_a_schema(self):
        assert set(SCHEMAS) == set(keys.KINDS)

    def test_unknown_kind_is_a_value_error_listing_the_known_kinds(self):
        with pytest.raises(ValueError, match="VirtioNetDevice, VirtioNetDeviceSet"):
            schema_for("VirtioBlkDevice")


class TestExamplesValidate:
    """The shipped examples and the default state dir load without errors."""

    @pytest.mark.parametrize(
        ("directory", "devices"),
        [("examples/quickstart", 7), ("examples/vf-fleet", 100), ("examples/lag", 2), ("state", 1)],
    )
    def test_example_loads_cleanly(self, directory, devices):
        desired = load_state(ROOT / directory, check_permissions=False)
        assert [str(e) for e in desired.errors] == []
        assert len(desired.devices) == devices

    def test_lag_example_carries_the_controller_config(self):
        desired = load_state(ROOT / "examples/lag", check_permissions=False)
        assert desired.controller_config is not None
        assert desired.controller_config.content["is_lag"] == 1
        assert {d.ib_device for d in desired.devices} == {"mlx5_bond_0"}


class TestFastPathCompiler:
    """The compiled predicate refuses schema features it does not implement."""

    def test_unsupported_keyword_fails_at_compile_time(self):
        with pytest.raises(ValueError, match="oneOf"):
            compile_schema({"oneOf": [{"type": "string"}]})

    @pytest.mark.parametrize(
        ("value", "valid"),
        [(3, True), (3.0, True), (True, False), ("3", False), (None, False)],
    )
    def test_integer_follows_json_schema_not_python(self, value, valid):
        schema = {"type": "integer", "minimum": 0}
        assert compile_schema(schema)(value) is valid
        assert Draft202012Validator(schema).is_valid(value) is valid


# --- agreement between the fast path and jsonschema, on near-valid random documents ---

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.sampled_from([0, 1, 2, 63, 64, 68, 1500, 9216, 9217, 256, 257, 1000, 999, 32768, 65536]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1500.0, 0.5]),
    st.text(max_size=8),
    st.sampled_from(
        [
            "hotplug",
            "vf",
            "static_pf",
            "mlx5_0",
            "mlx5_bond_0",
            "mlx5_x",
            "0c:c4:7a:ff:22:90",
            "0C-C4-7A-FF-22-90",
            "0c:c4:7a:ff:22",
            "0x230047082b",
            "0xZZ",
            "web",
            "Web",
            "0-99",
            "1,3-5",
            "5-",
            "virtnet/v1",
            "VIRTIO_NET_F_MQ",
            "1" * 17,
            "mac_base",
            "",
        ]
    ),
)


def _values(depth: int = 2):
    if depth == 0:
        return _SCALARS
    return st.one_of(
        _SCALARS,
        st.lists(_values(depth - 1), max_size=3),
        st.dictionaries(st.sampled_from(_FIELD_NAMES), _values(depth - 1), max_size=4),
    )


_FIELD_NAMES = [
    "type",
    "ib_device",
    "pf_id",
    "vf_id",
    "mac",
    "mtu",
    "max_queues",
    "max_queue_size",
    "features",
    "msix_num",
    "sf_num",
    "legacy",
    "representor",
    "up",
    "vf_ids",
    "count",
    "mac_base",
    "template",
    "values",
    "is_lag",
    "single_port",
    "sf_pool_percent",
    "vf",
    "vfs_per_pf",
    "static_pf",
    "ib_dev_lag",
    "eth_vq_workers",
    "bogus",
    "PF_TOTAL_SF",
    "VIRTIO_NET_EMULATION_NUM_PF",
    "name",
    "labels",
]

_VALID_SPECS = {
    keys.KIND_DEVICE: {
        "type": "hotplug",
        "ib_device": "mlx5_0",
        "mac": "0c:c4:7a:ff:22:90",
        "mtu": 1500,
        "max_queue_size": 256,
        "representor": {"up": True},
    },
    keys.KIND_DEVICE_SET: {
        "pf_id": 0,
        "vf_ids": "0-3",
        "mac_base": "0c:c4:7a:ff:22:00",
        "template": {"mtu": 1500, "features": ["VIRTIO_NET_F_MQ"]},
    },
    keys.KIND_CONTROLLER_CONFIG: {
        "is_lag": 0,
        "vf": {"mac_base": None, "vfs_per_pf": 4},
        "features": "0x230047082b",
    },
    keys.KIND_FIRMWARE_PROFILE: {"values": {"PF_TOTAL_SF": 512, "SRIOV_EN": True}},
}


@st.composite
def near_valid_documents(draw):
    """A valid document of a random kind, with a few fields replaced by random values."""
    kind = draw(st.sampled_from(keys.KINDS))
    spec = json.loads(json.dumps(_VALID_SPECS[kind]))
    for _ in range(draw(st.integers(0, 3))):
        target = spec
        if isinstance(spec.get("template"), dict) and draw(st.booleans()):
            target = spec["template"]
        target[draw(st.sampled_from(_FIELD_NAMES))] = draw(_values())
    if draw(st.booleans()) and spec:
        spec.pop(draw(st.sampled_from(sorted(spec))))
    doc = {"apiVersion": "virtnet/v1", "kind": kind, "metadata": {"name": "web"}, "spec": spec}
    if draw(st.integers(0, 5)) == 0:
        doc["metadata"] = draw(_values())
    return kind, doc


class TestFastPathAgreesWithJsonSchema:
    """The fast predicate and jsonschema always give the same verdict (one source of truth)."""

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(near_valid_documents())
    def test_same_verdict_on_random_documents(self, kind_and_doc):
        kind, doc = kind_and_doc
        expected = Draft202012Validator(schema_for(kind)).is_valid(doc)
        assert compile_schema(schema_for(kind))(doc) is expected

    @pytest.mark.parametrize("kind", keys.KINDS)
    def test_reference_documents_are_valid_for_both(self, kind):
        doc = {
            "apiVersion": "virtnet/v1",
            "kind": kind,
            "metadata": {"name": "ok"},
            "spec": _VALID_SPECS[kind],
        }
        assert Draft202012Validator(schema_for(kind)).is_valid(doc)
        assert compile_schema(schema_for(kind))(doc)
