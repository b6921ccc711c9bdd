"""The emulator's RPC channel and the vendor client's printing; light enough for the thin client.

JSON-RPC 2.0 over a unix stream socket ``<root>/controller.sock``, one request per
connection: the client sends the request and shuts its side down, the service answers
and closes. The vendor's method names and params are used as they are; the client adds
an extension member ``context`` (its argv, netns and update duration) that the vendor
protocol does not have. A successful result is sent already formatted as
``json.dumps(result, indent=2)`` (JSON allows any whitespace), so the client prints
it without decoding 16 MB of ``query -a``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "CONNECT_ERROR",
    "NO_REPLY",
    "OK_TEXT",
    "RESULT_HEAD",
    "NoReply",
    "address",
    "connect",
    "error_response",
    "error_text",
    "exchange",
    "render_emulator",
    "render_vendor",
    "request_bytes",
    "result_response",
]

SOCKET = "controller.sock"
CONNECT_ERROR = "ERR: Can't connect to virtio-net-controller"
# a connection that closed without an answer: the call may or may not have landed
NO_REPLY = "ERR: virtio-net-controller closed the connection without a reply"
OK_TEXT = '{\n  "errno": 0,\n  "errstr": "Success"\n}\n'  # json.dumps(..., indent=2)
RESULT_HEAD = b'{"jsonrpc": "2.0", "id": 1, "result": '
_TAIL = b"}\n"
_MAX_UNIX_PATH = 100  # sun_path is 108 bytes with its NUL; keep a margin


class NoReply(Exception):
    """The service took the request and closed without answering (it died mid-call)."""


@contextlib.contextmanager
def address(root: Path) -> Iterator[str]:
    """The socket path to bind or connect; long roots go through ``/proc/self/fd``."""
    path = str(Path(root) / SOCKET)
    if len(path) <= _MAX_UNIX_PATH:
        yield path
        return
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET}"
    finally:
        os.close(fd)


def connect(root: Path) -> socket.socket | None:
    """A connection to the service, or ``None`` when nothing listens (before sending)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address(root) as path:
            sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one request, read the whole answer; NoReply if the service closed without one."""
    chunks = []
    try:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as exc:
        raise NoReply(str(exc)) from exc
    finally:
        sock.close()
    data = b"".join(chunks)
    if not data:
        raise NoReply("connection closed")
    return data


def request_bytes(method: str, params: dict, context: dict) -> bytes:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params, "context": context}
    return json.dumps(body).encode()


def result_response(text: str) -> bytes:
    """A success answer whose result is ``text``, a value rendered with indent=2."""
    return RESULT_HEAD + text.encode() + _TAIL


def error_response(code: int, message: str) -> bytes:
    body = {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}
    return json.dumps(body).encode() + b"\n"


def _decode(response: bytes) -> tuple[str | None, dict | None]:
    """(result text, error object) of an answer."""
    if response.startswith(RESULT_HEAD) and response.endswith(_TAIL):
        return response[len(RESULT_HEAD) : -len(_TAIL)].decode(), None
    body = json.loads(response)
    if "error" in body:
        return None, body["error"]
    return json.dumps(body["result"], indent=2), None


def render_vendor(method: str, echo: dict | None, response: bytes) -> tuple[int, str, str]:
    """What the vendor client prints for an answer (reference section 4, docs/vendor-cli.md).

    Success: the params echo (Python repr) when ``echo`` is non-empty, then the result.
    JSON-RPC error: ``request:`` / the request / ``Got JSON-RPC error response`` /
    ``response:`` / the error object, exit code 1.
    """
    text, error = _decode(response)
    if error is not None:
        return 1, error_text(method, echo, error), ""
    head = f"{echo!r}\n" if echo else ""
    return 0, head + text + "\n", ""


def error_text(method: str, params: dict | None, error: dict) -> str:
    """The JSON-RPC error block the vendor client prints on stdout (exit code 1)."""
    request = json.dumps({"method": method, "params": params or {}})
    shown = json.dumps(error, indent=2)
    return f"request:\n{request}\nGot JSON-RPC error response\nresponse:\n{shown}\n"


def render_emulator(response: bytes) -> tuple[int, str, str]:
    """An emulator method's answer: its exit code and output, printed as they are."""
    text, error = _decode(response)
    if error is not None:
        return 1, "", f"ERR: {error.get('message')}\n"
    result = json.loads(text)
    return int(result["code"]), str(result["stdout"]), str(result["stderr"])
