"""The job status websocket stream (reference §3.5), a minimal RFC 6455 server.

``{ws}/jobs/{job_id}/status/v/1``: the client sends ``{"type": "authentication", "data":
<access token>}``, the server answers ``{"type": "authenticated"}`` and then pushes
``{"type": "job-status", "data": {"status": ..., "infoQueue"?: ...}}`` whenever the status
changes, closing with 4002 once the job is final (4003: unknown job, 4001: internal error).
Only what that protocol needs: text, close, ping and pong frames, no extensions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from typing import TYPE_CHECKING, Any

from ..status import API_FINAL_STATUSES

if TYPE_CHECKING:  # pragma: no cover
    from .server import Emulator

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_PATH = re.compile(r"^/ws/jobs/(?P<job>[A-Za-z0-9_-]{1,64})/status/v/1/?$")
_MAX_FRAME = 1 << 20
POLL_SECONDS = 0.05
CLOSE_DONE, CLOSE_NOT_FOUND, CLOSE_INTERNAL = 4002, 4003, 4001


def is_upgrade(headers: Any) -> bool:
    """Whether a request asks to switch to the websocket protocol."""
    return ("websocket" in (headers.get("Upgrade") or "").lower()
            and bool(headers.get("Sec-WebSocket-Key")))


class _Conn:
    """Frame reading and (thread-safe) writing over the handler's streams."""

    def __init__(self, rfile: Any, wfile: Any) -> None:
        self.rfile, self.wfile = rfile, wfile
        self.lock = threading.Lock()
        self.closed = threading.Event()

    def send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, n])
        elif n < 1 << 16:
            head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
        with self.lock:
            self.wfile.write(head + payload)
            self.wfile.flush()

    def send_json(self, obj: Any) -> None:
        self.send(0x1, json.dumps(obj).encode())

    def close(self, code: int, reason: str = "") -> None:
        if not self.closed.is_set():
            self.closed.set()
            try:
                self.send(0x8, code.to_bytes(2, "big") + reason.encode()[:120])
            except OSError:
                pass

    def _exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if data is None or len(data) < n:
            raise EOFError
        return data

    def read(self) -> tuple[int, bytes]:
        """One frame (opcode, unmasked payload); EOFError when the peer is gone."""
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._exact(2), "big")
        elif n == 127:
            n = int.from_bytes(self._exact(8), "big")
        if n > _MAX_FRAME:
            raise EOFError
        mask = self._exact(4) if b1 & 0x80 else b"\0\0\0\0"
        data = self._exact(n)
        return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


def serve(handler: Any, emu: Emulator, path: str) -> None:
    """Run one status stream on the handler's connection until the job is final."""
    handler.close_connection = True
    key = handler.headers.get("Sec-WebSocket-Key", "")
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.end_headers()
    handler.wfile.flush()
    handler.connection.settimeout(30)
    conn = _Conn(handler.rfile, handler.wfile)
    try:
        opcode, payload = conn.read()
        message = json.loads(payload) if opcode == 0x1 else None
        token = message.get("data") if isinstance(message, dict) else None
        user = emu._user_of(token) if isinstance(token, str) else None
        if not (isinstance(message, dict) and message.get("type") == "authentication"
                and user is not None):
            conn.send_json({"type": "error", "data": "authentication failed"})
            conn.close(CLOSE_INTERNAL, "authentication failed")
            return
        conn.send_json({"type": "authenticated"})
        match = _PATH.match(path)
        try:
            # Another account's job is not found, as on the HTTP routes.
            job = emu._state.get(match.group("job"), user=user) if match else None
        except KeyError:
            job = None
        if job is None:
            conn.close(CLOSE_NOT_FOUND, "job not found")
            return
        handler.connection.settimeout(None)
        threading.Thread(target=_reader, args=(conn,), daemon=True).start()
        last = None
        while not conn.closed.is_set() and emu._server is not None:
            now = emu._state.clock.now_ms()
            status = emu._state.status(job, now)
            doc = job.status_doc(status, now)
            data = {k: doc[k] for k in ("id", "status", "infoQueue") if k in doc}
            if data != last:
                conn.send_json({"type": "job-status", "data": data})
                last = data
            if status in API_FINAL_STATUSES:
                conn.close(CLOSE_DONE, "job finished")
                return
            conn.closed.wait(POLL_SECONDS)
    except (EOFError, OSError, ValueError):
        conn.closed.set()
    except Exception:  # never let a stream kill the server thread
        conn.close(CLOSE_INTERNAL, "internal error")


def _reader(conn: _Conn) -> None:
    """Answer pings and notice when the client closes."""
    try:
        while not conn.closed.is_set():
            opcode, payload = conn.read()
            if opcode == 0x8:
                conn.close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000)
            elif opcode == 0x9:
                conn.send(0xA, payload)
    except (TimeoutError, EOFError, OSError, ValueError):
        conn.closed.set()
