"""IBMQJob.experiment_id refreshes once when empty, as qiskit-ibmq-provider 0.20's property
does (reference section 7). Jobs listed by the real server come from documents that leave
most fields out (realdata ibmqclient_jl_records/jobs.json: kind, backend, status,
creationDate, hubInfo, endDate, runMode, id, userId); such a job answered None for a job
run with an experiment id, so code grouping its jobs by experiment_id lost them."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive import IBMQJob
from jobarchive.qobj import qobj_from_circuits

Emulator = pytest.importorskip("jobarchive.emulator").Emulator
LISTED = ("kind", "backend", "status", "creationDate", "hubInfo", "endDate", "runMode", "id",
          "userId")  # the fields of a real 2021 list item


def test_experiment_id_of_a_listed_job_is_read_once_from_the_server():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    with Emulator(seed_jobs=0, seed=3, time_scale=500.0) as emu:
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        tagged = provider.get_backend("ibmq_qasm_simulator").run(qobj_from_circuits(qc))
        plain = provider.get_backend("ibmq_qasm_simulator").run(qobj_from_circuits(qc))
        # Run as 0.20's backend.run(experiment_id="exp-7") creates it (experimentTag).
        emu._state.jobs[tagged.job_id()].experiment_tag = "exp-7"
        jobs = {}
        for job_id in (tagged.job_id(), plain.job_id()):
            listed = {k: v for k, v in emu.job_doc(job_id).items() if k in LISTED}
            jobs[job_id] = IBMQJob.from_server(listed, api_client=provider.api_client)

        emu.reset_stats()
        assert jobs[tagged.job_id()].experiment_id == "exp-7"
        assert jobs[plain.job_id()].experiment_id is None
        served = emu.stats()["total"]
        assert served == 2, "one refresh each"
        assert jobs[tagged.job_id()].experiment_id == "exp-7"
        assert jobs[plain.job_id()].experiment_id is None
        assert emu.stats()["total"] == served, "once: a job without one is not asked again"
        assert jobs[tagged.job_id()].to_dict()["experiment_id"] == "exp-7"


def test_an_offline_job_answers_from_its_record(real_corpus):
    doc = next(e["document"] for e in real_corpus if e["document"].get("kind") == "runtime")
    assert IBMQJob.from_server(doc).experiment_id is None
