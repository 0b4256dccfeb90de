"""A live job's result download is acknowledged (POST resultDownloaded) only once the result
parses and is kept: some results are served only once (reference 4.5), so acknowledging one
that is then dropped loses it. Emulator over real sockets, serving each result once."""

from __future__ import annotations

import copy

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator
from jobarchive.exceptions import IBMQJobApiError
from jobarchive.qobj import qobj_from_circuits


def _bell() -> dict:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits(qc, shots=64, seed_simulator=7)


@pytest.fixture()
def emu():
    with Emulator(seed_jobs=0, seed=2, time_scale=200.0, consume_results=True) as server:
        yield server


def _done_job(emu):
    provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
    backend = next(b for b in provider.backends() if b.configuration().get("simulator"))
    job = backend.run(_bell())
    job.wait_for_final_state(timeout=60, wait=0.01)
    return job


def test_a_result_that_does_not_parse_is_not_acknowledged_and_stays_on_the_server(emu, tmp_path):
    job = _done_job(emu)
    stored = emu._state.jobs[job.job_id()]
    good = copy.deepcopy(stored.result)
    stored.result = {**good, "results": [{"data": {"counts": {"0x0": 64}}}]}  # a server bug
    with pytest.raises(IBMQJobApiError, match="malformed"):
        job.result()
    assert emu.stats().get("job_result_downloaded", 0) == 0
    stored.result = good  # the server serves it right, or a fixed client reads it
    assert sum(job.result().get_counts().values()) == 64
    assert emu.stats()["job_result_downloaded"] == 1  # now that it is kept
    with Archive(tmp_path / "arc") as arc:
        arc.add(job)
        assert arc.record(job.job_id())["result"] == good


def test_a_kept_result_is_acknowledged_once(emu):
    job = _done_job(emu)
    job.result()
    job.result()
    assert emu.stats()["job_result_downloaded"] == 1
