"""The field tables: in step with the schema, and saying what the vendor's documentation says."""

from __future__ import annotations

from reconciler import keys
from reconciler.fields import (
    CONF_KEYS,
    DEVICE_FIELDS,
    FIELDS,
    GUEST_UNBIND,
    HOTPLUG_DEFAULTS,
    HOTPLUG_FIELDS,
    MODIFY_FLAGS,
    REPLACE_ON_CHANGE,
    Spec,
)
from reconciler.loading.schema import SCHEMAS
from reconciler.model import DeviceType


def _spec_schema(kind: str) -> dict:
    return SCHEMAS[kind]["properties"]["spec"]


def _leaf_paths(properties: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out = set()
    for name, sub in properties.items():
        if sub.get("type") == "object" and "properties" in sub and name != Spec.REPRESENTOR:
            out |= _leaf_paths(sub["properties"], (*prefix, name))
        else:
            out.add((*prefix, name))
    return out


class TestTheTablesMatchTheSchema:
    """A field or key is added to a table and to the schema together, or a test fails."""

    def test_every_device_field_has_a_row_and_every_row_a_schema_entry(self):
        assert set(_spec_schema(keys.KIND_DEVICE)["properties"]) == set(FIELDS)

    def test_a_set_template_takes_every_field_but_the_identity_the_set_supplies(self):
        template = _spec_schema(keys.KIND_DEVICE_SET)["properties"]["template"]["properties"]
        identity = {Spec.TYPE, Spec.MAC, Spec.PF_ID, Spec.VF_ID}
        assert set(template) == set(FIELDS) - identity

    def test_every_virtnet_conf_key_has_a_row_and_every_row_a_schema_entry(self):
        schema = _spec_schema(keys.KIND_CONTROLLER_CONFIG)["properties"]
        assert _leaf_paths(schema) == {key.path for key in CONF_KEYS}


class TestTheTableSaysWhatTheVendorSays:
    """Reference sections 3.4 (hotplug), 3.5 (modify) and the vendor README, as written there."""

    def test_hotplug_options_in_the_usage_line_order(self):
        # virtnet hotplug -i IB_DEVICE -m MAC -t MTU -n MAX_QUEUES -s MAX_QUEUE_SIZE
        #                 [-h] [-u SF_NUM] [-f FEATURES] [-l]
        flags = [f.hotplug_flag for f in HOTPLUG_FIELDS]
        assert flags == ["-i", "-m", "-t", "-n", "-s", "-u", "-f", "-l"]
        required = [f.hotplug_flag for f in HOTPLUG_FIELDS if f.hotplug_required]
        assert required == ["-i", "-m", "-t", "-n", "-s"]

    def test_modify_options(self):
        assert dict(MODIFY_FLAGS) == {
            Spec.MAC: "-m",
            Spec.MTU: "-t",
            Spec.MAX_QUEUE_SIZE: "-q",
            Spec.FEATURES: "-f",
            Spec.MSIX_NUM: "-n",
        }

    def test_guest_must_unbind_for_mac_mtu_features_msix_and_queue_size(self):
        wanted = {Spec.MAC, Spec.MTU, Spec.FEATURES, Spec.MSIX_NUM, Spec.MAX_QUEUE_SIZE}
        assert wanted == GUEST_UNBIND

    def test_creation_time_fields_of_a_hotplug_device_mean_replace(self):
        assert set(REPLACE_ON_CHANGE) == {
            Spec.TYPE,
            Spec.IB_DEVICE,
            Spec.SF_NUM,
            Spec.LEGACY,
            Spec.MAX_QUEUES,
        }
        assert not set(REPLACE_ON_CHANGE) & set(MODIFY_FLAGS)

    def test_every_required_hotplug_value_without_a_spec_default_has_one_here(self):
        needs_default = {f.name for f in HOTPLUG_FIELDS if f.hotplug_required} - {
            Spec.MAC,
            Spec.IB_DEVICE,
        }
        assert set(HOTPLUG_DEFAULTS) == needs_default

    def test_msix_num_is_a_vf_field_and_max_queues_a_hotplug_one(self):
        assert FIELDS[Spec.MSIX_NUM].types == {DeviceType.VF}
        assert FIELDS[Spec.MAX_QUEUES].types == {DeviceType.HOTPLUG}
        assert {f.name for f in DEVICE_FIELDS if DeviceType.HOTPLUG in f.required} == {
            Spec.IB_DEVICE
        }
