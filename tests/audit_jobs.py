"""What the audit tests share: a Bell-state qobj and the client that ran it."""

from __future__ import annotations

from qiskit import QuantumCircuit

from jobarchive.qobj import qobj_from_circuits

CLIENT = {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"}


def bell_qobj(shots: int = 1000, circuits: int = 1) -> dict:
    """A qobj of ``circuits`` Bell-state experiments."""
    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits([qc] * circuits, shots=shots, qobj_id="bell")
