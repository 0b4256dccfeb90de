"""Helpers for the retag/audit/report tests, and the child process of the retag kill test.

As a child: ``python retag_child.py ARCHIVE URL TOKEN OP_JSON`` connects to the emulator,
prints ``READY``, runs ``Archive.retag(every job, **OP, provider=...)`` and prints ``DONE``.
The parent kills it with SIGKILL at some point in between.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

BACKENDS = ("ibmq_athens", "ibmq_lima", "ibmq_qasm_simulator")


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_jobs(n: int, seed: int = 0, payloads: bool = True) -> list[dict[str, Any]]:
    """``n`` deterministic to_dict() records over ~2 years; DONE ones carry a real qobj and
    a BasicSimulator result of it (so reproduce audits match), others are ERROR/CANCELLED."""
    from qiskit import QuantumCircuit

    from jobarchive.qobj import qobj_from_circuits, simulate_qobj

    rng = random.Random(seed)
    start = datetime(2021, 1, 3, 9, 0, tzinfo=UTC)
    jobs = []
    for i in range(n):
        created = start + timedelta(days=rng.uniform(0, 700))
        queued = created + timedelta(seconds=rng.uniform(1, 30))
        running = queued + timedelta(seconds=rng.expovariate(1 / 600))
        ended = running + timedelta(seconds=rng.uniform(5, 120))
        status = rng.choice(["COMPLETED"] * 6 + ["ERROR_RUNNING_JOB", "CANCELLED"])
        steps = {"CREATING": _iso(created), "QUEUED": _iso(queued)}
        if status != "CANCELLED":
            steps["RUNNING"] = _iso(running)
        steps[status] = _iso(ended)
        record: dict[str, Any] = {
            "job_id": f"{seed:04x}{i:020x}",
            "creation_date": _iso(created),
            "status": status,
            "backend_name": rng.choice(BACKENDS),
            "kind": "q-object-external-storage",
            "name": f"bell-{i}",
            "tags": rng.sample(["exp1", "exp2", "calib", "ibmq_jobset_abc"], rng.randint(0, 3)),
            "time_per_step": steps,
            "share_level": "none",
            "client_info": {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"},
        }
        if status.startswith("ERROR"):
            record["error"] = {"code": 7001, "message": "Error running job"}
        if payloads and status == "COMPLETED":
            circuits = []
            for e in range(rng.randint(1, 2)):
                qc = QuantumCircuit(2, 2, name=f"bell{i}-{e}")
                qc.h(0)
                if rng.random() < 0.5:
                    qc.cx(0, 1)
                qc.measure([0, 1], [0, 1])
                circuits.append(qc)
            qobj = qobj_from_circuits(circuits, shots=256, qobj_id=f"q{i}")
            record["qobj"] = qobj
            record["result"] = simulate_qobj(qobj, seed=seed * 1000 + i, job_id=record["job_id"],
                                             backend_name=record["backend_name"],
                                             date=_iso(ended))
        jobs.append(record)
    return jobs


def main() -> None:
    import jobarchive
    from jobarchive import Archive

    path, url, token, op = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    provider = jobarchive.connect(url, token)
    arc = Archive(path, create=False)
    ids = list(arc.query(descending=False)["job_id"])
    print("READY", flush=True)
    arc.retag(ids, provider=provider, progress=False, lock_timeout=None, **op)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
