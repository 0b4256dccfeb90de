"""The provider's backend service as qiskit-ibmq-provider 0.8-0.20 offers it (reference §6).

Scripts written for upstream list and fetch jobs through ``provider.backends``:
``provider.backends.jobs(...)``, ``provider.backends.retrieve_job(id)`` and
``provider.backends.<name>``, besides calling it, ``provider.backends()``.
"""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import IBMQBackendApiError
from jobarchive.emulator import Emulator


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed_jobs=40, seed=5, time_scale=1e-6) as server:
        yield server


@pytest.fixture(scope="module")
def provider(emu):
    return jobarchive.connect(emu.url, emu.token)


def test_backends_jobs_and_retrieve_job_as_upstream_spells_them(emu, provider):
    # Was AttributeError: 'function' object has no attribute 'jobs' (and 'retrieve_job').
    jobs = provider.backends.jobs(limit=5, backend_name="ibmq_lima")
    assert [j.job_id() for j in jobs] == [j.job_id() for j in
                                          provider.jobs(limit=5, backend_name="ibmq_lima")]
    assert jobs and all(j.backend().name() == "ibmq_lima" for j in jobs)
    job = provider.backends.retrieve_job(jobs[0].job_id())
    assert job.to_dict() == provider.retrieve_job(jobs[0].job_id()).to_dict()
    with pytest.raises(IBMQBackendApiError, match="Failed to get job"):
        provider.backends.retrieve_job("0123456789abcdef01234567")


def test_a_backend_by_attribute(provider):
    assert provider.backends.ibmq_lima is provider.get_backend("ibmq_lima")
    assert "ibmq_lima" in dir(provider.backends)
    assert not hasattr(provider.backends, "ibmq_nowhere")
    with pytest.raises(AttributeError, match="ibmq_nowhere.*ibmq_lima"):
        provider.backends.ibmq_nowhere  # noqa: B018


def test_calling_it_still_lists_the_backends(provider):
    names = [b.name() for b in provider.backends()]
    assert "ibmq_lima" in names
    assert [b.name() for b in provider.backends("ibmq_lima")] == ["ibmq_lima"]
    assert [b.name() for b in provider.backends(name="ibmq_lima")] == ["ibmq_lima"]
    sims = provider.backends(simulator=True)
    assert sims and all(b.configuration()["simulator"] for b in sims)


def test_backend_properties_and_defaults_take_upstreams_refresh(provider):
    # Was TypeError: properties() got an unexpected keyword argument 'refresh' (upstream's
    # properties(refresh=False, datetime=None) and defaults(refresh=False)).
    backend = provider.get_backend("ibmq_lima")
    now = backend.properties()
    assert now and backend.properties(refresh=True) == now == backend.properties(True)
    assert backend.defaults(refresh=True) == backend.defaults()


def test_a_date_given_where_refresh_goes_is_refused_naming_datetime(provider):
    from datetime import UTC, datetime

    with pytest.raises(jobarchive.IBMQBackendValueError, match=r"properties\(datetime=...\)"):
        provider.get_backend("ibmq_lima").properties(datetime(2021, 6, 1, tzinfo=UTC))


def test_the_backend_service_under_its_0_20_name(provider):
    # Was AttributeError: 'IBMQProvider' object has no attribute 'backend' (0.20 deprecated
    # provider.backends for provider.backend).
    job_id = provider.jobs(limit=1)[0].job_id()
    assert provider.backend.retrieve_job(job_id).job_id() == job_id
    assert [j.job_id() for j in provider.backend.jobs(limit=3)] == [
        j.job_id() for j in provider.jobs(limit=3)]
    assert provider.backend.ibmq_lima is provider.get_backend("ibmq_lima")


def test_job_limit_reads_as_upstreams_backend_job_limit():
    # Was a dict of the server's keys: upstream scripts read backend.job_limit().maximum_jobs
    # and .active_jobs (None for no limit, the server's -1) and call remaining_jobs_count().
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6, job_limit=3) as emu:
        backend = jobarchive.connect(emu.url, emu.token).get_backend("ibmq_lima")
        limit = backend.job_limit()
        assert (limit.maximum_jobs, limit.active_jobs) == (3, 0)
        assert backend.remaining_jobs_count() == 3
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        backend = jobarchive.connect(emu.url, emu.token).get_backend("ibmq_lima")
        assert backend.job_limit().maximum_jobs is None
        assert backend.remaining_jobs_count() is None


def test_backends_filters_as_upstream_least_busy_scripts_pass_them(provider):
    # Was [] without a word for both: upstream's canonical least_busy(provider.backends(
    # simulator=False, operational=True)) and backends(filters=<callable>). A keyword every
    # configuration has filters on it, any other on the backend's status; filters= is a
    # predicate on the backend.
    devices = {"ibmq_athens", "ibmq_lima", "ibmq_belem"}
    assert {b.name() for b in provider.backends(simulator=False, operational=True)} == devices
    assert provider.backends(operational=False) == []
    assert {b.name() for b in provider.backends(
        filters=lambda b: not b.configuration()["simulator"])} == devices
    assert [b.name() for b in provider.backends(
        filters=lambda b: b.configuration()["n_qubits"] > 5)] == ["ibmq_qasm_simulator"]
    assert [b.name() for b in provider.backends("ibmq_lima", operational=True,
                                                filters=lambda b: True)] == ["ibmq_lima"]


def test_least_busy_as_upstream():
    # Was ImportError: qiskit-ibmq-provider's least_busy, which scripts feed
    # provider.backends(simulator=False, operational=True), did not exist.
    from jobarchive.provider import least_busy

    with Emulator(seed_jobs=0, seed=1, seed_active=40, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        devices = provider.backends(simulator=False, operational=True)
        queues = {b.name(): b.status().pending_jobs for b in devices}
        best = least_busy(devices)
        assert queues[best.name()] == min(queues.values())
        with pytest.raises(jobarchive.IBMQError, match="empty list"):
            least_busy([])
