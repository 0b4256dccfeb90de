"""A live job whose backend the provider no longer serves (reference §3.4: "An unknown name
gives an IBMQRetiredBackend"): the emulator's history has jobs on ibmq_16_melbourne, which its
devices/v/1 no longer lists."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import IBMQBackendError
from jobarchive.emulator import Emulator

RETIRED = "ibmq_16_melbourne"


@pytest.fixture(scope="module")
def provider():
    with Emulator(seed_jobs=300, seed=3, time_scale=1e-6) as emu:
        yield jobarchive.connect(emu.url, emu.token)


def test_a_live_jobs_retired_backend_reads_as_upstreams(provider):
    # Was the offline stand-in: properties() and status() raised AttributeError "... is the
    # backend of an offline job ... The live backend is provider.get_backend('ibmq_16_melbourne')",
    # which fails in turn (no backend of that name).
    for job in (provider.jobs(limit=1, backend_name=RETIRED)[0],):
        job = provider.retrieve_job(job.job_id())
        backend = job.backend()
        assert backend.name() == RETIRED and backend.provider() is provider
        assert backend.properties() is None and backend.defaults() is None
        status = backend.status()
        assert (status.operational, status.pending_jobs) == (False, 0)
        assert "no longer available" in status.status_msg
        assert backend.configuration()["backend_name"] == RETIRED
        assert [j.backend().name() for j in backend.jobs(limit=3)] == [RETIRED] * 3
        with pytest.raises(IBMQBackendError, match="no longer available"):
            backend.run({"qobj_id": "x", "type": "QASM", "experiments": []})


def test_a_served_backend_is_still_the_providers(provider):
    job = provider.jobs(limit=1, backend_name="ibmq_lima")[0]
    assert job.backend() is provider.get_backend("ibmq_lima")
