"""Shared for the netns tests: whether network namespaces work here, and a throw-away one."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid

import pytest


@functools.cache
def netns_unusable() -> str | None:
    """Why these tests cannot run here (skip reason), or None when `ip netns` works."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    probe = f"vnprobe{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False).returncode:
        return "ip netns add does not work here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


@pytest.fixture
def netns():
    """A unique network namespace name, deleted after the test (created by whoever uses it)."""
    reason = netns_unusable()
    if reason:
        pytest.skip(reason)
    name = f"vn{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
