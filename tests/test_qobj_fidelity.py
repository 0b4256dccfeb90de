"""jobarchive.qobj against the qobjs real device jobs carried: what qiskit-terra's assemble
wrote, circuits_from_qobj reads back and simulate_qobj runs (the audit's reproduce)."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Delay

from jobarchive.qobj import circuits_from_qobj, qobj_from_circuits, simulate_qobj

pytestmark = pytest.mark.terra046


def _scheduled_qobj() -> dict:
    """A device job's qobj after scheduling (dynamical decoupling era, 2021-2022): terra's
    assemble writes each Delay as {"name": "delay", "params": [duration], "qubits": [q]},
    the duration in dt as the backend's scheduled circuits carry it."""
    return {
        "qobj_id": "dd-1", "schema_version": "1.3.0", "type": "QASM", "header": {},
        "config": {"shots": 256, "memory_slots": 2, "n_qubits": 2, "seed_simulator": 7},
        "experiments": [{
            "header": {"name": "dd", "n_qubits": 2, "memory_slots": 2,
                       "qreg_sizes": [["q", 2]], "creg_sizes": [["c", 2]]},
            "config": {"n_qubits": 2, "memory_slots": 2},
            "instructions": [
                {"name": "sx", "qubits": [0]},
                {"name": "delay", "params": [160], "qubits": [1]},
                {"name": "cx", "qubits": [0, 1]},
                {"name": "delay", "params": [2.5e-07], "qubits": [0]},
                {"name": "measure", "qubits": [0], "memory": [0]},
                {"name": "measure", "qubits": [1], "memory": [1]},
            ],
        }],
    }


def test_a_scheduled_device_qobj_with_delays_reads_and_reproduces():
    """circuits_from_qobj refused 'delay' (unsupported instruction), so the audit could not
    reproduce any job of a scheduled circuit; BasicSimulator runs a delay as an idle."""
    qobj = _scheduled_qobj()
    circuit = circuits_from_qobj(qobj)[0]
    delays = [(inst.operation, circuit.find_bit(inst.qubits[0]).index)
              for inst in circuit.data if inst.operation.name == "delay"]
    assert [(d.duration, d.unit, q) for d, q in delays] == [(160, "dt", 1), (2.5e-07, "s", 0)]
    assert all(isinstance(d, Delay) for d, _ in delays)
    ran = simulate_qobj(qobj)
    idle = _scheduled_qobj()
    idle["experiments"][0]["instructions"] = [
        i for i in idle["experiments"][0]["instructions"] if i["name"] != "delay"]
    assert ran["results"][0]["data"]["counts"] == simulate_qobj(idle)["results"][0]["data"]["counts"]


def test_delays_round_trip_through_a_qobj_as_terra_writes_them():
    qc = QuantumCircuit(2, 2, name="dd")
    qc.sx(0)
    qc.delay(160, 1)  # dt
    qc.cx(0, 1)
    qc.delay(2.5e-07, 0, unit="s")
    qc.measure([0, 1], [0, 1])
    qobj = qobj_from_circuits(qc, shots=256, qobj_id="dd-1", seed_simulator=7)
    ours = qobj["experiments"][0]["instructions"]
    assert ours == _scheduled_qobj()["experiments"][0]["instructions"]
    assert circuits_from_qobj(qobj)[0] == qc
    import qiskit

    if hasattr(qiskit, "assemble"):  # qiskit-terra 0.46: the qobj its assemble wrote
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = qiskit.assemble(qc, shots=256).to_dict()["experiments"][0]["instructions"]
        assert ours == theirs


@pytest.mark.parametrize("unit,duration,seconds", [("ns", 250, 2.5e-07), ("us", 1.5, 1.5e-06),
                                                   ("ms", 2, 2e-03)])
def test_a_delay_in_other_time_units_is_written_in_seconds(unit, duration, seconds):
    qc = QuantumCircuit(1, 1)
    qc.delay(duration, 0, unit=unit)
    qc.measure(0, 0)
    inst = qobj_from_circuits(qc)["experiments"][0]["instructions"][0]
    assert inst["name"] == "delay" and inst["qubits"] == [0]
    assert inst["params"] == [pytest.approx(seconds, rel=1e-12)]
    back = circuits_from_qobj(qobj_from_circuits(qc))[0].data[0].operation
    assert back.unit == "s" and back.duration == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("params", [[], [1, 2], ["100"], [-5], [float("inf")]])
def test_a_malformed_delay_is_refused_with_a_reason(params):
    qobj = _scheduled_qobj()
    qobj["experiments"][0]["instructions"][1]["params"] = params
    with pytest.raises(ValueError, match="instruction 1 \\(delay\\)"):
        circuits_from_qobj(qobj)


def test_a_delay_beside_a_gate_the_simulator_lacks_still_simulates():
    """terra 0.46's BasicSimulator knows neither delay nor cz: the circuit it is transpiled
    for must be the one without the delays."""
    qobj = _scheduled_qobj()
    qobj["experiments"][0]["instructions"][2] = {"name": "cz", "qubits": [0, 1]}
    counts = simulate_qobj(qobj)["results"][0]["data"]["counts"]
    assert sum(counts.values()) == 256
