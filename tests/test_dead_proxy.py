"""A proxy nobody listens on (stopped, or a wrong port in HTTPS_PROXY): the request never
left this machine, so a job submission is not reported as possibly created, and the
connection is retried as little as any refused one (emulator over real sockets; backoff
sleeps recorded, never waited)."""

from __future__ import annotations

import socket

import pytest

from jobarchive.api import CONNECT_RETRIES, ApiClient, _Transport
from jobarchive.exceptions import RequestsApiError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_a_submission_through_a_dead_proxy_is_not_reported_as_possibly_created():
    # A port held bound but never listening: connections to it are refused.
    with Emulator(seed_jobs=1, seed=1) as emu, socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        transport = _Transport(proxies={"http": f"http://127.0.0.1:{dead.getsockname()[1]}"})
        sleeps: list[float] = []
        transport.sleep = sleeps.append
        client = ApiClient(emu.url, "an-access-token-value", transport=transport)
        with pytest.raises(RequestsApiError) as info:
            client.submit_job("ibmq_qasm_simulator", {"qobj_id": "q"})
        message = str(info.value)
        assert "may have taken effect" not in message, message
        assert "Unable to connect to proxy" in message
        assert transport.request_count == CONNECT_RETRIES + 1 and len(sleeps) == CONNECT_RETRIES
        assert "job_create" not in emu.stats()
