"""Is the stored result this job's? A result names the qobj it ran (``qobj_id``); two jobs
of the same circuit have the same distribution, so only that name tells their results apart."""

from __future__ import annotations

from qiskit import QuantumCircuit

from jobarchive.qobj import qobj_from_circuits, simulate_qobj

CLIENT = {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"}


def _bell(qobj_id: str) -> dict:
    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits([qc], shots=1000, qobj_id=qobj_id)


def _record(job_id: str, qobj: dict, result: dict) -> dict:
    return {"job_id": job_id, "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
            "backend_name": "ibmq_qasm_simulator", "kind": "q-object-external-storage",
            "client_info": CLIENT, "qobj": qobj, "result": result}


def test_results_swapped_between_runs_of_one_circuit_are_flagged(arc):
    """Results of two Bell runs stored under each other's job: same distribution, so the
    fidelity was about 1 and both were ok."""
    first, second = _bell("run-1"), _bell("run-2")
    first_result, second_result = simulate_qobj(first, seed=1), simulate_qobj(second, seed=2)
    unnamed = _bell("")
    arc.add_many([_record("a", first, second_result), _record("b", second, first_result),
                  _record("c", first, simulate_qobj(first, seed=3)),
                  _record("d", unnamed, simulate_qobj(unnamed, seed=4))])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    for job_id, ran, held in (("a", "run-1", "run-2"), ("b", "run-2", "run-1")):
        row = frame.loc[job_id]
        assert row["flagged"] and not row["ok"], row["notes"]
        assert f"qobj {held!r}" in row["problem"] and repr(ran) in row["problem"], row["problem"]
    assert frame.loc["c", "ok"] and frame.loc["d", "ok"], frame["problem"].to_dict()
