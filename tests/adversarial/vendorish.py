#!/usr/bin/env python3
"""A vendor-style ``virtnet`` CLI stand-in that forwards to ``virtnet-emu`` and misbehaves on cue.

Used as ``VIRTNET_VENDOR_CLI`` with ``--backend vendor``. It is independent of the
emulator's own fault injection: every fault is decided here, from a control file, and
looks to the caller the way a real DPU's CLI looks (vendor reference section 4):

* ``refuse``: a JSON-RPC error envelope on stdout (``request:`` / params /
  ``Got JSON-RPC error response`` / ``response:`` / error object), exit 1; the call
  never reaches the controller (the controller answered "no").
* ``cant_connect``: ``ERR: Can't connect to virtio-net-controller`` on stderr, exit 1,
  nothing sent.
* ``empty_devices``: ``{"devices": []}`` instead of the real answer (an implausible
  observation); ``drop_types`` drops only the devices of the listed ``function_type``.
* ``land_late``: the call is handed to a detached lander (its own session, argv kept
  out of its command line, as a controller daemon keeps an RPC whose client went away)
  that forwards it after ``delay`` seconds, or once the file ``release`` exists; the
  client itself is then killed (``then: "kill"``, SIGKILL on itself) or hangs for
  ``hang`` seconds (``then: "hang"``: the caller's timeout kills it).
* ``truncate``: the real answer, cut after ``bytes`` bytes of stdout.
* ``delay``: sleep ``seconds`` first, then forward unchanged.

Control file (``$VENDORISH_CONTROL``, JSON), rules tried in order, first match wins::

    {"rules": [
      {"op": "hotplug", "match": ["0c:c4:7a:00:00:01"], "action": "refuse",
       "code": -28, "message": "No free PCIe switch port for hotplug", "times": 1},
      {"op": "query", "match": ["-a", "-b"], "action": "empty_devices", "times": 1},
      {"op": "hotplug", "action": "land_late", "release": "/tmp/x/go", "then": "hang",
       "hang": 40}
    ]}

``op`` is the verb (argv[0]); ``match`` lists argv elements that must all be present
(case-insensitive); ``skip`` lets that many matching calls through before the rule
fires; ``times`` is how often it fires (absent: always). Counters are written back to
the control file under a lock, so concurrent callers see one sequence. Each fired
rule appends a line ``{"op", "argv", "action", "pid"}`` to ``$VENDORISH_CONTROL.log``
(tests check that the fault they staged really happened); the pid of every lander
goes to ``$VENDORISH_CONTROL.pids`` so that a test can reap them.

The forwarded executable is ``$VENDORISH_EMU`` (default: ``virtnet-emu`` on PATH); its
``VIRTNET_EMULATOR_ROOT`` is whatever the environment says.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# long option names of the vendor argv, for the params echo of an error envelope
_PARAM_NAMES = {
    "-i": "ib_device",
    "-m": "mac",
    "-t": "mtu",
    "-n": "max_queues",
    "-s": "max_queue_size",
    "-u": "vuid",
    "-f": "features",
    "-p": "pf_id",
    "-v": "vf_id",
    "-q": "max_queue_size",
}
_INT_PARAMS = {"mtu", "max_queues", "max_queue_size", "pf_id", "vf_id"}


def _emu() -> str:
    return os.environ.get("VENDORISH_EMU") or shutil.which("virtnet-emu") or "virtnet-emu"


def _control() -> Path | None:
    path = os.environ.get("VENDORISH_CONTROL")
    return Path(path) if path else None


def _pick_rule(control: Path, argv: list[str]) -> dict | None:
    """The first rule that fires for this call; its counters are updated on disk."""
    if not argv:
        return None
    lock = control.with_name(control.name + ".lock")
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            data = json.loads(control.read_text() or "{}")
        except FileNotFoundError:
            return None
        words = {a.lower() for a in argv}
        chosen = None
        for rule in data.get("rules", []):
            if rule.get("op") not in (None, argv[0]):
                continue
            if not {m.lower() for m in rule.get("match", [])} <= words:
                continue
            if rule.get("times", 1) <= 0:
                continue
            if rule.get("skip", 0) > 0:
                rule["skip"] -= 1
                break  # this call is let through; it still counts for this rule only
            if "times" in rule:
                rule["times"] -= 1
            chosen = dict(rule)
            break
        tmp = control.with_name(control.name + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, control)
    return chosen


def _log(control: Path, argv: list[str], action: str) -> None:
    line = json.dumps(
        {"op": argv[0], "argv": argv, "action": action, "pid": os.getpid(), "ts": time.time()}
    )
    with open(control.with_name(control.name + ".log"), "a") as fh:
        fh.write(line + "\n")


def _params(argv: list[str]) -> dict:
    params: dict = {}
    it = iter(argv[1:])
    for word in it:
        name = _PARAM_NAMES.get(word)
        if name is None:
            continue
        value = next(it, "")
        params[name] = int(value) if name in _INT_PARAMS and value.isdigit() else value
    return params


def _forward(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([_emu(), *argv], capture_output=True, text=True, check=False)


def _refuse(argv: list[str], rule: dict) -> int:
    request = {"method": argv[0], "params": _params(argv)}
    error = {"code": int(rule.get("code", -16)), "message": rule.get("message", "Device busy")}
    sys.stdout.write(
        "request:\n"
        + json.dumps(request)
        + "\nGot JSON-RPC error response\nresponse:\n"
        + json.dumps(error, indent=2)
        + "\n"
    )
    return 1


def _observe(argv: list[str], rule: dict) -> int:
    real = _forward(argv)
    if real.returncode != 0:
        sys.stdout.write(real.stdout)
        sys.stderr.write(real.stderr)
        return real.returncode
    drop = rule.get("drop_types")
    if drop is None:
        sys.stdout.write(json.dumps({"devices": []}, indent=2) + "\n")
        return 0
    text = real.stdout
    data = json.JSONDecoder().raw_decode(text, text.index("{"))[0]  # query prints no echo
    data["devices"] = [d for d in data.get("devices", []) if d.get("function_type") not in drop]
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return 0


def _land_late(control: Path, argv: list[str], rule: dict) -> int:
    job = control.with_name(f"{control.name}.job-{os.getpid()}")
    job.write_text(
        json.dumps(
            {
                "argv": argv,
                "delay": rule.get("delay", 1.0),
                "release": rule.get("release"),
                "max_wait": rule.get("max_wait", 120),
            }
        )
    )
    lander = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--land", str(job)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    with open(control.with_name(control.name + ".pids"), "a") as fh:
        fh.write(f"{lander.pid}\n")
    if rule.get("then", "kill") == "hang":
        time.sleep(float(rule.get("hang", 60)))
        sys.stderr.write("ERR: request timed out\n")
        return 1
    os.kill(os.getpid(), signal.SIGKILL)
    return 1  # not reached


def _land(job_path: str) -> int:
    """The detached lander: wait, then deliver the call the client gave up on."""
    job = json.loads(Path(job_path).read_text())
    release = job.get("release")
    if release:
        deadline = time.monotonic() + float(job["max_wait"])
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(float(job["delay"]))
    result = _forward(job["argv"])
    Path(job_path + ".done").write_text(
        json.dumps({"rc": result.returncode, "stdout": result.stdout[-2000:]})
    )
    return 0


def _exec(argv: list[str]) -> int:
    """Become the real CLI for this call (same pid, output and exit code unchanged)."""
    os.execvp(_emu(), [_emu(), *argv])  # noqa: S606 - argv list, no shell
    return 1  # not reached


def _cant_connect(argv: list[str], rule: dict) -> int:
    del argv, rule
    sys.stderr.write("ERR: Can't connect to virtio-net-controller\n")
    return 1


def _delay(argv: list[str], rule: dict) -> int:
    time.sleep(float(rule.get("seconds", 1.0)))
    return _exec(argv)


def _truncate(argv: list[str], rule: dict) -> int:
    real = _forward(argv)
    sys.stdout.write(real.stdout[: int(rule.get("bytes", 64))])
    return real.returncode


_ACTIONS = {
    "refuse": _refuse,
    "cant_connect": _cant_connect,
    "empty_devices": _observe,
    "delay": _delay,
    "truncate": _truncate,
}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--land":
        return _land(argv[1])
    control = _control()
    rule = _pick_rule(control, argv) if control is not None else None
    if rule is None:
        return _exec(argv)
    action = rule["action"]
    _log(control, argv, action)
    if action == "land_late":
        return _land_late(control, argv, rule)
    handler = _ACTIONS.get(action)
    if handler is None:
        sys.stderr.write(f"vendorish: unknown action {action!r}\n")
        return 2
    return handler(argv, rule)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
