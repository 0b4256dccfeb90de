"""A stored result that names another job of the archive (its ``job_id``) is that job's
result, whatever its fidelity: two runs of one circuit have one distribution. The audit told
them apart by ``qobj_id`` only, which clients often fix: IBMQClient.jl sent
"bell_Qobj_07272018" in 2021 and in 2024 (realdata/results_all.json). Results swapped
between two such jobs were both ok."""

from __future__ import annotations

import json

from audit_jobs import CLIENT, bell_qobj

from jobarchive.qobj import simulate_qobj

QOBJ = {**bell_qobj(1024), "qobj_id": "bell_Qobj_07272018"}


def _record(job_id: str, result: dict) -> dict:
    return {"job_id": job_id, "creation_date": "2021-05-04T11:35:02Z", "status": "COMPLETED",
            "backend_name": "ibmq_qasm_simulator", "kind": "q-object-external-storage",
            "client_info": CLIENT, "qobj": QOBJ, "result": result}


def test_a_result_naming_another_archived_job_is_flagged(arc, realdata):
    fixed = {e["result"]["qobj_id"] for e in json.loads((realdata / "results_all.json").read_text())
             if e["result"].get("job_id") != "Unknown"} & {"bell_Qobj_07272018"}
    assert fixed  # the fixed qobj_id this test stands for is one a real client sent
    first = simulate_qobj(QOBJ, seed=1, job_id="609131631355905234476870")
    second = simulate_qobj(QOBJ, seed=2, job_id="609131631355905234476871")
    assert first["qobj_id"] == second["qobj_id"] == "bell_Qobj_07272018"
    local = simulate_qobj(QOBJ, seed=3)  # a local run's result: a uuid no job of the archive has
    arc.add_many([_record("609131631355905234476870", second),
                  _record("609131631355905234476871", first),
                  _record("609131631355905234476872", local)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    for job_id, other in (("609131631355905234476870", "609131631355905234476871"),
                          ("609131631355905234476871", "609131631355905234476870")):
        row = frame.loc[job_id]
        # Not "flagged" (the re-run's verdict: its counts are as close as the circuit's).
        assert not row["ok"] and row["fidelity"] > 0.9, (row["fidelity"], row["notes"])
        assert f"job {other!r}" in row["problem"], row["problem"]
    assert frame.loc["609131631355905234476872", "ok"], frame.loc["609131631355905234476872",
                                                                  "problem"]
