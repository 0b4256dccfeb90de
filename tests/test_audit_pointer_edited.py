"""A job's index row edited to point at a payload row that is not its own (another job's,
a count row, a row past the end, an unknown blob), or deleted, or its doc, tags or
derived columns edited: the audit names the job and says what restores it (it said
"edited outside jobarchive?" at most), and get() must not hand out another job's result as
this one's."""

from __future__ import annotations

import sqlite3

import pytest
from audit_jobs import CLIENT, bell_qobj

from jobarchive.exceptions import BlobIntegrityError
from jobarchive.qobj import simulate_qobj

EDITS = {
    "another job's row": "UPDATE jobs SET blob_row = (SELECT blob_row FROM jobs WHERE job_id = "
                         "'job1') WHERE job_id = 'job0'",
    "a count row": "UPDATE jobs SET blob_row = blob_row + 1 WHERE job_id = 'job0'",
    "past the end": "UPDATE jobs SET blob_row = 10000 WHERE job_id = 'job0'",
    "an unknown blob": "UPDATE jobs SET blob_id = 99 WHERE job_id = 'job0'",
    "no blob": "UPDATE jobs SET blob_id = NULL, blob_row = NULL WHERE job_id = 'job0'",
    "row deleted": "DELETE FROM jobs WHERE job_id = 'job0'",
    "doc not JSON": "UPDATE jobs SET doc = '{' WHERE job_id = 'job0'",
    "doc of another job": "UPDATE jobs SET doc = (SELECT doc FROM jobs WHERE job_id = 'job1') "
                          "WHERE job_id = 'job0'",
    "name edited": "UPDATE jobs SET name = 'renamed' WHERE job_id = 'job0'",
    "tag rows deleted": "DELETE FROM job_tags WHERE job_id = 'job0'",
    "tags not JSON": "UPDATE jobs SET tags = '{' WHERE job_id = 'job0'",
}
PAYLOAD_EDITS = {
    "shots": "UPDATE jobs SET shots = 7 WHERE job_id = 'job0'",
    "has_result": "UPDATE jobs SET has_result = 0 WHERE job_id = 'job0'",
    "both flags": "UPDATE jobs SET has_result = 0, has_qobj = 0 WHERE job_id = 'job0'",
}


def _record(i: int) -> dict:
    qobj = bell_qobj(100 + i)
    return {"job_id": f"job{i}", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
            "backend_name": "ibmq_qasm_simulator", "kind": "q-object-external-storage",
            "client_info": CLIENT, "qobj": qobj, "result": simulate_qobj(qobj, seed=i),
            "tags": ["t"]}


def _edit(arc, sql):
    db = sqlite3.connect(arc.path / "index.db")
    with db:
        db.execute(sql)
    db.close()


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_the_audit_names_the_job_and_says_what_restores_it(arc, edit):
    arc.add_many([_record(i) for i in range(3)])
    _edit(arc, edit)
    frame = arc.audit(progress=False).set_index("job_id")
    assert frame["ok"].to_dict() == {"job0": False, "job1": True, "job2": True}, \
        frame["problem"].to_dict()
    assert "restore index.db from a backup" in frame.loc["job0", "problem"], \
        frame.loc["job0", "problem"]


@pytest.mark.parametrize("edit", PAYLOAD_EDITS.values(), ids=PAYLOAD_EDITS.keys())
def test_payload_columns_edited_are_restored_as_the_audit_says(arc, edit):
    arc.add_many([_record(i) for i in range(3)])
    _edit(arc, edit)
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame["ok"].to_dict() == {"job0": False, "job1": True, "job2": True}, \
        frame["problem"].to_dict()
    assert "audit(repair=True, reproduce=True)" in frame.loc["job0", "problem"], \
        frame.loc["job0", "problem"]
    arc.audit(repair=True, reproduce=True, progress=False)
    assert arc.audit(reproduce=True, progress=False)["ok"].all()


def test_get_does_not_give_another_jobs_result(arc):
    arc.add_many([_record(i) for i in range(3)])
    _edit(arc, EDITS["another job's row"])
    try:
        result = arc.get("job0").result().to_dict()
    except BlobIntegrityError:
        return
    assert result["results"][0]["shots"] == 100, "job1's result (101 shots) given as job0's"
