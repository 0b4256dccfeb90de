"""Small stdlib HTTP servers for tests of how the client meets answers the emulator does not
give (a proxy's page, a hostile or misconfigured server): 127.0.0.1 port 0, real sockets."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult


class Handler(BaseHTTPRequestHandler):
    """A quiet request handler with ``reply``."""

    def reply(self, status: int, body: Any, content_type: str = "application/json",
              reason: str | None = None) -> None:
        """Answer ``body`` (bytes or text as given, anything else as JSON) whole."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self, upstream: SplitResult) -> tuple[int, bytes]:
        """Send this request on to ``upstream`` (with its token and content type): the
        answer's status and body, for a proxy to pass on or change."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls
            conn.request(self.command, self.path, body=body, headers={
                k: v for k, v in self.headers.items() if k.lower() in ("x-access-token", "content-type")})
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler],
            tls: tuple[Path, Path] | None = None) -> Iterator[ThreadingHTTPServer]:
    """``handler`` served on 127.0.0.1 (a free port), over TLS with ``(cert, key)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
