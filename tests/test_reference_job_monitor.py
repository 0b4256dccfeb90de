"""job_monitor, which qiskit-ibmq-provider's job package exports beside IBMQJob and QueueInfo
(reference §5), on jobs of the emulator. The emulator's clock moves only when the monitor
sleeps (a fake sleep), so every line is known."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from qiskit import QuantumCircuit

import jobarchive
import jobarchive.job as job_module
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


@pytest.fixture
def frozen(monkeypatch):
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            emu.advance(seconds)

        monkeypatch.setattr(job_module, "time", SimpleNamespace(sleep=sleep,
                                                                monotonic=lambda: 0.0))
        yield emu, jobarchive.connect(emu.url, emu.token), sleeps


def _run(provider, qobj=None):
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    return provider.get_backend("ibmq_athens").run(qobj or qobj_from_circuits(qc, shots=8))


def test_job_monitor_reports_each_status_until_the_job_ends(frozen):
    # Was ImportError: cannot import name 'job_monitor'.
    from jobarchive.job import job_monitor

    emu, provider, sleeps = frozen
    job = _run(provider)
    out = io.StringIO()
    job_monitor(job, output=out)
    text = out.getvalue()
    shown = [part.split(": ", 1)[1].rstrip() for part in text.split("\r") if part]
    assert shown[0].startswith("job is") and shown[-1] == "job has successfully run"
    assert any(s.startswith("job is queued (") and "[Est. wait time:" in s for s in shown)
    assert "RUNNING - fairshare" in shown
    assert text.endswith("\n") and job.done()
    assert sleeps and all(s >= 2 for s in sleeps)


def test_job_monitor_with_an_interval_and_a_failed_job(frozen):
    from jobarchive.job import job_monitor

    emu, provider, sleeps = frozen
    job = _run(provider, {"qobj_id": "x", "type": "QASM", "experiments": "nonsense"})
    out = io.StringIO()
    job_monitor(job, interval=3, output=out)
    assert out.getvalue().rstrip().split("\r")[-1].startswith("Job Status: ERROR - ")
    assert set(sleeps) == {3}


def test_job_monitor_of_a_finished_job_prints_its_status_once(frozen):
    from jobarchive.job import job_monitor

    emu, provider, sleeps = frozen
    job = _run(provider)
    job.wait_for_final_state(poll_interval=60)
    out = io.StringIO()
    job_monitor(job, output=out)
    assert out.getvalue() == "\rJob Status: job has successfully run\n"
