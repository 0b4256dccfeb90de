"""audit(reproduce=True) of results that keep per-shot memory: meas_level 2 memory (with or
without counts) and meas_level 1 IQ data. Each is checked, never passed unread."""

from __future__ import annotations

import copy
import math

from qiskit import QuantumCircuit

from jobarchive.qobj import qobj_from_circuits, simulate_qobj

CLIENT = {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"}
SHOTS = 200


def _bell_memory() -> dict:
    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits([qc], shots=SHOTS, qobj_id="bell", memory=True)


def _record(job_id: str, qobj: dict, result: dict, backend: str = "ibmq_qasm_simulator") -> dict:
    return {"job_id": job_id, "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
            "backend_name": backend, "kind": "q-object-external-storage",
            "client_info": CLIENT, "qobj": qobj, "result": result}


def _memory_only(result: dict, memory: list | None = None) -> dict:
    out = copy.deepcopy(result)
    data = out["results"][0]["data"]
    del data["counts"]
    if memory is not None:
        data["memory"] = memory
    return out


def test_memory_only_results_are_reproduced_and_forged_ones_flagged(arc):
    """A meas_level 2 result holding only per-shot memory (no counts) was 'no stored counts
    to compare' and ok, whatever its memory said: a forged one passed the audit."""
    qobj = _bell_memory()
    result = simulate_qobj(qobj, seed=3)
    assert len(result["results"][0]["data"]["memory"]) == SHOTS
    arc.add_many([
        _record("intact", qobj, _memory_only(result)),
        _record("forged", qobj, _memory_only(result, ["0x1"] * SHOTS)),
        _record("truncated", qobj, _memory_only(result, result["results"][0]["data"]["memory"][:-7])),
    ])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"] and frame.loc["intact", "fidelity"] == 1.0, \
        frame.loc["intact", "notes"]
    assert frame.attrs["summary"]["reproduced"] >= 2
    forged = frame.loc["forged"]
    assert forged["flagged"] and not forged["ok"] and "reproduced counts differ" in forged["problem"]
    truncated = frame.loc["truncated"]
    assert truncated["flagged"] and not truncated["ok"]
    assert f"{SHOTS - 7} memory entries, but it ran {SHOTS} shots" in truncated["problem"]


def test_counts_that_disagree_with_their_memory_are_flagged(arc):
    """Counts edited to another histogram of the same total (so the shots check holds) next
    to the memory the run recorded: the two records of one run must agree."""
    qobj = _bell_memory()
    result = simulate_qobj(qobj, seed=3)
    edited = copy.deepcopy(result)
    counts = edited["results"][0]["data"]["counts"]
    counts["0x0"], counts["0x3"] = counts["0x0"] + 5, counts["0x3"] - 5
    arc.add_many([_record("intact", qobj, result), _record("edited", qobj, edited)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"] and frame.loc["intact", "fidelity"] == 1.0
    row = frame.loc["edited"]
    assert row["flagged"] and not row["ok"]
    assert "disagree with its per-shot memory" in row["problem"]


def _iq_result(qobj: dict, shots: int = SHOTS, single: bool = True) -> dict:
    result = simulate_qobj(qobj, seed=3)
    exp = result["results"][0]
    exp["meas_level"] = 1
    exp["meas_return"] = "single" if single else "avg"
    if single:
        memory = [[[0.1 * i, -0.2 * i], [1.5, 2.0 + i]] for i in range(shots)]
    else:
        memory = [[0.25, -0.5], [1.5, 2.0]]
    exp["data"] = {"memory": memory}
    return result


def test_iq_results_are_checked_for_shape_and_said_to_be_unreproduced(arc):
    """meas_level 1 (IQ) data cannot be compared with an ideal re-run (it has no outcomes),
    but a damaged one (shots dropped, a value that is no number, a shot
    missing a slot) passed as ok with only
    'no stored counts to compare'. Its shape is checked against the shots and memory slots,
    and an intact one says why it was not reproduced."""
    qobj = _bell_memory()
    intact, average = _iq_result(qobj), _iq_result(qobj, single=False)
    dropped = _iq_result(qobj, shots=SHOTS - 1)
    garbled = copy.deepcopy(intact)
    garbled["results"][0]["data"]["memory"][5][1] = [1.5, "x"]
    ragged = copy.deepcopy(intact)
    ragged["results"][0]["data"]["memory"][3] = [[1.0, 2.0]]
    arc.add_many([_record(job_id, qobj, result, backend="ibmq_athens") for job_id, result in (
        ("intact", intact), ("average", average), ("dropped", dropped),
        ("garbled", garbled), ("ragged", ragged))])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    for job_id in ("intact", "average"):
        row = frame.loc[job_id]
        assert row["ok"] and not row["flagged"], row["problem"]
        assert math.isnan(row["fidelity"])
        assert "not reproduced" in row["notes"] and "meas_level 1" in row["notes"], row["notes"]
    assert f"{SHOTS - 1} memory entries, but it ran {SHOTS} shots" in frame.loc["dropped", "problem"]
    for job_id in ("garbled", "ragged"):
        row = frame.loc[job_id]
        assert not row["ok"] and row["flagged"], (job_id, row["notes"])
        assert "IQ" in row["problem"], row["problem"]
