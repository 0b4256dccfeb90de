"""IBMQBackend.run against reference §3.2 and qiskit-ibmq-provider 0.8-0.11, over the emulator."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import jobarchive
from jobarchive import IBMQBackendValueError
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


@pytest.fixture(scope="module")
def backend():
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        yield provider.get_backend("ibmq_qasm_simulator")


def _qobj() -> dict:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    return qobj_from_circuits(qc, shots=16)


@pytest.mark.parametrize(("given", "level"), [
    ("Hub", "hub"), ("PROJECT", "project"), ("Global", "global"), ("", "none"), (None, "none"),
])
def test_the_share_level_is_read_as_upstream_reads_it(backend, given, level):
    # Was IBMQBackendValueError for "Hub", "PROJECT" and "": upstream lower-cases the level
    # and takes an empty one as none, so scripts written for it ran with these.
    job = backend.run(_qobj(), job_share_level=given)
    assert job.share_level() == level
    job.refresh()  # what the server recorded
    assert job.to_dict()["share_level"] == level


@pytest.mark.parametrize("given", ["team", 3, ["hub"]])
def test_a_share_level_that_is_none_of_the_five_is_refused(backend, given):
    with pytest.raises(IBMQBackendValueError, match="is not a valid job share level. Valid job "
                       "share levels are: global, hub, group, project, none"):
        backend.run(_qobj(), job_share_level=given)
