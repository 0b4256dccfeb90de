"""Audit as a user relies on it: an edited index row is found, healthy archives stay clean."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli as cli_main


def _job(i: int, tags: list[str] | None = None) -> dict:
    return {"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": tags or [],
            "name": f"run-{i}", "share_level": "project", "run_mode": "fairshare",
            "client_info": {"name": "qiskit-terra,qiskit-ibmq-provider",
                            "version": "0.16.1,0.11.1"},
            "result": {"results": [{"shots": 10, "data": {"counts": {hex(i): 10}}}]},
            "qobj": {"qobj_id": f"q{i}", "experiments": []}}


def _sql(path, sql: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(path / "index.db")
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def _doc(path, job_id: str) -> dict:
    conn = sqlite3.connect(path / "index.db")
    (doc,), = conn.execute("SELECT doc FROM jobs WHERE job_id = ?", (job_id,)).fetchall()
    conn.close()
    return json.loads(doc)


@pytest.fixture
def pair(tmp_path):
    arc = Archive(tmp_path / "pair")
    arc.add_many([_job(0, ["t", "ü"]), _job(1, ["t"])])
    yield arc
    arc.close()


@pytest.mark.parametrize("column, value", [
    ("backend_name", "ibmq_tampered"), ("status", "ERROR"), ("api_status", "ERROR_RUNNING_JOB"),
    ("creation_us", 0), ("name", "renamed"), ("share_level", "global"),
    ("client_version", "qiskit==9.9"), ("final", 0), ("kind", "q-object"),
])
def test_an_edited_index_column_is_found(pair, column, value):
    """Queries read the columns, get() reads the doc: a row edited behind the archive's
    back (the doc says one thing, the filters find another) is tampering the audit reports."""
    _sql(pair.path, f"UPDATE jobs SET {column} = ? WHERE job_id = 'job00000000'", (value,))
    frame = pair.audit(verify=True).set_index("job_id")
    assert not frame.loc["job00000000", "ok"]
    assert column in frame.loc["job00000000", "problem"], frame.loc["job00000000", "problem"]
    assert frame.loc["job00000001", "ok"]
    assert frame.attrs["summary"]["problems"] == 1


@pytest.mark.parametrize("key, value, column", [
    ("backend_name", "ibmq_elsewhere", "backend_name"),
    ("status", "CANCELLED", "status"),
    ("tags", ["t"], "tags"),
    ("creation_date", "2019-05-05T00:00:00.000000Z", "creation_us"),
])
def test_an_edited_doc_is_found(pair, key, value, column):
    doc = _doc(pair.path, "job00000000")
    doc[key] = value
    _sql(pair.path, "UPDATE jobs SET doc = ? WHERE job_id = 'job00000000'",
         (json.dumps(doc).encode(),))
    frame = pair.audit(verify=True).set_index("job_id")
    assert not frame.loc["job00000000", "ok"]
    assert column in frame.loc["job00000000", "problem"], frame.loc["job00000000", "problem"]
    assert frame.loc["job00000001", "ok"]


def test_a_doc_that_is_no_record_is_found(pair):
    doc = _doc(pair.path, "job00000000")
    doc["status"] = "NOT_A_STATUS"
    _sql(pair.path, "UPDATE jobs SET doc = ? WHERE job_id = 'job00000000'",
         (json.dumps(doc).encode(),))
    frame = pair.audit(verify=True).set_index("job_id")
    assert not frame.loc["job00000000", "ok"]
    assert frame.loc["job00000001", "ok"]


def test_edited_row_through_the_cli_exits_3(pair):
    _sql(pair.path, "UPDATE jobs SET backend_name = 'x' WHERE job_id = 'job00000001'")
    res = CliRunner().invoke(cli_main, ["--archive", str(pair.path), "audit"])
    assert res.exit_code == 3, res.output
    assert "job00000001" in res.output and "backend_name" in res.output


def test_updates_retags_and_real_documents_raise_no_alarm(tmp_path, real_corpus):
    """Every way the archive itself writes rows keeps columns and doc in step."""
    from jobarchive import IBMQJob

    jobs = []
    for entry in real_corpus:
        try:
            jobs.append(IBMQJob.from_server(entry["document"]))
        except ValueError:
            continue  # anonymised placeholders the archive refuses
    with Archive(tmp_path / "real") as arc:
        arc.add_many(jobs)
        arc.add_many([_job(i, ["a"]) for i in range(5)])
        update = _job(2, ["b"])
        update["status"] = "ERROR_RUNNING_JOB"  # a final snapshot replaces a final one
        arc.add(update)
        with pytest.warns(UserWarning, match="2 of the jobs retagged locally are still running"):
            arc.retag(list(arc.query()["job_id"]), additional_tags=["r-ü"], removal_tags=["a"],
                      progress=False)
        frame = arc.audit(verify=True)
        assert frame["ok"].all(), frame.loc[~frame["ok"], ["job_id", "problem"]].head()


def test_a_row_whose_payload_flags_were_cleared_is_found(pair):
    """has_result/has_qobj set to 0 on a job whose blob row holds its payloads: queries say
    "no result" while get() returns one; the audit called it "DONE without result"."""
    _sql(pair.path, "UPDATE jobs SET has_result = 0, has_qobj = 0 WHERE job_id = 'job00000000'")
    frame = pair.audit(verify=False).set_index("job_id")
    assert not frame.loc["job00000000", "ok"]
    assert "has_result" in frame.loc["job00000000", "problem"]
    assert frame.loc["job00000001", "ok"]


def test_identical_histograms_have_fidelity_exactly_one():
    """`audit --reproduce --threshold 1.0` asks for exact reproduction (simulator jobs with
    their seed): an identical histogram must not come out at 0.9999999999999998 and be
    flagged (one identical histogram in six did)."""
    import random

    from jobarchive.audit import hellinger_fidelity

    rng = random.Random(5)
    for _ in range(500):
        p = {k: rng.randint(1, 5000) for k in range(rng.randint(1, 16))}
        assert hellinger_fidelity(p, dict(p)) == 1.0
        scaled = {k: 3 * v for k, v in p.items()}  # same distribution, more shots
        assert hellinger_fidelity(p, scaled) == 1.0
    assert hellinger_fidelity({0: 1, 1: 1}, {0: 1, 1: 2}) < 1.0


def test_a_deleted_job_row_is_found_from_its_payloads(pair):
    """Deleting a job's row (to hide a failed run) left no trace the audit looked at: its
    result and qobj are still in a blob the archive holds. The audit reports the job."""
    _sql(pair.path, "DELETE FROM jobs WHERE job_id = 'job00000000'")
    _sql(pair.path, "DELETE FROM job_tags WHERE job_id = 'job00000000'")
    frame = pair.audit(verify=True).set_index("job_id")
    assert "job00000000" in frame.index
    assert not frame.loc["job00000000", "ok"]
    assert "no row" in frame.loc["job00000000", "problem"]
    assert frame.loc["job00000001", "ok"]
    assert frame.attrs["summary"]["problems"] == 1
    res = CliRunner().invoke(cli_main, ["--archive", str(pair.path), "audit"])
    assert res.exit_code == 3 and "job00000000" in res.output
