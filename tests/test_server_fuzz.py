"""Fuzzing the server-response boundary through the real client, over real sockets.

A small stdlib ``http.server`` sits between the client and the emulator and corrupts the
answers of chosen endpoints (wrong types in job documents, unknown status strings, entries
that are not documents, truncated or cut-off result and qobj downloads, bodies that are not
JSON or not the expected JSON type, huge pages). Whatever it serves, ``sync`` either
finishes (jobs it could not read reported in ``failed``) or raises the package's own error
(an ``IBMQError``); the archive stays clean (``audit()``), every job in it round-trips, a
stored result is the server's, and a clean re-sync brings every untouched job level with
the server. The emulator's own malformed-body fault goes through the same checks.

``JOBARCHIVE_SERVER_FUZZ_EXAMPLES`` (default 50) sets the number of generated cases.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis.strategies as st
import local_http
import pytest
from hypothesis import HealthCheck, given, settings

import jobarchive
from jobarchive import Archive, IBMQError, IBMQJob
from jobarchive.status import API_FINAL_STATUSES
from jobarchive.sync import SyncReport

emulator = pytest.importorskip("jobarchive.emulator")

EXAMPLES = int(os.environ.get("JOBARCHIVE_SERVER_FUZZ_EXAMPLES", "50"))

# Endpoint kinds the proxy can corrupt, by the path the client calls.
ENDPOINTS = {
    "list": lambda p: p.endswith("/Jobs/status/v/1"),
    "list_full": lambda p: p.endswith("/Jobs/v/1"),
    "job_get": lambda p: "/Jobs/" in p and p.endswith("/v/1") and "/Jobs/status/" not in p
    and not p.endswith("/Jobs/v/1"),
    "result_url": lambda p: p.endswith("/resultDownloadUrl"),
    "qobj_url": lambda p: p.endswith("/jobDownloadUrl"),
    "result": lambda p: p.startswith("/storage/result/"),
    "qobj": lambda p: p.startswith("/storage/qobj/"),
}


class CorruptingProxy:
    """Forwards every request to the emulator; ``plan`` says how to corrupt answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.plan: dict[str, Any] | None = None
        self.touched: set[str] = set()   # job ids whose documents were corrupted
        self.corrupted = 0               # answers corrupted
        self.lock = threading.Lock()
        proxy = self

        class Handler(local_http.Handler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # small writes go out at once (no Nagle/delayed-ACK stalls)
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _forward(self) -> None:
                status, data = self.forward(proxy.upstream)
                data = data.replace(proxy.upstream_base.encode(), proxy.base.encode())
                path = urlsplit(self.path).path
                cut = None
                if status == 200:
                    status, data, cut = proxy.corrupt(path, data)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if cut is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data if cut is None else data[:cut])

            do_GET = do_POST = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.upstream_base = f"{self.upstream.scheme}://{self.upstream.netloc}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return self.base + self.upstream.path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- corruption ------------------------------------------------------------------

    def corrupt(self, path: str, data: bytes) -> tuple[int, bytes, int | None]:
        plan = self.plan
        if plan is None or not ENDPOINTS[plan["endpoint"]](path):
            return 200, data, None
        with self.lock:
            rng = random.Random(plan["seed"] + self.corrupted)
            self.corrupted += 1
        how = plan["how"]
        if how == "cut":       # Content-Length promises more than is sent
            return 200, data, len(data) // 2
        if how == "truncate":  # a complete answer of half the bytes
            return 200, data[: len(data) // 2], None
        if how == "not_json":
            return 200, b"<html>502 Bad Gateway</html>", None
        if how == "empty":
            return 200, b"", None
        value = json.loads(data)
        if how == "wrong_type":
            return 200, json.dumps(plan["value"]).encode(), None
        if not isinstance(value, list) and not plan["endpoint"] == "job_get":
            return 200, data, None
        docs = value if isinstance(value, list) else [value]
        if how == "huge":      # far more entries than asked for, repeats included
            docs = (docs * (3000 // max(1, len(docs)) + 1))[:3000]
        elif docs:
            for i in rng.sample(range(len(docs)), min(len(docs), plan["n"])):
                doc = docs[i]
                if how == "not_a_doc" or not isinstance(doc, dict):
                    docs[i] = plan["value"]
                    continue
                if isinstance(doc.get("id"), str):
                    self.touched.add(doc["id"])
                if how == "status":
                    doc["status"] = plan["status"]
                elif how == "drop":
                    doc.pop(plan["field"], None)
                else:          # "field": a wrong-typed or odd value
                    doc[plan["field"]] = plan["value"]
        out = docs if isinstance(value, list) else docs[0]
        return 200, json.dumps(out).encode(), None


@pytest.fixture(scope="module")
def server():
    with emulator.Emulator(seed_jobs=25, seed=6, seed_active=3, time_scale=600.0) as emu:
        proxy = CorruptingProxy(emu.url)
        try:
            yield emu, proxy
        finally:
            proxy.close()


ODD = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                st.text(max_size=8), st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
FIELDS = st.sampled_from(["id", "status", "creationDate", "tags", "name", "backend", "kind",
                          "timePerStep", "error", "shareLevel", "runMode", "hubInfo",
                          "clientInfo", "qObjectResult", "summaryData", "endDate", "infoQueue"])
PLANS = st.one_of(
    st.fixed_dictionaries({"endpoint": st.sampled_from(["list", "list_full", "job_get"]),
                           "how": st.sampled_from(["field", "drop"]), "field": FIELDS,
                           "value": ODD, "n": st.integers(1, 3)}),
    st.fixed_dictionaries({"endpoint": st.sampled_from(["list", "list_full", "job_get"]),
                           "how": st.just("status"),
                           "status": st.one_of(st.text(max_size=10),
                                               st.sampled_from(["DONE", "completed", "QUEUED ",
                                                                "ERROR_SOMETHING_NEW"])),
                           "n": st.integers(1, 3)}),
    st.fixed_dictionaries({"endpoint": st.sampled_from(["list", "list_full"]),
                           "how": st.sampled_from(["not_a_doc", "huge"]), "value": ODD,
                           "n": st.integers(1, 2)}),
    st.fixed_dictionaries({"endpoint": st.sampled_from(list(ENDPOINTS)),
                           "how": st.sampled_from(["cut", "truncate", "not_json", "empty"])}),
    st.fixed_dictionaries({"endpoint": st.sampled_from(list(ENDPOINTS)),
                           "how": st.just("wrong_type"),
                           "value": st.one_of(ODD, st.just({"url": 5}),
                                              st.just({"url": "file:///etc/passwd"}))}),
)


def _check_archive(arc: Archive, emu, qobj: bool = True) -> None:
    frame = arc.audit()
    assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")
    for job_id in arc.query()["job_id"]:
        record = arc.get(job_id).to_dict()
        assert IBMQJob.from_dict(record).to_dict() == record
        if record["result"] is not None:  # a stored result is the server's, never a fragment
            assert record["result"] == emu.result_of(job_id), job_id
        if record["qobj"] is not None and qobj:
            assert record["qobj"] == emu.qobj_of(job_id), job_id


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=PLANS, seed=st.integers(0, 1000), full=st.booleans())
def test_corrupted_server_answers_fail_cleanly(server, tmp_path_factory, campaign_stats, plan,
                                               seed, full):
    emu, proxy = server
    campaign_stats["fuzz cases (server responses)"] = \
        campaign_stats.get("fuzz cases (server responses)", 0) + 1
    path: Path = tmp_path_factory.mktemp("fz") / "a"
    provider = jobarchive.connect(proxy.url, emu.token, max_retries=1, backoff_factor=0.0)
    proxy.touched = set()
    proxy.plan = {**plan, "seed": seed}
    try:
        with Archive(path) as arc:
            try:
                report = arc.sync(provider, progress=False, full=full, workers=2)
            except IBMQError as err:
                assert emu.token not in str(err)
            else:
                assert isinstance(report, SyncReport)
                assert all(emu.token not in why for why in report.failed.values())
            # A qobj has no fixed shape to check: a dict the server sends for one is kept.
            odd_qobj = plan["endpoint"] == "qobj" and isinstance(plan.get("value"), dict)
            _check_archive(arc, emu, qobj=not odd_qobj)
            proxy.plan = None
            # A clean pass finishes the work: every job the proxy left alone equals the server.
            report = arc.sync(provider, progress=False, full=True, workers=2)
            _check_archive(arc, emu, qobj=not odd_qobj)
            assert not set(report.failed) - proxy.touched, report.failed
            for doc in emu.job_docs():
                job_id = doc["id"]
                assert job_id in arc, job_id  # nothing the corruption hid stays lost
                if job_id in proxy.touched:
                    continue  # an odd value the mapping accepted is what the server said
                got = arc.record(job_id)
                want = IBMQJob.from_server(emu.job_doc(job_id)).to_dict()
                if got["status"] not in API_FINAL_STATUSES:
                    continue  # an active job moves on between reads (the clock runs)
                for key in ("result", "qobj"):
                    got.pop(key), want.pop(key)
                assert got == want, job_id
    finally:
        proxy.plan = None
        provider.api_client.close()


def test_emulator_malformed_bodies_through_sync_fail_cleanly(tmp_path, campaign_stats):
    """The emulator's own malformed-body fault on every request, at a high rate."""
    with emulator.Emulator(seed_jobs=40, seed=8) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=1, backoff_factor=0.0)
        emu.set_faults({"rate": 0.3, "kinds": ["malformed"], "seed": 4})
        with Archive(tmp_path / "a") as arc:
            for _ in range(8):
                campaign_stats["fuzz cases (server responses)"] = \
                    campaign_stats.get("fuzz cases (server responses)", 0) + 1
                try:
                    arc.sync(provider, progress=False, workers=2)
                except IBMQError:
                    pass
                _check_archive(arc, emu)
            emu.set_faults(None)
            report = arc.sync(provider, progress=False)
            assert not report.failed
            assert len(arc) == 40
            _check_archive(arc, emu)
