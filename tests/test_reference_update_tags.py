"""IBMQJob.update_tags (reference §4.11) and reads on jobs as provider.jobs() lists them.

The real server's list items (``Jobs/status/v/1``, realdata ibmqclient_jl_records/jobs.json)
carry no name, tags or timePerStep; the emulator's ``lean_lists`` serves them so. The new
tags are computed from the job's current ones, which such a job does not hold yet.
"""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive import Archive
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
            qobj_from_circuits(qc, shots=10), job_name="bell-run",
            job_tags=["exp1", "ibmq_jobset_s_0"], job_share_level="hub")
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


def test_a_listed_job_reads_what_its_list_item_left_out(lean):
    # Was: name() None and tags() [], as the list item left them out.
    emu, provider, job_id = lean
    emu.reset_stats()
    listed = provider.jobs(limit=2)
    assert emu.stats().get("job_get", 0) == 0  # listing alone reads nothing more
    job = listed[0]
    assert set(job.tags()) == {"exp1", "ibmq_jobset_s_0"}
    assert job.name() == "bell-run"
    assert emu.stats().get("job_get", 0) == 1  # once
    assert job.to_dict() == provider.retrieve_job(job_id).to_dict()
    assert provider.jobs(limit=1)[0].name() == "bell-run"


def test_archiving_a_listed_job_keeps_its_name_and_tags(lean, tmp_path):
    emu, provider, job_id = lean
    with Archive(tmp_path / "a") as arc:
        arc.add(provider.jobs(limit=1)[0])
        record = arc.get(job_id).to_dict()
        assert (record["name"], set(record["tags"]), record["share_level"]) == (
            "bell-run", {"exp1", "ibmq_jobset_s_0"}, "hub")


def test_a_list_item_that_carries_name_and_tags_is_not_read_again():
    with Emulator(seed_jobs=0, seed=3, time_scale=1e-6) as emu:  # full list items
        provider = jobarchive.connect(emu.url, emu.token)
        qc = QuantumCircuit(1, 1)
        qc.measure(0, 0)
        provider.get_backend("ibmq_qasm_simulator").run(
            qobj_from_circuits(qc, shots=10), job_name="n", job_tags=["t"])
        emu.reset_stats()
        job = provider.jobs(limit=1)[0]
        assert (job.name(), job.tags(), job.update_tags(additional_tags=["u"])) == (
            "n", ["t"], ["t", "u"])
        assert emu.stats().get("job_get", 0) == 0
