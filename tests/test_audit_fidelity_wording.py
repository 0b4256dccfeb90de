"""A simulator job one shot away from its exact re-run (threshold 1.0 asks for exact
reproduction) was flagged as 'Hellinger fidelity 1.0000 < threshold 1.0': the number shown
must read below the limit it failed."""

from __future__ import annotations

import re

from audit_jobs import CLIENT, bell_qobj

from jobarchive.qobj import simulate_qobj


def test_a_fidelity_just_below_the_threshold_reads_below_it(arc):
    qobj = bell_qobj(4096)
    result = simulate_qobj(qobj, seed=11)
    counts = result["results"][0]["data"]["counts"]
    counts["0x0"] -= 1
    counts["0x3"] += 1  # one shot moved: still a Bell histogram of 4096 shots
    arc.add({"job_id": "one-shot-off", "creation_date": "2021-01-01T00:00:00Z",
             "status": "COMPLETED", "backend_name": "ibmq_qasm_simulator",
             "kind": "q-object-external-storage", "client_info": CLIENT, "qobj": qobj,
             "result": result})
    row = arc.audit(reproduce=True, threshold=1.0, progress=False).iloc[0]
    assert row["flagged"], row["notes"]
    shown = float(re.search(r"Hellinger fidelity ([0-9.]+) <", row["problem"]).group(1))
    assert shown < 1.0, row["problem"]
