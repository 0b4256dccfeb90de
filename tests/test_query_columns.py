"""query() columns of odd but valid jobs (the filters themselves are property-tested in
test_query.py against a plain Python filter and held up in this review)."""

from __future__ import annotations

import pandas as pd
import pytest
from qiskit import QuantumCircuit

from jobarchive.qobj import qobj_from_circuits, simulate_qobj


def test_num_experiments_of_an_error_job_with_a_partial_result(arc):
    """A job of 6 experiments that failed after 2 (ERROR_RUNNING_JOB with its partial result)
    is a 6-experiment job: query(...).num_experiments said 2, so a filter on the size of the
    jobs a user ran missed it."""
    circuits = []
    for i in range(6):
        qc = QuantumCircuit(2, 2, name=f"c{i}")
        qc.h(0)
        qc.measure([0, 1], [0, 1])
        circuits.append(qc)
    qobj = qobj_from_circuits(circuits, shots=100, qobj_id="six")
    partial = simulate_qobj(qobj, seed=1)
    partial["results"] = partial["results"][:2]
    partial["success"] = False
    arc.add({"job_id": "partial", "creation_date": "2021-01-01T00:00:00Z",
             "status": "ERROR_RUNNING_JOB", "backend_name": "ibmq_athens",
             "error": {"code": 7001, "message": "Error running job"},
             "qobj": qobj, "result": partial})
    row = arc.query().iloc[0]
    assert row["has_result"] and row["num_experiments"] == 6


def test_a_damaged_tags_value_is_none_with_a_warning_not_an_error_of_every_query(tmp_path):
    """One job's tags edited outside jobarchive (not a JSON list) made every query() of the
    archive, and the report, raise orjson's JSONDecodeError naming no job."""
    import sqlite3

    from retag_child import make_jobs

    from jobarchive import Archive

    path = tmp_path / "a.jobarchive"
    with Archive(path) as arc:
        arc.add_many(make_jobs(6, seed=2))
        want = arc.query()
    damaged = want["job_id"].iloc[0]
    with sqlite3.connect(path / "index.db") as conn:
        conn.execute("UPDATE jobs SET tags = ? WHERE job_id = ?", ('["a",', damaged))
        conn.execute("UPDATE jobs SET tags = ? WHERE job_id = ?", ('{"a": 1}',
                                                                   want["job_id"].iloc[1]))
    conn.close()
    with Archive(path) as arc:
        with pytest.warns(UserWarning, match=f"2 job.*tags.*{damaged}.*audit"):
            frame = arc.query()
        assert list(frame["job_id"]) == list(want["job_id"])
        assert frame["tags"].iloc[0] is None and frame["tags"].iloc[1] is None
        assert list(frame["tags"].iloc[2:]) == list(want["tags"].iloc[2:])
        with pytest.warns(UserWarning):
            arc.report(tmp_path / "r.html")
        assert "not a JSON list" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(("column", "value", "frame_column", "shown"), [
    ("creation_us", "yesterday", "creation_date", pd.NaT),
    ("shots", "many", "shots", pd.NA),
    ("num_experiments", "3 or 4", "num_experiments", pd.NA),
])
def test_a_value_of_the_wrong_type_in_the_index_is_na_with_a_warning(
        tmp_path, column, value, frame_column, shown):
    """An index value of the wrong type (edited outside jobarchive) made every query()
    raise numpy's or pyarrow's conversion error, naming no job."""
    import sqlite3

    from retag_child import make_jobs

    from jobarchive import Archive

    path = tmp_path / "a.jobarchive"
    with Archive(path) as arc:
        arc.add_many(make_jobs(5, seed=3))
        want = arc.query(descending=False)
    damaged = want["job_id"].iloc[-1]  # the newest: it stays last whatever its date now
    with sqlite3.connect(path / "index.db") as conn:
        conn.execute(f"UPDATE jobs SET {column} = ? WHERE job_id = ?", (value, damaged))
    conn.close()
    with Archive(path) as arc:
        with pytest.warns(UserWarning, match=f"1 job.*{frame_column.split('_date')[0]}.*"
                                             f"{damaged}.*audit"):
            frame = arc.query(job_tags=None).set_index("job_id")
        assert set(frame.index) == set(want["job_id"])
        assert frame.loc[damaged, frame_column] is shown
        others = want.set_index("job_id").drop(index=damaged)
        assert frame.drop(index=damaged)[frame_column].reindex(others.index).equals(
            others[frame_column])
        audit = arc.audit().set_index("job_id")  # as the warning says, the audit names it
        assert not audit.loc[damaged, "ok"] and column.split("_us")[0] in \
            audit.loc[damaged, "problem"]
        assert audit.drop(index=damaged)["ok"].all()
