"""A live job that the server reports final is cached as final only once its final document
is read (upstream refreshes at that point). When that read failed, the job used to answer
DONE from its cache from then on and never read it again: time_per_step() stopped before
COMPLETED, to_dict() (what Archive.add stores, and a sync never refreshes a final job) kept
the last non-final fields. Now it stays as it was, and the next call asks again."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive import IBMQJobApiError, IBMQJobTimeoutError, JobStatus
from jobarchive.qobj import qobj_from_circuits

Emulator = pytest.importorskip("jobarchive.emulator").Emulator
JOB_INFO_DOWN = {"rate": 1.0, "kinds": ["503"], "endpoints": ["job_get"], "seed": 1}


@pytest.fixture
def frozen():
    # A frozen clock: the job moves only when the test advances it.
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        qc = QuantumCircuit(1, 1)
        qc.h(0)
        qc.measure(0, 0)
        job = provider.get_backend("ibmq_qasm_simulator").run(qobj_from_circuits(qc, shots=8))
        assert job.status() is JobStatus.INITIALIZING
        emu.advance(3600)  # the server has finished it; the job has not seen that yet
        yield emu, job


def _has_the_final_document(emu, job) -> None:
    server = emu.job_doc(job.job_id())
    record = job.to_dict()
    assert record["status"] == "COMPLETED"
    assert set(record["time_per_step"]) == set(server["timePerStep"])
    assert record["end_date"] == server["endDate"]
    assert "COMPLETED" in job.time_per_step()


def test_status_asks_again_until_the_final_document_is_read(frozen):
    emu, job = frozen
    emu.set_faults(JOB_INFO_DOWN)
    for _ in range(2):  # not cached as DONE: each call asks, and says why it failed
        with pytest.raises(IBMQJobApiError, match="503"):
            job.status()
    assert job.to_dict()["status"] != "COMPLETED"
    emu.set_faults(None)
    assert job.status() is JobStatus.DONE
    _has_the_final_document(emu, job)


def test_wait_for_final_state_after_a_failed_final_read_reads_it(frozen):
    emu, job = frozen
    emu.set_faults(JOB_INFO_DOWN)
    with pytest.raises(IBMQJobApiError, match="503"):
        job.wait_for_final_state(timeout=60, poll_interval=0.01)
    emu.set_faults(None)
    job.wait_for_final_state(timeout=60, poll_interval=0.01)
    _has_the_final_document(emu, job)


def test_a_final_read_cut_by_the_timeout_leaves_the_job_to_be_read_later(frozen):
    emu, job = frozen
    # The status answer comes at once, the job document only after the wait's deadline.
    emu.set_faults({"rate": 1.0, "kinds": ["latency"], "latency": 1.0,
                    "endpoints": ["job_get"], "seed": 1})
    with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting for job"):
        job.wait_for_final_state(timeout=0.3, poll_interval=0.01)
    emu.set_faults(None)
    job.wait_for_final_state(timeout=60, poll_interval=0.01)
    _has_the_final_document(emu, job)
