"""Loading the state dir: which files are read, how bad input is reported, caching, security."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import PermissionProblem, SpecInvalidError
from reconciler.loading import LoadCache, load_state

DEVICE = """\
apiVersion: virtnet/v1
kind: VirtioNetDevice
metadata:
  name: {name}
spec:
  type: hotplug
  ib_device: mlx5_0
  mac: "{mac}"
  mtu: 1500
"""


def device(name: str = "web", mac: str = "0c:c4:7a:ff:22:90") -> str:
    return DEVICE.format(name=name, mac=mac)


def write(path: Path, text: str | bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


def names(desired) -> list[str]:
    return sorted(d.name for d in desired.devices)


def one_line_errors(desired) -> list[str]:
    lines = [str(e) for e in desired.errors]
    assert all("\n" not in line and "Traceback" not in line for line in lines)
    return lines


class TestWhichFilesAreRead:
    """Recursively .yaml/.yml/.json; hidden, private and editor leftovers are ignored."""

    def test_reads_yaml_yml_and_json_recursively(self, state):
        write(state / "a.yaml", device("a", "0c:00:00:00:00:01"))
        write(state / "sub" / "b.yml", device("b", "0c:00:00:00:00:02"))
        json_doc = (
            '{"apiVersion": "virtnet/v1", "kind": "VirtioNetDevice", "metadata": {"name": "c"},'
            ' "spec": {"type": "vf", "pf_id": 0, "vf_id": 1, "mac": "0c:00:00:00:00:03"}}'
        )
        write(state / "sub" / "deeper" / "c.json", json_doc)
        desired = load_state(state)
        assert names(desired) == ["a", "b", "c"]
        assert desired.complete

    @pytest.mark.parametrize(
        "name",
        [
            ".hidden.yaml",
            "_private.yaml",
            "a.yaml~",
            "a.yaml.swp",
            "a.yaml.tmp",
            "#a.yaml#",
            "notes.txt",
            "README.md",
        ],
    )
    def test_ignores_leftovers_and_other_files(self, state, name):
        write(state / name, "this: [is not: valid")
        desired = load_state(state)
        assert desired.devices == ()
        assert desired.complete

    def test_multi_document_yaml_yields_every_document(self, state):
        text = "---\n".join(device(f"d{i}", f"0c:00:00:00:00:1{i}") for i in range(3))
        write(state / "all.yaml", text)
        assert names(load_state(state)) == ["d0", "d1", "d2"]

    def test_empty_file_and_empty_documents_are_fine(self, state):
        write(state / "empty.yaml", "")
        write(state / "comments.yaml", "# nothing yet\n---\n")
        desired = load_state(state)
        assert desired.complete
        assert desired.devices == ()

    def test_a_directory_named_like_a_spec_file_is_just_a_directory(self, state):
        write(state / "foo.yaml" / "inner.yaml", device())
        assert names(load_state(state)) == ["web"]

    def test_configmap_volume_layout_is_read_once_through_visible_names(self, state):
        stamp = state / "..2024_01_01_00_00_00.123"
        write(stamp / "web.yaml", device())
        (state / "..data").symlink_to(stamp.name)
        (state / "web.yaml").symlink_to("..data/web.yaml")
        cache = LoadCache()
        desired = load_state(state, cache=cache)
        assert names(desired) == ["web"]
        assert desired.complete
        assert cache.parsed_files == 1


class TestBadInputBecomesOneLineErrors:
    """Every malformed file gets ``file:line:col: path: why``; nothing raises."""

    def test_schema_error_points_at_the_offending_line(self, state):
        write(state / "bad.yaml", device().replace("mtu: 1500", "mtu: 70000"))
        desired = load_state(state)
        (line,) = one_line_errors(desired)
        assert line.startswith(f"{state / 'bad.yaml'}:9:8: spec.mtu: ")
        assert "9216" in line

    def test_unknown_field_points_at_the_key(self, state):
        write(state / "typo.yaml", device() + "  mtuu: 1500\n")
        (line,) = one_line_errors(load_state(state))
        assert line == f"{state / 'typo.yaml'}:10:3: spec.mtuu: unknown field"

    def test_duplicate_key_is_reported_at_the_duplicate(self, state):
        write(state / "dup.yaml", device() + "  mtu: 9000\n")
        (line,) = one_line_errors(load_state(state))
        assert line == f"{state / 'dup.yaml'}:10:3: duplicate key 'mtu'"

    def test_document_that_is_not_a_mapping_is_an_error(self, state):
        write(state / "list.yaml", "- a\n- b\n")
        (line,) = one_line_errors(load_state(state))
        assert "must be a mapping" in line

    def test_unknown_kind_names_the_known_kinds(self, state):
        write(state / "k.yaml", device().replace("VirtioNetDevice", "VirtioBlkDevice"))
        (line,) = one_line_errors(load_state(state))
        assert ":2:7: kind: unknown kind 'VirtioBlkDevice'" in line
        assert "VirtioNetDeviceSet" in line

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            (bytes(range(256)) * 4, "not UTF-8"),
            (b"name: \xff\xfe\n", "not UTF-8"),
            (b"a: \x00\x01\x02\n", "invalid YAML"),
            (b"a: " + b"9" * 5000 + b"\n", "too large"),
            (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
            (b"a: &x [1, *x]\n", "recursive alias"),
            (b"a: [unclosed\n", "invalid YAML"),
            (b"a: !!python/object/apply:os.system [true]\n", "unsupported tag"),
        ],
    )
    def test_hostile_or_broken_bytes_never_raise(self, state, content, expected):
        write(state / "junk.yaml", content)
        desired = load_state(state)
        (line,) = one_line_errors(desired)
        assert line.startswith(str(state / "junk.yaml"))
        assert expected in line
        assert not desired.complete

    def test_billion_laughs_fails_fast_with_a_clear_error(self, state):
        lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
            lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
        write(state / "laughs.yaml", "\n".join(lines) + "\n")
        (line,) = one_line_errors(load_state(state))
        assert "aliases expand the document beyond" in line

    def test_too_many_aliases_are_refused(self, state):
        body = "base: &b 1\nuses: [" + ", ".join(["*b"] * 5) + "]\n"
        refs = "x: &m {k: 1}\nys: [" + ", ".join(["*m"] * 150) + "]\n"
        write(state / "aliases.yaml", body + refs)
        (line,) = one_line_errors(load_state(state))
        assert "more than 100 aliases" in line

    def test_oversized_file_is_refused_by_name(self, state):
        write(state / "huge.yaml", b"# " + b"x" * (4 * 1024 * 1024) + b"\n")
        (line,) = one_line_errors(load_state(state))
        assert line.startswith(str(state / "huge.yaml"))
        assert "byte limit" in line

    def test_invalid_json_reports_line_and_column(self, state):
        write(state / "bad.json", '{"apiVersion": "virtnet/v1",\n  "kind": }\n')
        (line,) = one_line_errors(load_state(state))
        assert line.startswith(f"{state / 'bad.json'}:2:11: invalid JSON")

    def test_json_schema_error_is_located_lazily(self, state):
        text = (
            '{"apiVersion": "virtnet/v1", "kind": "VirtioNetDevice",\n'
            ' "metadata": {"name": "j"},\n'
            ' "spec": {"type": "hotplug", "ib_device": "mlx5_0",\n'
            '          "mac": "0c:00:00:00:00:01", "mtu": 12}}\n'
        )
        write(state / "j.json", text)
        (line,) = one_line_errors(load_state(state))
        assert line.startswith(f"{state / 'j.json'}:4:46: spec.mtu: ")

    def test_fifo_is_reported_not_waited_for(self, state):
        os.mkfifo(state / "pipe.yaml", 0o644)
        (line,) = one_line_errors(load_state(state))
        assert "not a regular file" in line

    def test_unreadable_file_is_an_error_on_that_file(self, state, monkeypatch):
        write(state / "ok.yaml", device("ok", "0c:00:00:00:00:01"))
        write(state / "locked.yaml", device("locked", "0c:00:00:00:00:02"))
        real_open = os.open

        def deny(path, *args, **kwargs):
            if str(path).endswith("locked.yaml"):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", deny)
        desired = load_state(state)
        assert names(desired) == ["ok"]
        (line,) = one_line_errors(desired)
        assert line == f"{state / 'locked.yaml'}: permission denied"

    def test_symlink_loop_is_an_error_not_a_hang(self, state):
        (state / "a.yaml").symlink_to("b.yaml")
        (state / "b.yaml").symlink_to("a.yaml")
        (state / "loopdir").symlink_to(".")
        desired = load_state(state)
        assert all("symlink loop" in line for line in one_line_errors(desired))
        assert len(desired.errors) == 2

    def test_valid_documents_of_a_broken_file_are_kept_and_the_read_is_partial(self, state):
        write(state / "half.yaml", device() + "---\nkind: [\n")
        desired = load_state(state)
        assert names(desired) == ["web"]
        assert not desired.complete


class TestStateDirItself:
    """Only a missing, non-directory or insecure state dir raises."""

    def test_missing_dir_raises_spec_invalid(self, tmp_path):
        with pytest.raises(SpecInvalidError) as info:
            load_state(tmp_path / "nope")
        assert "does not exist" in str(info.value.errors[0])

    def test_a_file_is_not_a_state_dir(self, tmp_path):
        write(tmp_path / "f.yaml", device())
        with pytest.raises(SpecInvalidError):
            load_state(tmp_path / "f.yaml")

    def test_group_writable_dir_raises_with_the_fix(self, state):
        state.chmod(0o775)
        with pytest.raises(PermissionProblem, match=r"chmod go-w .*state"):
            load_state(state)

    def test_foreign_owned_dir_is_refused(self, state):
        os.chown(state, 4242, 4242)
        with pytest.raises(PermissionProblem, match="owned by uid 4242"):
            load_state(state)

    def test_permission_check_can_be_skipped(self, state):
        state.chmod(0o777)
        write(state / "w.yaml", device(), mode=0o666)
        desired = load_state(state, check_permissions=False)
        assert names(desired) == ["web"]


class TestInsecureOrEscapingFiles:
    """A file others can write, or a symlink out of the dir, is an error on that file."""

    def test_world_writable_file_is_refused_and_the_read_is_partial(self, state):
        write(state / "good.yaml", device("good", "0c:00:00:00:00:01"))
        write(state / "open.yaml", device("open", "0c:00:00:00:00:02"), mode=0o666)
        desired = load_state(state)
        assert names(desired) == ["good"]
        (line,) = one_line_errors(desired)
        assert line.startswith(str(state / "open.yaml"))
        assert "chmod go-w" in line

    def test_symlink_leaving_the_state_dir_is_refused(self, state, tmp_path):
        outside = write(tmp_path / "elsewhere" / "x.yaml", device())
        (state / "x.yaml").symlink_to(outside)
        desired = load_state(state)
        assert desired.devices == ()
        (line,) = one_line_errors(desired)
        assert "leads outside the state dir" in line

    def test_symlinked_directory_inside_the_dir_is_followed_once(self, state):
        write(state / "real" / "a.yaml", device())
        (state / "alias").symlink_to("real")
        desired = load_state(state)
        assert names(desired) == ["web"]


class TestLoadCache:
    """The watch loop parses only files whose stat changed."""

    def test_unchanged_files_are_not_parsed_again(self, state):
        write(state / "a.yaml", device("a", "0c:00:00:00:00:01"))
        write(state / "b.yaml", device("b", "0c:00:00:00:00:02"))
        cache = LoadCache()
        load_state(state, cache=cache)
        assert cache.parsed_files == 2
        again = load_state(state, cache=cache)
        assert cache.parsed_files == 2
        assert names(again) == ["a", "b"]

    def test_a_changed_file_is_parsed_again(self, state):
        path = write(state / "a.yaml", device("a", "0c:00:00:00:00:01"))
        cache = LoadCache()
        load_state(state, cache=cache)
        path.write_text(device("renamed", "0c:00:00:00:00:01"))
        os.utime(path, ns=(1, 1))
        desired = load_state(state, cache=cache)
        assert cache.parsed_files == 2
        assert names(desired) == ["renamed"]

    def test_configmap_swap_is_seen_as_a_change(self, state):
        old = state / "..2024_01_01_00_00_00.1"
        write(old / "web.yaml", device())
        (state / "..data").symlink_to(old.name)
        (state / "web.yaml").symlink_to("..data/web.yaml")
        cache = LoadCache()
        load_state(state, cache=cache)
        new = state / "..2024_01_02_00_00_00.2"
        write(new / "web.yaml", device("web2"))
        (state / "..data_tmp").symlink_to(new.name)
        os.replace(state / "..data_tmp", state / "..data")
        desired = load_state(state, cache=cache)
        assert names(desired) == ["web2"]
        assert cache.parsed_files == 2
