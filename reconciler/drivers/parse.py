"""Pure, tolerant parsing of vendor ``virtnet`` output into the model (reference section 4).

Every malformed input becomes a :class:`BackendError` (or :class:`BusyError`),
never another exception, so no traceback can reach a user from here.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import BackendError, BusyError
from reconciler.model import ControllerInfo, DeviceType, ObservedDevice

__all__ = [
    "EBUSY",
    "HotplugResult",
    "check_result",
    "json_values",
    "parse_controller",
    "parse_device",
    "parse_devices",
    "parse_hotplug",
    "parse_live_update_active",
    "parse_output",
    "parse_started_at",
    "parse_version",
    "to_int",
]

EBUSY = 16
_ERROR_MARK = "Got JSON-RPC error response"
_NO_CONNECT = "ERR: Can't connect"
_BUSY_WORDS = ("migrating", "live update")
_DECODER = json.JSONDecoder()
_TYPES = {
    "static pf": DeviceType.STATIC_PF,
    "static_pf": DeviceType.STATIC_PF,
    "hotplug pf": DeviceType.HOTPLUG,
    "hotplug": DeviceType.HOTPLUG,
    "vf": DeviceType.VF,
}
_INACTIVE = frozenset({"inactive", "idle", "none", "done", "success", "finished", ""})


@dataclass(frozen=True, slots=True)
class HotplugResult:
    """What ``hotplug`` reports about the PF it created (``vuid`` may be absent on 1.x)."""

    vuid: str | None
    pf_id: int | None
    sf_num: int | None
    representor: str | None
    bdf: str | None


def _fail(message: str, argv: Sequence[str], cls: type[BackendError] = BackendError, **kw):
    """An error whose message starts with the vendor verb, so the user knows which call failed."""
    return cls(f"virtnet {_verb(argv)}: {message}", argv=argv, **kw)


def json_values(text: str, argv: Sequence[str] = ()) -> list[Any]:
    """Every JSON value in ``text``: leading non-JSON lines skipped, concatenated values kept.

    The vendor echoes the request params as a Python repr line before the JSON
    and ``version`` prints objects separated by commas; both are accepted. A value
    that does not decode (output cut short, or garbage) is an error, never skipped:
    scanning on would find an inner object of a truncated answer (one device of a
    cut ``list``) and take it for the whole answer.
    """
    first = _first_json(text, argv)
    if first is None:
        raise _fail(f"no JSON in output: {_snippet(text)}", argv)
    _, value, end = first
    values: list[Any] = [value]
    pos = _skip_separators(text, end)
    while pos is not None:
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as e:
            raise _bad_json(text, e, argv) from None
        values.append(value)
        pos = _skip_separators(text, end)
    return values


def _first_json(text: str, argv: Sequence[str] = ()) -> tuple[int, Any, int] | None:
    """The first line that starts a JSON value: its offset, the value and where it ends.

    Lines are walked lazily and the value decoded once: a ``query -a`` of 4096
    devices is ~100k lines, and splitting them all (then decoding the value a
    second time in the caller) cost more than the decoding itself. The only line
    starting with ``{`` that may fail to decode is the params echo.
    """
    offset = 0
    for line in _lines(text):
        stripped = line.lstrip()
        if stripped[:1] in ("{", "["):
            start = offset + len(line) - len(stripped)
            try:
                value, end = _DECODER.raw_decode(text, start)
            except (ValueError, RecursionError) as e:
                if not _is_params_echo(stripped):
                    raise _bad_json(text, e, argv) from None
            else:
                return start, value, end
        offset += len(line)
    return None


_MAX_ECHO_CHARS = 4096  # the params of one call; a longer line is not an echo


def _is_params_echo(line: str) -> bool:
    """Whether ``line`` is the params dict the vendor client prints in Python repr."""
    text = line.strip()
    if len(text) > _MAX_ECHO_CHARS or not (text.startswith("{") and text.endswith("}")):
        return False
    try:
        return isinstance(ast.literal_eval(text), dict)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _bad_json(text: str, exc: Exception, argv: Sequence[str]) -> BackendError:
    """Output that stops being JSON, as one line (a cut answer and garbage look alike)."""
    if isinstance(exc, json.JSONDecodeError):
        where = f"line {exc.lineno} column {exc.colno} of {len(text)} chars"
        return _fail(f"truncated or unparsable output at {where}: {exc.msg}", argv)
    return _fail("unparsable output: JSON nested too deeply", argv)


def _lines(text: str):
    """``text.splitlines(keepends=True)``, one line at a time (vendor output ends lines in LF)."""
    pos, size = 0, len(text)
    while pos < size:
        end = text.find("\n", pos)
        end = size if end < 0 else end + 1
        yield from text[pos:end].splitlines(keepends=True)
        pos = end


def _first_json_offset(text: str, argv: Sequence[str] = ()) -> int | None:
    first = _first_json(text, argv)
    return None if first is None else first[0]


def _skip_separators(text: str, pos: int) -> int | None:
    while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
        pos += 1
    return pos if pos < len(text) else None


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:120]) if flat else "(empty)"


def _rpc_error(stdout: str, argv: Sequence[str], returncode: int | None) -> BackendError:
    """The error object printed after ``response:`` in a JSON-RPC error block."""
    tail = stdout.split(_ERROR_MARK, 1)[1]
    match = re.search(r"^\s*response:\s*$", tail, re.MULTILINE)
    body = tail[match.end() :] if match else tail
    error: Any = None
    try:
        values = json_values(body, argv)
        error = values[0] if values else None
    except BackendError:
        error = None
    if not isinstance(error, Mapping):
        why = f"controller error (unreadable): {_snippet(tail)}"
        return _fail(why, argv, returncode=returncode)
    code = error.get("code")
    errno = -code if isinstance(code, int) and not isinstance(code, bool) else None
    message = str(error.get("message", "unknown error"))
    return _error(message, argv, returncode, errno)


def _error(message: str, argv: Sequence[str], returncode: int | None, errno: int | None):
    lowered = message.lower()
    busy = errno == EBUSY or any(word in lowered for word in _BUSY_WORDS)
    cls = BusyError if busy else BackendError
    text = f"virtnet {_verb(argv)}: {message}"
    if errno is not None:
        text += f" (errno {errno})"
    return cls(text, argv=argv, returncode=returncode, errno=errno, errstr=message)


_VENDOR_VERBS = frozenset(
    {
        "hotplug",
        "unplug",
        "list",
        "query",
        "modify",
        "log",
        "version",
        "update",
        "restart",
        "validate",
        "health",
        "stats",
        "debug",
    }
)


def _verb(argv: Sequence[str]) -> str:
    """The vendor verb of a call, for messages (argv may start with an interpreter path)."""
    return next((a for a in argv if a in _VENDOR_VERBS), "call")


def check_result(result: Any, argv: Sequence[str], returncode: int | None = 0) -> Any:
    """Raise when a decoded result carries ``errno != 0``; return it unchanged otherwise."""
    if isinstance(result, Mapping) and "errno" in result:
        try:
            errno = to_int(result["errno"])
        except BackendError:
            errno = None
        if errno:
            message = str(result.get("errstr") or f"errno {errno}")
            raise _error(message, argv, returncode, errno)
    return result


def parse_output(
    returncode: int,
    stdout: str,
    stderr: str,
    argv: Sequence[str] = (),
    *,
    require_json: bool = True,
) -> list[Any]:
    """The JSON values of one CLI call, or the controller's refusal as an exception.

    ``require_json=False`` accepts a successful call that printed no JSON at all
    (only the params echo, or nothing): unplug/modify output is unverified.
    """
    if _NO_CONNECT in stderr or _NO_CONNECT in stdout:
        line = next(ln for ln in (stderr + "\n" + stdout).splitlines() if _NO_CONNECT in ln)
        raise _fail(f"controller not reachable: {line.strip()}", argv, returncode=returncode)
    if _ERROR_MARK in stdout:
        raise _rpc_error(stdout, argv, returncode)
    if returncode != 0:
        why = _snippet(stderr) if stderr.strip() else _snippet(stdout)
        raise _fail(f"exit code {returncode}: {why}", argv, returncode=returncode)
    if not require_json and _first_json_offset(stdout, argv) is None:
        return []
    values = json_values(stdout, argv)
    for value in values:
        check_result(value, argv, returncode)
    return values


_MAX_NUMBER_CHARS = 24  # "0x" + 16 hex digits, or 20 decimal digits, with some slack


def to_int(value: Any, argv: Sequence[str] = (), *, what: str = "value") -> int | None:
    """An int from the vendor's int, decimal or hex string, or ``{"value": "0x.."}`` bitfield."""
    kind = type(value)
    if kind is int or value is None:  # common cases first: ~10 numbers a device, 4096 devices
        return value
    if kind is str and len(value) > _MAX_NUMBER_CHARS:
        # a counter wider than 64 bits is junk, and int() refuses > 4300 digits anyway
        raise _fail(f"{what} is not a number (a {len(value)}-character string)", argv)
    if kind is str and value.isdecimal() and value.isascii():
        return int(value)
    if isinstance(value, Mapping):
        return to_int(value.get("value"), argv, what=what)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return int(text, 16) if text.startswith("0x") else int(text, 10)
        except ValueError:
            pass
    raise _fail(f"{what} {value!r} is not a number", argv)


def _text(value: Any) -> str | None:
    if type(value) is str:  # nearly always: skip the ABC checks below
        return value.strip() or None
    if value is None or isinstance(value, Mapping | list):
        return None
    text = str(value).strip()
    return text or None


def _device_type(raw: Mapping, argv: Sequence[str]) -> DeviceType:
    kind = raw.get("function_type")
    if kind is None:
        # unknown kind: a VF if it says so, else static (the safe guess: never unplugged)
        return DeviceType.VF if raw.get("vf_id") is not None else DeviceType.STATIC_PF
    found = _TYPES.get(str(kind).strip().lower())
    if found is None:
        raise _fail(f"unknown function_type {kind!r}", argv)
    return found


def parse_device(raw: Any, argv: Sequence[str] = ()) -> ObservedDevice:
    """One device object of ``list``/``query`` -> :class:`ObservedDevice` (missing -> None)."""
    if not isinstance(raw, Mapping):
        if isinstance(raw, str) and "migrating" in raw.lower():
            # the page: a device mid hand-over "appears as migrating"; retry later
            raise _fail("a device is migrating (live update); retry later", argv, BusyError)
        raise _fail(f"device entry is not an object: {_snippet(str(raw))}", argv)
    vuid = _text(raw.get("vuid"))
    if vuid is None:
        raise _fail("device entry without a vuid", argv)
    kind = _device_type(raw, argv)
    pf_id = to_int(raw.get("pf_id"), argv, what="pf_id")
    vf_id = to_int(raw.get("vf_id"), argv, what="vf_id")
    if str(raw.get("status", "")).strip().lower() == "migrating":
        return ObservedDevice(vuid=vuid, type=kind, pf_id=pf_id, vf_id=vf_id, migrating=True)
    mac = _text(raw.get("mac"))

    def num(key: str) -> int | None:
        value = raw.get(key)
        return value if type(value) is int else to_int(value, argv, what=key)

    return ObservedDevice(
        vuid=vuid,
        type=kind,
        pf_id=pf_id,
        vf_id=vf_id,
        mac=mac.lower().replace("-", ":") if mac else None,
        mtu=num("mtu"),
        max_queues=num("num_queues"),
        max_queue_size=num("max_queue_size"),
        features=num("features"),
        msix_num=num("num_msix"),
        sf_num=num("sf_num"),
        legacy=bool(num("transitional")),
        ib_device=_text(raw.get("sf_parent_device")),
        bdf=_text(raw.get("pci_bdf")),
        representor=_text(raw.get("sf_rep_net_device")),
        driver_status=num("dev_status") or 0,
    )


def _first_object(values: list[Any], argv: Sequence[str]) -> Mapping:
    if not values or not isinstance(values[0], Mapping):
        raise _fail("expected a JSON object in the output", argv)
    return values[0]


def parse_devices(values: list[Any], argv: Sequence[str] = ()) -> tuple[ObservedDevice, ...]:
    """The ``devices`` array of a ``list`` or ``query`` result.

    A result without the key is an error, not "no devices": read as an empty
    controller, it would make the planner hotplug every declared device again.
    """
    devices = _first_object(values, argv).get("devices")
    if devices is None:
        raise _fail("no 'devices' in the controller's answer", argv)
    if not isinstance(devices, list):
        raise _fail("'devices' is not a list", argv)
    return tuple(parse_device(raw, argv) for raw in devices)


def parse_controller(values: list[Any], argv: Sequence[str] = ()) -> ControllerInfo:
    """The ``controller`` capabilities block of ``list``.

    A block that is missing, or names none of the capabilities we read, is an
    error: read as "no limits known", it would silently switch off the hotplug
    slot and queue checks.
    """
    caps = _first_object(values, argv).get("controller")
    if caps is None:
        raise _fail("no 'controller' capabilities in the answer", argv)
    if not isinstance(caps, Mapping):
        raise _fail("'controller' is not an object", argv)
    # the 1.x README calls the queue bound "max_virtq from virtnet list"
    queues = caps.get("max_virt_queues", caps.get("max_virtq"))
    known = (caps.get("max_hotplug_devices"), queues, caps.get("supported_features"))
    if all(value is None for value in known):
        raise _fail(
            "the 'controller' block names no capability (max_hotplug_devices, "
            "max_virt_queues, supported_features)",
            argv,
        )
    return ControllerInfo(
        max_hotplug_devices=to_int(known[0], argv, what="max_hotplug_devices"),
        max_virt_queues=to_int(queues, argv, what="max_virt_queues"),
        supported_features=to_int(known[2], argv, what="supported_features"),
        started_at=_epoch(caps.get("started_at")),
    )


def parse_started_at(values: list[Any], argv: Sequence[str] = ()) -> float | None:
    """``started_at`` of a ``health`` (or ``list``) result; None when the controller omits it."""
    raw = _first_object(values, argv)
    caps = raw.get("controller")
    value = raw.get("started_at")
    if value is None and isinstance(caps, Mapping):
        value = caps.get("started_at")
    return _epoch(value)


def _epoch(value: Any) -> float | None:
    """``started_at`` (epoch seconds as a string); absent or unreadable means unknown.

    Only loop detection uses it, so a vendor build without it must not fail the cycle.
    """
    try:
        return None if value is None else float(str(value).strip())
    except ValueError:
        return None


def parse_hotplug(values: list[Any], argv: Sequence[str] = ()) -> HotplugResult:
    """The ``hotplug`` result: identity of the new PF (``id`` is its pf_id)."""
    raw = _first_object(values, argv)
    representor = _text(raw.get("sf_rep_net_device"))
    return HotplugResult(
        vuid=_text(raw.get("vuid")),
        pf_id=to_int(raw.get("id", raw.get("pf_id")), argv, what="id"),
        sf_num=to_int(raw.get("sf_num"), argv, what="sf_num") or _sf_from_name(representor),
        representor=representor,
        bdf=_text(raw.get("bdf")),
    )


def _sf_from_name(representor: str | None) -> int | None:
    match = re.search(r"sf(\d+)$", representor or "")
    return int(match.group(1)) if match else None


def parse_version(values: list[Any], argv: Sequence[str] = ()) -> str:
    """The running controller version from ``version`` (list or concatenated objects)."""
    items = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    for item in items:
        if isinstance(item, Mapping):
            for key, value in item.items():
                if str(key).lower().startswith("original") and _text(value):
                    return str(value).strip()
    raise _fail("no 'Original Controller' version in output", argv)


def parse_live_update_active(values: list[Any], argv: Sequence[str] = ()) -> bool:
    """Whether ``update -t`` says a live update is running (24.10 or 1.9 key spelling)."""
    raw = _first_object(values, argv)
    status = raw.get("status", raw.get("current status"))
    if status is None:
        raise _fail("no live-update status in output", argv)
    return str(status).strip().lower() not in _INACTIVE
