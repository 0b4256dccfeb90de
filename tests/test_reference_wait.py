"""IBMQJob's waiting against reference §4.4 and upstream 0.11.1, over the emulator.

Upstream's ``wait_for_final_state(wait=...)`` is only the callback interval (its status
polling keeps its own 5 s), and a job that reached its final state within ``timeout`` is
reported, not timed out. The clocks and sleeps are fakes; the emulator's clock is frozen
and moves only when the client sleeps, so every poll is counted exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

import jobarchive
import jobarchive.job as job_module
from jobarchive import IBMQJobTimeoutError
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


def _bell() -> dict:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits(qc, shots=32, seed_simulator=7)


@pytest.fixture
def frozen(monkeypatch):
    """(emulator, provider, sleeps): one fake clock for the job's waits and the client's
    deadlines; each sleep moves it and the emulator on by the time slept (times
    ``emu.speed``, 1 unless a test sets it)."""
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        emu.speed = 1.0
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        now = [1000.0]
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            now[0] += seconds
            emu.advance(max(seconds, 0.001) * emu.speed)

        transport = provider.api_client.transport
        transport.clock = lambda: now[0]
        monkeypatch.setattr(job_module, "time", SimpleNamespace(monotonic=lambda: now[0],
                                                                sleep=sleep))
        yield emu, provider, sleeps


def _submit(provider):
    return provider.get_backend("ibmq_qasm_simulator").run(_bell())


def test_wait_zero_without_a_callback_polls_at_the_usual_interval(frozen):
    # Was a busy loop: wait=0 made the poll interval 0 (417 status requests in 0.45 s of a
    # real wait), though upstream uses wait only for the callback.
    emu, provider, sleeps = frozen
    job = _submit(provider)
    emu.reset_stats()
    job.wait_for_final_state(wait=0)
    assert job.status() is JobStatus.DONE
    assert sleeps and all(s == job_module.DEFAULT_POLL_SECONDS for s in sleeps), sleeps
    assert emu.stats()["job_status"] == len(sleeps) + 1


def test_wait_without_a_callback_does_not_change_the_poll_interval(frozen):
    emu, provider, sleeps = frozen
    job = _submit(provider)
    job.wait_for_final_state(wait=0.5, poll_interval=2.0)
    assert sleeps and set(sleeps) == {2.0}


def test_wait_zero_with_a_callback_calls_back_on_every_poll_at_the_usual_interval(frozen):
    emu, provider, sleeps = frozen
    job = _submit(provider)
    seen = []
    job.wait_for_final_state(wait=0, callback=lambda *a, **k: seen.append(a[1]))
    assert job.status() is JobStatus.DONE
    assert sleeps and set(sleeps) == {job_module.DEFAULT_POLL_SECONDS}
    assert len(seen) == len(sleeps)  # one call per poll that found the job still active


def test_a_callback_with_a_wait_gets_a_fresh_status_that_often(frozen):
    emu, provider, sleeps = frozen
    job = _submit(provider)
    seen = []
    job.wait_for_final_state(wait=1.0, callback=lambda *a, **k: seen.append(a[1]))
    assert sleeps and set(sleeps) == {1.0} and seen


@pytest.mark.parametrize("call", ["wait_for_final_state", "result"])
def test_a_job_that_ends_before_the_timeout_is_not_timed_out(frozen, call):
    # Was IBMQJobTimeoutError: the last poll was due when the time was up, and the deadline
    # that bounds the wait's requests refused to send it, so a job done 0.45 s into a 3 s
    # timeout (polled every 5 s) "timed out". Upstream looks once more and reports it.
    emu, provider, sleeps = frozen
    job = _submit(provider)
    emu.speed = 3600.0  # the job ends while the client sleeps
    getattr(job, call)(timeout=3)
    assert job.status() is JobStatus.DONE
    assert sleeps == [3]  # one poll, a sleep to the deadline, the last poll


def test_a_job_still_active_at_the_deadline_times_out_after_one_last_poll(frozen):
    emu, provider, sleeps = frozen
    job = _submit(provider)
    emu.speed = 0.1  # the job needs minutes
    emu.reset_stats()
    with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting for job"):
        job.wait_for_final_state(timeout=12)
    assert sleeps == [5, 5, 2]
    assert emu.stats()["job_status"] == 4


def test_timeout_zero_polls_once(frozen):
    emu, provider, sleeps = frozen
    job = _submit(provider)
    with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting for job"):
        job.wait_for_final_state(timeout=0)
    emu.advance(3600)
    job.wait_for_final_state(timeout=0)  # done by now: the one poll says so
    assert job.done() and sleeps == []
