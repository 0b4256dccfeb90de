"""IBMQJob.update_tags (reference §4.11) on jobs as provider.jobs() lists them.

The real server's list items (``Jobs/status/v/1``, realdata ibmqclient_jl_records/jobs.json)
carry no name, tags or timePerStep; the emulator's ``lean_lists`` serves them so. The new
tags are computed from the job's current ones, which such a job does not hold yet.
"""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


@pytest.fixture
def lean():
    with Emulator(seed_jobs=0, seed=3, time_scale=1e-6, lean_lists=True) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        qc = QuantumCircuit(1, 1)
        qc.h(0)
        qc.measure(0, 0)
        job = provider.get_backend("ibmq_qasm_simulator").run(
            qobj_from_circuits(qc, shots=10), job_tags=["exp1", "ibmq_jobset_s_0"])
        yield emu, provider, job.job_id()


def _server_tags(emu, job_id):
    return set(emu.job_doc(job_id)["tags"])


def test_adding_a_tag_to_a_listed_job_keeps_its_other_tags(lean):
    # Was: the listed job held tags [] (its list item has none), so the PUT sent ["reviewed"]
    # and the server lost exp1 and the job-set tag.
    emu, provider, job_id = lean
    listed = provider.jobs(limit=1, job_tags=["exp1"])[0]
    assert set(listed.update_tags(additional_tags=["reviewed"])) == {
        "exp1", "ibmq_jobset_s_0", "reviewed"} == _server_tags(emu, job_id)


def test_removing_a_tag_from_a_listed_job_keeps_its_other_tags(lean):
    emu, provider, job_id = lean
    listed = provider.jobs(limit=1)[0]
    assert set(listed.update_tags(removal_tags=["not-there"])) == {
        "exp1", "ibmq_jobset_s_0"} == _server_tags(emu, job_id)
    listed = provider.jobs(limit=1)[0]
    assert set(listed.update_tags(replacement_tags=["new"])) == {
        "new", "ibmq_jobset_s_0"} == _server_tags(emu, job_id)


def test_a_job_read_in_full_is_not_read_again(lean):
    emu, provider, job_id = lean
    job = provider.retrieve_job(job_id)
    emu.reset_stats()
    assert set(job.update_tags(additional_tags=["x"])) == {"exp1", "ibmq_jobset_s_0", "x"}
    assert emu.stats().get("job_get", 0) == 0
