"""IBMQJob.circuits(), backend_options() and header(): what qiskit-ibmq-provider 0.12-0.20
offered in place of qobj() (reference section 7), live and from the archive.

Code written against those releases calls them to see what a job ran; without them it
stopped with ``AttributeError: Attribute circuits is not defined.``"""

from __future__ import annotations

import json

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

import jobarchive
from jobarchive import IBMQJob, IBMQJobError, IBMQJobInvalidStateError
from jobarchive.qobj import circuits_from_qobj, qobj_from_circuits

pytestmark = pytest.mark.terra046
Emulator = pytest.importorskip("jobarchive.emulator").Emulator


def _bell(name: str) -> QuantumCircuit:
    qc = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(2, "c"), name=name)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def _record(**fields) -> dict:
    return {"job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
            "status": "COMPLETED", "kind": "q-object-external-storage", **fields}


def test_a_submitted_job_shows_its_circuits_options_and_header_live_and_archived(arc):
    circuits = [_bell("bell-a"), _bell("bell-b")]
    qobj = qobj_from_circuits(circuits, shots=64, seed_simulator=5)
    qobj["header"] = {"description": "two bells"}
    with Emulator(seed_jobs=0, seed=2, time_scale=500.0) as emu:
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        submitted = provider.get_backend("ibmq_qasm_simulator").run(qobj)
        job = provider.retrieve_job(submitted.job_id())  # a fresh job: its qobj is downloaded
        assert job.circuits() == circuits
        assert [c.name for c in job.circuits()] == ["bell-a", "bell-b"]
        assert job.backend_options()["shots"] == 64
        assert job.backend_options()["seed_simulator"] == 5
        assert job.header() == {"description": "two bells"}
        job.wait_for_final_state(timeout=60, poll_interval=0.01)
        arc.add(job)

    offline = arc.get(job.job_id())  # the emulator is gone: stored data only
    assert offline.circuits() == circuits
    assert offline.backend_options() == job.backend_options()
    assert offline.header() == {"description": "two bells"}
    offline.circuits()[0].x(0)  # a fresh list each call: the stored qobj stays as it ran
    assert offline.circuits() == circuits


def test_a_real_2019_device_job_rebuilds_into_its_circuit(real_corpus):
    doc = next(e["document"] for e in real_corpus if e["document"].get("kind") == "q-object")
    job = IBMQJob.from_server(doc)
    (circuit,) = job.circuits()
    assert circuit == circuits_from_qobj(doc["qObject"])[0]
    assert circuit.name == "evaled_reduced-uccsd" and circuit.num_qubits == 4
    options = job.backend_options()
    assert options["shots"] == 1024 and options["meas_level"] == 2
    assert options["qubit_lo_freq"] == []
    assert job.header() == doc["qObject"]["header"]


def test_a_job_without_a_qobj_format_has_no_circuits(real_corpus):
    doc = next(e["document"] for e in real_corpus if "qasms" in e["document"]
               and e["document"].get("kind") is None
               and e["document"]["creationDate"].startswith("2018-"))
    job = IBMQJob.from_server(doc)  # a 2018 QX v1 job: QASM text, no qobj (kind None)
    assert job.circuits() == [] and job.backend_options() == {} and job.header() == {}


def test_local_oscillator_frequencies_are_given_in_hz_as_backend_run_takes_them():
    qobj = qobj_from_circuits(_bell("b"), shots=10)
    qobj["config"].update(qubit_lo_freq=[4.9, 5.0], meas_lo_freq=[6.5])
    job = IBMQJob.from_dict(_record(qobj=qobj))
    assert job.backend_options()["qubit_lo_freq"] == [4.9e9, 5.0e9]
    assert job.backend_options()["meas_lo_freq"] == [6.5e9]
    assert job.qobj()["config"]["qubit_lo_freq"] == [4.9, 5.0], "the stored qobj is unchanged"


def test_a_pulse_job_is_refused_with_the_reason_not_a_crash():
    pulse = {"qobj_id": "p", "schema_version": "1.2.0", "type": "PULSE", "header": {"h": 1},
             "config": {"shots": 100, "meas_level": 1, "pulse_library": [{"name": "g",
                                                                           "samples": []}]},
             "experiments": [{"header": {}, "config": {}, "instructions": [
                 {"name": "g", "t0": 0, "ch": "d0"}]}]}
    job = IBMQJob.from_dict(_record(qobj=pulse))
    with pytest.raises(IBMQJobInvalidStateError, match=(
            "Unable to rebuild the circuits of job 5f8e2a1b9c0d4e0012ab34cd: "
            "unsupported qobj type 'PULSE'")):
        job.circuits()
    assert job.backend_options() == {"shots": 100, "meas_level": 1}
    assert job.header() == {"h": 1}


def test_an_offline_job_without_a_stored_qobj_says_it_is_offline():
    job = IBMQJob.from_dict(_record())
    for call in (job.circuits, job.backend_options, job.header):
        with pytest.raises(IBMQJobError, match="offline"):
            call()


def test_a_stored_qobj_that_cannot_be_read_is_refused_with_the_reason():
    qobj = json.loads(json.dumps(qobj_from_circuits(_bell("b"))))
    qobj["experiments"][0]["instructions"][0]["name"] = "not_a_gate"
    job = IBMQJob.from_dict(_record(qobj=qobj))
    with pytest.raises(IBMQJobInvalidStateError, match="unsupported instruction 'not_a_gate'"):
        job.circuits()
