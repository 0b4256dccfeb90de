"""A qobj asking for kerneled IQ points or raw traces (meas_level 1 or 0) is not simulated
as if it asked for outcomes: simulate_qobj refuses it with the reason, so the emulator no
longer completes such a job with counts labelled meas_level 2 (a real device sends IQ data),
and an audit re-run says why it cannot reproduce it."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive.qobj import qobj_from_circuits, simulate_qobj

pytestmark = pytest.mark.terra046
Emulator = pytest.importorskip("jobarchive.emulator").Emulator


def _qobj(**config) -> dict:
    qc = QuantumCircuit(1, 1, name="h")
    qc.h(0)
    qc.measure(0, 0)
    qobj = qobj_from_circuits([qc, qc], shots=16, seed_simulator=3)
    qobj["config"].update(config)
    return qobj


@pytest.mark.parametrize("level", [0, 1])
def test_a_qobj_asking_for_iq_or_raw_data_is_refused(level):
    with pytest.raises(ValueError, match=(
            f"qobj experiment 0 asks for meas_level {level} .IQ points or raw traces.; "
            r"a simulation gives outcomes only \(meas_level 2\)")):
        simulate_qobj(_qobj(meas_level=level, meas_return="single", memory=True))


def test_an_experiment_config_overrides_the_qobj_config():
    qobj = _qobj(meas_level=2)
    qobj["experiments"][1]["config"]["meas_level"] = 1
    with pytest.raises(ValueError, match="qobj experiment 1 asks for meas_level 1"):
        simulate_qobj(qobj)
    qobj = _qobj(meas_level=1)
    for exp in qobj["experiments"]:
        exp["config"]["meas_level"] = 2
    assert [r["meas_level"] for r in simulate_qobj(qobj)["results"]] == [2, 2]


def test_outcomes_are_simulated_as_before():
    for qobj in (_qobj(), _qobj(meas_level=2)):
        result = simulate_qobj(qobj)
        assert [sum(r["data"]["counts"].values()) for r in result["results"]] == [16, 16]


def test_the_emulator_fails_such_a_job_with_the_reason_instead_of_faking_counts():
    with Emulator(seed_jobs=0, seed=2, time_scale=500.0) as emu:
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        job = provider.get_backend("ibmq_qasm_simulator").run(
            _qobj(meas_level=1, meas_return="single", memory=True))
        job.wait_for_final_state(timeout=60, poll_interval=0.01)
        assert job.status() is jobarchive.JobStatus.ERROR
        assert "asks for meas_level 1" in job.error_message()
        assert emu.result_of(job.job_id()) is None
