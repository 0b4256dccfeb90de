"""A stored histogram with an outcome its circuit cannot measure (0x4 from 2 memory slots)
is not a record of this run, whatever the fidelity: a device job's re-run is compared with a
limit of 0.5 (its noise), so a few hundred shots of such outcomes passed as ok."""

from __future__ import annotations

from audit_jobs import CLIENT, bell_qobj

from jobarchive.qobj import simulate_qobj


def _device_job(job_id: str, moved: int) -> dict:
    qobj = bell_qobj(1000)
    result = simulate_qobj(qobj, seed=3, job_id=job_id)
    counts = result["results"][0]["data"]["counts"]
    counts["0x0"] -= moved
    if moved:
        counts["0x4"] = moved  # a third bit, from a circuit of two
    return {"job_id": job_id, "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
            "backend_name": "ibmq_lima", "kind": "q-object-external-storage",
            "client_info": CLIENT, "qobj": qobj, "result": result}


def test_an_outcome_beyond_the_memory_slots_is_flagged(arc):
    arc.add_many([_device_job("intact", 0), _device_job("wider", 120)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"], frame.loc["intact", "problem"]
    row = frame.loc["wider"]
    assert row["flagged"] and not row["ok"], (row["fidelity"], row["notes"])
    assert "0x4" in row["problem"] and "2 memory slots" in row["problem"], row["problem"]
