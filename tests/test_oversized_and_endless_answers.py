"""Answers are held whole before they are decoded. A broken or hostile server (or a proxy)
that sends an endless body made the client read until memory ran out, and one that sends a
byte at a time never tripped requests' read timeout (it bounds each wait on the socket), so
a sync hung for good. Past ``max_answer_bytes`` an answer is refused with a clear error,
and one that trickles is cut as a read timeout. A tiny HTTP server on 127.0.0.1 port 0
sends the bodies over a real socket, and the real emulator serves a real result; the
client's clock and sleeps are fakes (never waited on)."""

from __future__ import annotations

import gzip
import itertools
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from local_http import serving

import jobarchive
from jobarchive.api import AnswerTooLargeError, ApiClient, RequestDeadlineError
from jobarchive.emulator import Emulator
from jobarchive.exceptions import ApiError, RequestsApiError

TOKEN = "access-token-endless-secret"
SERVER_CAP = 8 << 20  # the test server gives up after this much, so old code ends too
BOMB = gzip.compress(b"[" + b"0," * (SERVER_CAP // 2), compresslevel=9)  # ~8 KB on the wire


class _Bodies(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - stdlib name
        kind = self.path.split("/Jobs/")[1].split("/")[0]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if kind == "endless":  # no length: the body ends when the connection does
            self.send_header("Connection", "close")
            self.end_headers()
            self._send(b"[" + b"0," * (SERVER_CAP // 2), chunk=1 << 16, pause=0.0)
        elif kind == "gzip":  # a small body that decompresses past the limit
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self._send(BOMB, chunk=1 << 16, pause=0.0)
        elif kind == "declared":
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
            self._send(b"[" * SERVER_CAP, chunk=1 << 16, pause=0.0)
        else:  # trickle: a byte at a time
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self._send(b"[" * 1500, chunk=1, pause=0.002)
        self.close_connection = True

    def _send(self, data: bytes, chunk: int, pause: float) -> None:
        try:
            for i in range(0, len(data), chunk):
                self.wfile.write(data[i:i + chunk])
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
        except OSError:
            return  # the client hung up

    def log_message(self, *args):
        return


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serving(_Bodies) as server:
        yield server.server_port


@pytest.fixture
def client(port) -> ApiClient:
    api = ApiClient(f"http://127.0.0.1:{port}/api", TOKEN, max_retries=1)
    api.transport.sleep = lambda seconds: None
    ticks = itertools.count(step=1.0)  # one second passes at every look at the clock
    api.transport.clock = lambda: next(ticks)
    api.transport.max_answer_bytes = 1 << 20
    return api


def _error(client: ApiClient, kind: str) -> ApiError:
    with pytest.raises(ApiError) as info:
        client.job_get(kind)
    assert TOKEN not in str(info.value)
    return info.value


@pytest.mark.parametrize("kind", ["endless", "declared", "gzip"])
def test_an_answer_past_the_limit_is_refused_and_not_retried(client, kind):
    err = _error(client, kind)
    assert isinstance(err, AnswerTooLargeError), err
    assert "larger than 1048576 bytes" in str(err) and "max_answer_bytes" in str(err)
    assert client.request_count == 1


def test_an_answer_that_trickles_is_cut_as_a_read_timeout(client):
    err = _error(client, "trickle")
    assert isinstance(err, RequestsApiError) and err.status_code == -1
    assert "slower than" in str(err) and "gave up after 2 attempts" in str(err), err


def test_an_answer_that_trickles_past_the_callers_deadline_is_cut_there(client):
    with pytest.raises(RequestDeadlineError) as info, client.deadline(30):
        client.job_get("trickle")
    assert "while its answer arrived" in str(info.value)


def test_a_result_download_past_the_limit_names_the_setting_and_is_not_acknowledged():
    with Emulator(seed_jobs=5, seed=3, consume_results=True) as emu:
        client = jobarchive.connect(emu.url, emu.token).api_client
        job_id = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        client.transport.max_answer_bytes = 1000
        emu.reset_stats()
        with pytest.raises(AnswerTooLargeError, match="max_answer_bytes"):
            client.job_result(job_id)
        assert emu.stats().get("storage_result") == 1
        assert "job_result_downloaded" not in emu.stats()
        client.transport.max_answer_bytes = 1 << 20
        assert client.job_result(job_id) == emu.result_of(job_id)
