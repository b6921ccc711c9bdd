"""Specs of the recovery-record reader: vendor field names, bad files reported, never raised."""

from __future__ import annotations

import json

import pytest

from reconciler.drivers.recovery import read_records, remove_record
from reconciler.errors import BackendError

RECORD = {
    "port_ib_dev": "mlx5_0",
    "pf_id": 0,
    "function_type": "pf",
    "bdf_raw": 57611,
    "device_type": "hotplug",
    "mac": "0C:C4:7A:FF:22:93",
    "pf_num": 0,
    "sf_num": 2000,
    "mq": 3,
}


class TestReadRecords:
    """One record per file named by VUID; problems are lines, not exceptions."""

    def test_reads_the_vendor_example(self, tmp_path):
        (tmp_path / "MT2151X03152VNETS1D0F0").write_text(json.dumps(RECORD))
        (records,), problems = read_records(tmp_path)
        assert problems == ()
        assert records.vuid == "MT2151X03152VNETS1D0F0"
        assert (records.pf_id, records.sf_num, records.mq, records.bdf_raw) == (0, 2000, 3, 57611)
        assert records.device_type == "hotplug"
        assert records.mac == "0c:c4:7a:ff:22:93"
        assert records.path == str(tmp_path / "MT2151X03152VNETS1D0F0")

    def test_missing_directory_means_no_records(self, tmp_path):
        assert read_records(tmp_path / "absent") == ((), ())

    def test_bad_files_become_one_line_problems(self, tmp_path):
        (tmp_path / "GOOD").write_text(json.dumps({"pf_id": 1, "function_type": "vf", "vf_id": 2}))
        (tmp_path / "TRUNCATED").write_text('{"pf_id": 1,')
        (tmp_path / "LIST").write_text("[1, 2]")
        (tmp_path / "BINARY").write_bytes(b"\xff\xfe\x00")
        (tmp_path / "BADNUM").write_text('{"pf_id": "one"}')
        (tmp_path / "DIR").mkdir()
        (tmp_path / ".tmp-partial").write_text("{")
        records, problems = read_records(tmp_path)
        assert [r.vuid for r in records] == ["GOOD"]
        assert records[0].vf_id == 2
        assert len(problems) == 5
        assert all("\n" not in p for p in problems)
        assert any(p.startswith(str(tmp_path / "TRUNCATED")) and "not JSON" in p for p in problems)

    def test_missing_fields_are_none(self, tmp_path):
        (tmp_path / "V").write_text("{}")
        (record,), _ = read_records(tmp_path)
        assert (record.pf_id, record.mac, record.function_type) == (None, None, None)


class TestRemoveRecord:
    """Removal is by VUID inside the directory only."""

    def test_removes_and_reports_whether_it_existed(self, tmp_path):
        (tmp_path / "V1").write_text("{}")
        assert remove_record(tmp_path, "V1") is True
        assert remove_record(tmp_path, "V1") is False
        assert not (tmp_path / "V1").exists()

    @pytest.mark.parametrize("vuid", ["", "..", "../etc/passwd", "a/b"])
    def test_a_path_is_never_accepted_as_vuid(self, tmp_path, vuid):
        with pytest.raises(BackendError, match="not a VUID"):
            remove_record(tmp_path, vuid)
