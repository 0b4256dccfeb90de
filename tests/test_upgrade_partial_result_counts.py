"""num_experiments that versions before 66c39d9 (and 763f3ab) wrote from a partial result
is brought to what this version writes by audit(repair=True, reproduce=True).

Those versions counted a failed job's finished experiments (2 of its qobj's 6), and a job
whose qobj and partial result came in two writes (as a sync stores them) the count of the
result (2 where the qobj has 5). Every archive written before 25 Nov 04:22 holds such
rows; they stay as they were through the upgrade (no migration reads payloads), so one
archive answered 2 for its old failed jobs and 6 for the same job written now. The audit
skipped them on purpose (they are not edits), so no audit or repair could ever set them.
The old code is the project's own history, run in a real process (test_old_writer's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import test_old_writer

from jobarchive import Archive

old_code = test_old_writer.old_code  # the fixture: the project's code at a commit
REV = "f729e4e"  # before 66c39d9 and 763f3ab


def qobj(n: int) -> dict:
    return {"qobj_id": "q", "config": {"shots": 512, "memory_slots": 1},
            "experiments": [{"header": {"name": f"c{i}"},
                             "instructions": [{"name": "measure", "qubits": [0], "memory": [0]}]}
                            for i in range(n)]}


def result(n: int, shots: int) -> dict:
    return {"qobj_id": "q", "success": False,
            "results": [{"shots": shots, "success": True, "data": {"counts": {"0x0": shots}},
                         "header": {"name": f"c{i}", "memory_slots": 1}} for i in range(n)]}


def job(i: int, **extra) -> dict:
    return {"job_id": f"job{i}", "creation_date": "2021-03-01T10:00:00Z", "status": "COMPLETED",
            "backend_name": "ibmq_qasm_simulator", "share_level": "none", "tags": [],
            "client_info": {"name": "qiskit", "version": "0.23.0"}, **extra}


BATCHES = [
    [job(1, status="ERROR_RUNNING_JOB", qobj=qobj(6), result=result(2, 512)),  # failed at the 3rd
     job(2, status="ERROR_RUNNING_JOB", qobj=qobj(5), result=None),  # its qobj first...
     job(3, qobj=qobj(3), result=result(3, 512))],  # whole: as any version writes it
    [job(2, status="ERROR_RUNNING_JOB", qobj=None, result=result(2, 1024))],  # ... its partial result later
]
COLUMNS = ["job_id", "num_experiments", "shots", "has_result"]


def columns(arc: Archive) -> list[list]:
    return arc.query(limit=None, descending=False)[COLUMNS].astype(object).values.tolist()


def test_repair_sets_the_experiments_old_versions_counted_from_a_partial_result(tmp_path: Path, old_code):
    path = tmp_path / "old"
    code = ("import json, sys\nfrom jobarchive import Archive\narc = Archive(sys.argv[1])\n"
            "for batch in json.loads(sys.argv[2]):\n    arc.add_many(batch)\narc.close()\n")
    old = old_code(REV)
    subprocess.run([sys.executable, "-c", code, str(path), json.dumps(BATCHES)], check=True,
                   env=dict(os.environ, PYTHONPATH=str(old)), cwd=old)
    with Archive(tmp_path / "new") as new:
        for batch in BATCHES:
            new.add_many(batch)
        want = columns(new)
    assert [row[1] for row in want] == [6, 5, 3]
    with Archive(path, create=False) as arc:
        assert [row[1] for row in columns(arc)] == [2, 2, 3]  # as the old code wrote them
        frame = arc.audit(reproduce=True)
        assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")  # not an edit
        notes = dict(zip(frame["job_id"], frame["notes"], strict=True))
        assert "num_experiments is 2" in notes["job1"] and "66c39d9" in notes["job1"]
        assert "num_experiments" not in notes["job3"]
        assert columns(arc)[0][1] == 2  # an audit without repair changes nothing

        repaired = arc.audit(reproduce=True, repair=True)
        assert repaired["ok"].all()
        assert columns(arc) == want
        again = arc.audit(reproduce=True)
        assert again["ok"].all() and not again["notes"].str.contains("num_experiments").any()
