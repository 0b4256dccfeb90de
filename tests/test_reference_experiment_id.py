"""Experiment ids as qiskit-ibmq-provider 0.12-0.20 gives them (reference §7): the job
create body's ``experimentTag``, ``backend.run(..., experiment_id=)`` and ``jobs(experiment_id=)``
filtering on ``"experimentTag"``, over the emulator."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive import IBMQBackendValueError
from jobarchive.emulator import Emulator
from jobarchive.provider import build_where
from jobarchive.qobj import qobj_from_circuits


def _qobj() -> dict:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    return qobj_from_circuits(qc, shots=8)


def test_run_and_list_by_experiment_id():
    # Was TypeError: run() and jobs() got an unexpected keyword argument 'experiment_id'.
    with Emulator(seed_jobs=30, seed=2, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        backend = provider.get_backend("ibmq_qasm_simulator")
        tagged = [backend.run(_qobj(), experiment_id="exp-7") for _ in range(2)]
        backend.run(_qobj(), experiment_id="exp-8")
        backend.run(_qobj())
        assert [j.experiment_id for j in tagged] == ["exp-7", "exp-7"]
        assert emu.job_doc(tagged[0].job_id())["experimentTag"] == "exp-7"
        want = {j.job_id() for j in tagged}
        assert {j.job_id() for j in provider.jobs(limit=None, experiment_id="exp-7")} == want
        assert {j.job_id() for j in backend.jobs(limit=None, experiment_id="exp-7")} == want
        assert {j.job_id() for j in provider.backends.jobs(limit=None,
                                                           experiment_id="exp-7")} == want
        assert provider.jobs(experiment_id="exp-7", backend_name="ibmq_lima") == []


def test_the_filter_and_its_validation():
    assert build_where(experiment_id="e1") == {"experimentTag": "e1"}
    with pytest.raises(IBMQBackendValueError, match="experiment_id"):
        build_where(experiment_id=5)
