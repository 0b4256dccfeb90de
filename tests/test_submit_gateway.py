"""Job creation through gateway errors that may come after the job was created (emulator over
real sockets; sleeps are recorded, never waited)."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.exceptions import IBMQBackendApiError
from jobarchive.qobj import qobj_from_circuits


@pytest.fixture(scope="module")
def setup():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    qobj = qobj_from_circuits(qc, shots=8)
    with Emulator(seed_jobs=0, seed=1, time_scale=0.001) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        sleeps: list[float] = []
        provider.api_client.transport.sleep = sleeps.append
        yield emu, provider, qobj, sleeps


def test_job_creation_is_not_repeated_after_a_lost_answer(setup):
    """A dropped connection may have created the job: no retry. A 503 is retried."""
    emu, provider, qobj, sleeps = setup
    sleeps.clear()
    before = len(emu.job_docs())
    emu.set_faults({"rate": 1.0, "kinds": ["drop"], "endpoints": ["job_create"], "seed": 1})
    try:
        with pytest.raises(IBMQBackendApiError, match="Error submitting job"):
            provider.backends()[0].run(qobj)
        assert not sleeps
        emu.set_faults({"rate": 0.5, "kinds": ["503"], "endpoints": ["job_create"], "seed": 2})
        for _ in range(4):
            provider.backends()[0].run(qobj)
    finally:
        emu.set_faults(None)
    assert sleeps and len(emu.job_docs()) == before + 4


@pytest.mark.parametrize("status", ["502", "504", "520", "524"])
def test_a_gateway_error_after_the_job_was_created_does_not_create_it_again(setup, status):
    # A gateway timing out on (or garbling) the origin's answer: the job exists. Upstream
    # retries POST on these codes, and each retry created one more job, run (and billed)
    # again; like a dropped answer, they are not retried for job creation.
    emu, provider, qobj, sleeps = setup
    before = len(emu.job_docs())
    emu.set_faults({"rate": 1.0, "kinds": [status], "processed": True,
                    "endpoints": ["job_create"], "seed": 1})
    try:
        with pytest.raises(IBMQBackendApiError, match=status) as info:
            provider.backends()[0].run(qobj)
        assert "may have taken effect" in str(info.value) and "provider.jobs()" in str(info.value)
    finally:
        emu.set_faults(None)
    assert len(emu.job_docs()) == before + 1


@pytest.mark.parametrize("status", ["429", "503"])
def test_an_answer_that_the_job_was_not_taken_is_still_retried(setup, status):
    emu, provider, qobj, sleeps = setup
    before, slept = len(emu.job_docs()), len(sleeps)
    emu.set_faults({"rate": 0.5, "kinds": [status], "retry_after": 0,
                    "endpoints": ["job_create"], "seed": 3})
    try:
        for _ in range(3):
            provider.backends()[0].run(qobj)
    finally:
        emu.set_faults(None)
    assert len(emu.job_docs()) == before + 3 and len(sleeps) > slept


def test_the_emulator_carries_out_a_request_answered_with_a_processed_fault(setup):
    emu, provider, qobj, sleeps = setup
    job = provider.backends()[0].run(qobj)
    emu.set_faults({"rate": 1.0, "kinds": ["504"], "processed": True,
                    "endpoints": ["job_update"], "seed": 1})
    try:
        with pytest.raises(Exception, match="504"):
            provider.api_client.job_update_attribute(job.job_id(), "name", "changed")
    finally:
        emu.set_faults(None)
    assert emu.job_doc(job.job_id())["name"] == "changed"


def test_a_qobj_with_numpy_and_complex_values_is_sent_as_upstream_encodes_it(setup):
    # qobj.to_dict() keeps numpy arrays and scalars and complex numbers (pulse samples, numpy
    # parameters); upstream's IQXJsonEncoder sends complex as [real, imag] and numpy values
    # as lists and numbers. json.dumps raised TypeError out of backend.run instead.
    import numpy as np

    emu, provider, qobj, sleeps = setup
    odd = {**qobj, "header": {**qobj.get("header", {}), "weights": np.array([0.5, 0.25]),
                              "phase": 1 + 2j, "count": np.int64(3), "scale": np.float32(0.5)}}
    odd["config"] = {**qobj["config"], "shots": np.int64(8)}
    job = provider.backends()[0].run(odd)
    sent = emu.qobj_of(job.job_id())
    assert sent["header"]["weights"] == [0.5, 0.25] and sent["header"]["phase"] == [1.0, 2.0]
    assert sent["header"]["count"] == 3 and sent["header"]["scale"] == 0.5
    assert sent["config"]["shots"] == 8


def test_a_qobj_that_is_not_json_is_refused_before_anything_is_sent(setup):
    from jobarchive.exceptions import IBMQBackendValueError

    emu, provider, qobj, sleeps = setup
    before = len(emu.job_docs())
    with pytest.raises(IBMQBackendValueError, match="JSON"):
        provider.backends()[0].run({**qobj, "header": {"x": object()}})
    assert len(emu.job_docs()) == before


def test_an_empty_job_name_is_not_sent_as_upstream_does(setup):
    # Upstream adds name (and tags, shareLevel) to the create body only when truthy: a job
    # run with job_name="" has no name on the server, not "".
    emu, provider, qobj, sleeps = setup
    job = provider.backends()[0].run(qobj, job_name="", job_tags=[])
    doc = emu.job_doc(job.job_id())
    assert "name" not in doc and job.name() is None


def test_a_qobj_too_large_for_the_server_says_to_split_the_job():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    big = qobj_from_circuits([qc] * 200, shots=8)
    with Emulator(seed_jobs=0, seed=1, max_body=20_000) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with pytest.raises(IBMQBackendApiError, match="413") as info:
            provider.backends()[0].run(big)
        assert "split" in str(info.value), str(info.value)
        assert [d["status"] for d in emu.job_docs()] == ["CANCELLED"]  # nothing left waiting
