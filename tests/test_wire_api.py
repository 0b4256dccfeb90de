"""Client requests and answers against shapes recorded from the real server (emulator over
real sockets; sleeps are recorded, never waited)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.exceptions import RequestsApiError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


@pytest.fixture()
def emu():
    with Emulator(seed_jobs=10, seed=1) as server:
        yield server


def _sleeps(provider) -> list[float]:
    recorded: list[float] = []
    provider.api_client.transport.sleep = recorded.append
    provider.api_client.transport.random = lambda: 0.5  # jitter factor 1.0
    return recorded


def test_a_429_without_retry_after_waits_for_the_rate_limit_reset(emu):
    # The real server sends X-RateLimit-Limit/-Remaining/-Reset (epoch seconds) on every
    # answer (realdata ibmqclient_jl_records): a 429 without Retry-After is retried when the
    # window resets, not on the short exponential schedule (0.5, 1, 2, 4, 8 s).
    provider = jobarchive.connect(emu.url, emu.token)
    sleeps = _sleeps(provider)
    emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": None, "reset_after": 40,
                    "seed": 1, "endpoints": ["job_get"]})
    job_id = emu.job_docs()[0]["id"]
    with pytest.raises(RequestsApiError) as info:
        provider.api_client.job_get(job_id)
    assert info.value.status_code == 429
    assert len(sleeps) == 5 and all(39 <= s <= 41 for s in sleeps), sleeps
    emu.set_faults(None)


def test_the_emulator_sends_rate_limit_headers_like_the_real_server(emu):
    import requests

    provider = jobarchive.connect(emu.url, emu.token)
    emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": None, "reset_after": 5,
                    "seed": 1, "endpoints": ["job_get"]})
    job_id = emu.job_docs()[0]["id"]
    r = requests.get(f"{provider.api_client.project_url}/Jobs/{job_id}/v/1",
                     headers={"X-Access-Token": provider.api_client._token.value}, timeout=10)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["X-RateLimit-Reset"]) > 0 and int(r.headers["X-RateLimit-Limit"]) > 0
    assert r.json()["error"]["statusCode"] == 429


def test_a_confirmed_submission_whose_answer_is_garbled_is_not_cancelled():
    # jobDataUploaded took effect, but its answer was cut: the job runs. Cancelling it (and
    # failing backend.run) would throw away a job the server is running.
    from jobarchive.demo import bell_and_ghz
    from jobarchive.qobj import qobj_from_circuits

    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        backend = next(b for b in provider.backends() if "simulator" in b.name())
        emu.set_faults({"rate": 1.0, "kinds": ["garbled"], "seed": 1,
                        "endpoints": ["job_data_uploaded"]})
        job = backend.run(qobj_from_circuits(bell_and_ghz(), shots=10), job_name="kept")
        emu.set_faults(None)
        doc = emu.job_doc(job.job_id())
        assert doc["status"] != "CANCELLED" and emu.stats().get("job_cancel", 0) == 0
        assert job.name() == "kept" and job.status().name != "CANCELLED"
        emu.advance(3600)
        assert job.result().get_counts(0)


def test_a_submission_the_server_did_not_take_is_cancelled():
    from jobarchive.demo import bell_and_ghz
    from jobarchive.exceptions import IBMQBackendApiError
    from jobarchive.qobj import qobj_from_circuits

    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        backend = next(b for b in provider.backends() if "simulator" in b.name())
        # Never carried out (a proxy's garbage): the job stays CREATING, so it is cancelled
        # and the error says so; nothing is left waiting for data.
        emu.set_faults({"rate": 1.0, "kinds": ["malformed"], "seed": 1,
                        "endpoints": ["job_data_uploaded"]})
        with pytest.raises(IBMQBackendApiError, match="not JSON"):
            backend.run(qobj_from_circuits(bell_and_ghz(), shots=10))
        emu.set_faults(None)
        (doc,) = emu.job_docs()
        assert doc["status"] == "CANCELLED"


def test_the_job_limit_error_reads_like_the_real_servers():
    # Recorded (qiskit-aqua issue 884): "400 Client Error: Bad Request for url: .../Jobs.
    # Reached maximum number (5) of concurrent jobs, Error code: 3458."
    from jobarchive.demo import bell_and_ghz
    from jobarchive.exceptions import IBMQBackendJobLimitError
    from jobarchive.qobj import qobj_from_circuits

    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6, job_limit=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        backend = next(b for b in provider.backends() if "simulator" in b.name())
        qobj = qobj_from_circuits(bell_and_ghz(), shots=10)
        backend.run(qobj)
        with pytest.raises(IBMQBackendJobLimitError) as info:
            backend.run(qobj)
        assert str(info.value).endswith(
            "/Jobs. Reached maximum number (1) of concurrent jobs, Error code: 3458.")
        assert "400 Client Error: Bad Request for url: " in str(info.value)


def test_the_access_token_does_not_follow_a_redirect_to_another_host():
    # requests strips only `Authorization` on a cross-host redirect; the access token travels
    # in X-Access-Token, so a redirect (a proxy, a moved API) must not carry it elsewhere.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from jobarchive.api import ApiClient

    seen: list[dict[str, str]] = []

    class Capture(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - stdlib name
            seen.append(dict(self.headers))
            body = b'{"id": "x", "status": "COMPLETED", "creationDate": "2021-01-01T00:00:00.000Z"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Capture)

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{elsewhere.server_port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return

    api = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (elsewhere, api):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ApiClient(f"http://127.0.0.1:{api.server_port}/api", "access-token-value")
        client.job_get("x")
        assert seen and all("X-Access-Token" not in h for h in seen), seen
    finally:
        for server in (elsewhere, api):
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("skew", [-600.0, 600.0])
def test_a_retry_after_date_is_read_on_the_servers_clock(skew):
    # Retry-After as an HTTP date "in 5 s" from a server whose clock is ten minutes off
    # this machine's: not no wait at all (retries hammering it), nor the 120 s ceiling.
    with Emulator(seed_jobs=3, seed=1, clock_skew=skew) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=3)
        waits = _sleeps(provider)
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 5,
                        "retry_after_date": True, "endpoints": ["job_get"]})
        with pytest.raises(RequestsApiError):
            provider.api_client.job_get(emu.job_docs()[0]["id"])
        assert len(waits) == 3 and all(3.0 <= w <= 7.0 for w in waits), waits  # whole seconds
