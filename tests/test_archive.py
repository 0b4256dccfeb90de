"""The Archive facade: updates and their events, the index layout, integrity audits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from jobarchive import Archive, IBMQJob, JobStatus
from jobarchive.exceptions import BlobIntegrityError


def _job(job_id="j1", **extra) -> dict:
    rec = {"job_id": job_id, "creation_date": "2021-05-04T11:34:58.965Z", "status": "RUNNING",
           "name": "first", "tags": ["a"], "kind": "q-object-external-storage"}
    rec.update(extra)
    return rec


RESULT = {"backend_name": "b", "backend_version": "1", "qobj_id": "q", "job_id": "j1", "success": True,
          "results": [{"shots": 10, "success": True, "data": {"counts": {"0x0": 4, "0x1": 6}}}]}


def test_re_adding_updates_and_records_events(arc):
    arc.add(_job())
    arc.add(_job(status="COMPLETED", name="second", tags=["a", "b"], result=RESULT))
    job = arc.get("j1")
    assert job.status() is JobStatus.DONE and job.name() == "second" and job.tags() == ["a", "b"]
    history = arc.history("j1")
    assert list(history["kind"]) == ["status", "tags", "name"]
    assert list(history["old"]) == ["RUNNING", '["a"]', "first"]
    assert list(history["new"]) == ["COMPLETED", '["a","b"]', "second"]
    assert (history["source"] == "local").all() and history["who"].str.contains("@").all()
    assert isinstance(history["at"].dtype, pd.DatetimeTZDtype)
    assert list(arc.query(job_tags=["b"])["job_id"]) == ["j1"]
    # A stale (non-final) snapshot arriving later never replaces the final job...
    arc.add(_job(status="RUNNING", name="stale"))
    assert arc.get("j1").name() == "second" and len(arc.history("j1")) == 3
    # ...and an update without payloads keeps the stored result.
    arc.add(_job(status="COMPLETED", name="third", tags=["c"]))
    assert arc.get("j1").to_dict()["result"] == RESULT and arc.get("j1").tags() == ["c"]
    assert list(arc.query(job_tags=["a", "b"])["job_id"]) == []
    assert list(arc.counts("j1")["count"]) == [4, 6]


def test_one_add_many_with_repeated_ids_equals_adding_one_by_one(tmp_path):
    """Snapshots of the same job in one call: the same records, payloads and events as
    adding them in turn (a batch used to keep only the last one, dropping its payloads)."""
    snapshots = [_job(), _job("j2", qobj={"qobj_id": "q2"}),
                 _job(status="COMPLETED", name="second", tags=["a", "b"], result=RESULT),
                 _job("j2", status="COMPLETED", result=dict(RESULT, job_id="j2")),
                 _job(status="RUNNING", name="stale"), _job(status="COMPLETED", name="third", tags=["c"])]
    one_by_one, at_once = Archive(tmp_path / "one"), Archive(tmp_path / "all")
    for snapshot in snapshots:
        one_by_one.add(snapshot)
    at_once.add_many(snapshots)
    for job_id in ("j1", "j2"):
        assert at_once.record(job_id) == one_by_one.record(job_id)
        columns = ["kind", "old", "new"]
        assert at_once.history(job_id)[columns].equals(one_by_one.history(job_id)[columns])
    assert at_once.record("j1")["result"] == RESULT and at_once.record("j2")["qobj"] == {"qobj_id": "q2"}
    assert list(at_once.history("j1")["kind"]) == ["status", "tags", "name", "tags", "name"]
    assert at_once.audit()["ok"].all()


def test_add_accepts_jobs_dicts_and_to_dict_objects(arc):
    class Wrapper:
        def to_dict(self):
            return _job("w1")

    arc.add(IBMQJob.from_dict(_job("i1")))
    arc.add(_job("d1"))
    arc.add(Wrapper())
    assert arc.add_many(iter([_job("g1"), _job("g2")])) == 2  # any iterable
    assert len(arc) == 5 and all(j in arc for j in ("i1", "d1", "w1", "g1", "g2"))


def test_index_layout(arc):
    arc.add(_job())
    conn = sqlite3.connect(arc.path / "index.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"jobs", "job_tags", "events", "blobs", "_sqlite_migrations"} <= tables
        indexed = {r[0] for r in conn.execute(
            "SELECT ii.name FROM sqlite_master m, pragma_index_info(m.name) ii "
            "WHERE m.type='index' AND m.tbl_name='jobs'")}
        assert {"creation_us", "share_level", "status", "backend_name", "run_mode"} <= indexed
        assert conn.execute("SELECT name FROM _sqlite_migrations").fetchall() == [
            ("m001_initial",), ("m002_jobs_by_blob",), ("m003_query_plans",), ("m004_effective_share_level",),
            ("m005_client_without_version",), ("m006_experiments_of_v1_documents",), ("m007_exact_big_ints",),
            ("m008_v1_jobs",), ("m009_jobs_by_blob_covering",)]
    finally:
        conn.close()


def _as_before(path, migration: str, change: str) -> None:
    """Make an archive look as a version before ``migration`` wrote it."""
    conn = sqlite3.connect(path / "index.db")
    with conn:
        conn.execute(change)
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (migration,))
    conn.close()


def test_jobs_without_a_share_level_are_found_as_none(tmp_path):
    """The server often sends no shareLevel (no recorded document has one); IBMQJob answers
    "none" for it, and so does the index, also in archives written before that rule."""
    doc = {"id": "s1", "creationDate": "2021-05-04T11:34:58.965Z", "status": "COMPLETED",
           "kind": "q-object-external-storage", "backend": {"name": "ibmq_athens"}}
    job = IBMQJob.from_server(doc)
    assert job.to_dict()["share_level"] is None and job.share_level() == "none"
    with Archive(tmp_path / "a") as arc:
        arc.add(job)
        assert list(arc.query(share_level="none")["job_id"]) == ["s1"]
        assert arc.get("s1").to_dict() == job.to_dict()  # the record keeps what was sent
    _as_before(tmp_path / "a", "m004_effective_share_level", "UPDATE jobs SET share_level = NULL")
    with Archive(tmp_path / "a") as arc:
        assert list(arc.query(share_level="none")["share_level"]) == ["none"]


def test_a_client_without_a_version_reads_as_its_name(tmp_path):
    """A null version (IBMQClient.jl sends one) is left out of the client_version column,
    also in archives written before that rule; a version string "None" is kept."""
    jobs = [_job("n1", client_info={"name": "IBMQClient.jl", "version": None}),
            _job("n2", client_info={"name": "odd-client", "version": "None"})]
    with Archive(tmp_path / "a") as arc:
        arc.add_many(jobs)
        assert dict(arc.query()[["job_id", "client_version"]].values) == {
            "n1": "IBMQClient.jl", "n2": "odd-client==None"}
    _as_before(tmp_path / "a", "m005_client_without_version",
               "UPDATE jobs SET client_version = 'IBMQClient.jl==None' WHERE job_id = 'n1'")
    with Archive(tmp_path / "a") as arc:
        assert dict(arc.query()[["job_id", "client_version"]].values) == {
            "n1": "IBMQClient.jl", "n2": "odd-client==None"}


def test_v1_documents_count_their_qasms_as_experiments(tmp_path, real_corpus):
    """v1 documents (6 recorded ones with real dates, 2018-2019) list their circuits in "qasms";
    archives written before that rule are mended when opened."""
    docs = [e["document"] for e in real_corpus if isinstance(e["document"].get("qasms"), list)
            and e["document"]["qasms"] and "dummy" not in str(e["document"].get("creationDate"))]
    assert len(docs) >= 5
    jobs = [IBMQJob.from_server(d) for d in docs[:50]]
    want = {j.job_id(): len(j.to_dict()["qasms"]) for j in jobs}
    with Archive(tmp_path / "a") as arc:
        arc.add_many(jobs)
        assert dict(arc.query()[["job_id", "num_experiments"]].values) == want
    _as_before(tmp_path / "a", "m006_experiments_of_v1_documents", "UPDATE jobs SET num_experiments = NULL")
    with Archive(tmp_path / "a") as arc:
        assert dict(arc.query()[["job_id", "num_experiments"]].values) == want


def test_counts_accepts_ids_a_frame_or_everything(arc):
    arc.add_many([_job("j1", status="COMPLETED", result=RESULT),
                  _job("j2", status="COMPLETED", result=dict(RESULT, job_id="j2")), _job("j3")])
    frame = arc.query(status="DONE")
    assert list(frame["job_id"]) == ["j2", "j1"]  # same date: job_id breaks the tie
    assert list(arc.counts(frame)["job_id"]) == ["j2", "j2", "j1", "j1"]
    assert list(arc.counts(["j2", "j1"])["job_id"]) == ["j2", "j2", "j1", "j1"]  # in the order asked
    assert len(arc.counts()) == 4 and arc.counts(["j3"]).empty
    assert list(arc.counts("j1").columns) == ["job_id", "experiment", "bitstring", "count", "key"]


def _one_blob(arc):
    (_, path, _, _, _), = arc.index.blobs()
    return arc.path / path


def test_audit_finds_missing_altered_and_truncated_blobs(arc):
    arc.add_many([_job("j1", status="COMPLETED", result=RESULT), _job("j2")])
    assert arc.audit()["ok"].all()
    blob = _one_blob(arc)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))  # same size, different bytes
    frame = arc.audit().set_index("job_id")
    assert not frame.loc["j1", "ok"] and "SHA-256" in frame.loc["j1", "problem"]
    assert frame.loc["j2", "ok"]  # no blob, nothing to check
    assert arc.audit(verify=False).set_index("job_id").loc["j1", "ok"]  # size-only check passes
    blob.write_bytes(bytes(data[:100]))
    assert "truncated" in arc.audit(verify=False).set_index("job_id").loc["j1", "problem"]
    blob.unlink()
    frame = arc.audit()
    assert "missing" in frame.set_index("job_id").loc["j1", "problem"]
    assert frame.attrs["summary"]["problems"] == 1



def test_counts_of_a_lost_blob_name_its_jobs_and_the_fix_or_skip_them(arc):
    """One lost blob file must not hide every other histogram: the error names the file,
    its jobs and the way out; missing="skip" returns the rest and says what it left out."""
    arc.add(_job("j1", status="COMPLETED", result=RESULT))
    lost = _one_blob(arc)
    arc.add_many([_job("j2", status="COMPLETED", result=dict(RESULT, job_id="j2")),
                  _job("j3", status="COMPLETED", result=dict(RESULT, job_id="j3"))])
    lost.unlink()
    for selection in (None, ["j2", "j1", "j3"]):
        with pytest.raises(BlobIntegrityError, match=r"missing.*1 job \(j1\).*audit.*missing='skip'"):
            arc.counts(selection)
    with pytest.warns(UserWarning, match=r"left out the counts of 1 job \(j1\)"):
        frame = arc.counts(["j2", "j1", "j3"], missing="skip")
    assert list(frame["job_id"]) == ["j2", "j2", "j3", "j3"] and frame.attrs["skipped_jobs"] == ["j1"]
    with pytest.warns(UserWarning):
        assert sorted(set(arc.counts(missing="skip")["job_id"])) == ["j2", "j3"]
    assert arc.counts(["j2"]).attrs["skipped_jobs"] == []  # the lost file is not read at all
    with pytest.raises(BlobIntegrityError, match=r"j1.*missing.*audit"):
        arc.get("j1")
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        arc.counts(missing="ignore")


def test_a_payload_lost_with_its_blob_is_not_claimed_by_the_index_after_an_update(tmp_path):
    """An update carrying only the result of a job whose blob (with result and qobj) is
    lost writes the result to a new blob. The index kept has_qobj=1 (flags only grew), so
    the qobj counted as stored and sync never fetched it again."""
    from jobarchive.query import JobFilter

    qobj = {"qobj_id": "q", "type": "QASM", "experiments": []}
    with Archive(tmp_path / "a") as arc:
        arc.add(_job("j1", status="COMPLETED", result=RESULT, qobj=qobj))
        _one_blob(arc).unlink()
    with Archive(tmp_path / "a") as arc:  # a new process: nothing of the file cached
        arc.add(_job("j1", status="COMPLETED", result=RESULT))
        (row,) = arc.select_rows(JobFilter(job_ids=["j1"]), ("has_result", "has_qobj"))
        assert row == (1, 0)
        assert arc.record("j1")["result"] == RESULT and arc.record("j1")["qobj"] is None
        arc.add(_job("j1", status="COMPLETED", qobj=qobj))  # readable now: the result is kept
        assert arc.select_rows(JobFilter(job_ids=["j1"]), ("has_result", "has_qobj")) == [(1, 1)]
        assert arc.record("j1")["result"] == RESULT and arc.record("j1")["qobj"] == qobj

def test_audit_lists_and_repairs_orphans(arc):
    arc.add(_job("j1", status="COMPLETED", result=RESULT))
    (arc.path / "blobs" / ".tmp-interrupted.parquet").write_bytes(b"half")
    arc.add(_job("j1", status="COMPLETED", result=dict(RESULT, qobj_id="v2")))  # old blob unreferenced
    frame = arc.audit()
    assert frame["ok"].all() and len(frame.attrs["orphans"]) == 2
    repaired = arc.audit(repair=True)
    assert len(repaired.attrs["removed_orphans"]) == 2
    assert arc.audit().attrs["orphans"] == [] and len(list((arc.path / "blobs").iterdir())) == 1
    assert arc.get("j1").to_dict()["result"]["qobj_id"] == "v2"


def test_reader_in_another_connection_sees_whole_batches(tmp_path):
    path = tmp_path / "a"
    with Archive(path) as writer, Archive(path) as reader:
        writer.add_many([_job(f"j{i}", tags=["t"]) for i in range(50)], batch_size=50)
        assert len(reader) == 50 and len(reader.query(job_tags=["t"])) == 50
        writer.add_many([_job(f"k{i}", result=RESULT, status="COMPLETED") for i in range(30)])
        assert len(reader.counts()) == 60


def test_an_update_with_one_payload_refuses_to_drop_the_other_from_an_unreadable_blob(arc):
    """A blob that is there but unreadable may still be salvaged: the update raises and keeps
    the row pointing at it (a missing blob has nothing left to keep: tests/test_upgrade.py)."""
    from jobarchive import BlobIntegrityError

    arc.add(_job(status="COMPLETED", qobj={"qobj_id": "q"}, result=RESULT))
    (blob,) = list((arc.path / "blobs").glob("*.parquet"))
    blob.write_bytes(blob.read_bytes()[:-100])  # its footer cut off
    before = arc.index.doc("j1")
    try:
        arc.add(_job(status="COMPLETED", result=RESULT))
    except BlobIntegrityError as err:
        assert "unreadable" in str(err)
    else:
        raise AssertionError("the update dropped the stored qobj")
    assert arc.index.doc("j1") == before


def test_a_batch_whose_index_write_fails_leaves_no_blob_file(tmp_path, monkeypatch):
    """The blob file is durable before the batch's rows go in: when the rows fail, the batch
    rolls back and its file, which nothing can point to, is deleted (it used to stay as an
    orphan until audit(repair=True))."""
    from jobarchive.store.index import Index

    with Archive(tmp_path / "arc") as arc:
        arc.add_many(_jobs(0, 3))
        before = sorted((tmp_path / "arc" / "blobs").iterdir())

        def fails(self, job_ids):
            raise sqlite3.OperationalError("disk I/O error")  # as SQLite raises it mid-batch

        monkeypatch.setattr(Index, "existing", fails)  # read by write_batch after the blob
        with pytest.raises(sqlite3.OperationalError):
            arc.add_many(_jobs(3, 6))
        monkeypatch.undo()
        assert sorted((tmp_path / "arc" / "blobs").iterdir()) == before and len(arc) == 3
        arc.add_many(_jobs(3, 6))
        frame = arc.audit()
        assert len(arc) == 6 and frame["ok"].all() and frame.attrs["orphans"] == []
        assert arc.record("job00000004")["result"] == _jobs(4, 5)[0]["result"]


def _jobs(start: int, stop: int) -> list[dict]:
    return [{"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z", "status": "COMPLETED",
             "backend_name": "ibmq_athens", "tags": ["t"], "qobj": {"qobj_id": f"q{i}", "experiments": []},
             "result": {"results": [{"shots": 10, "data": {"counts": {hex(i % 8): 10}}}]}}
            for i in range(start, stop)]


def test_a_new_archive_makes_its_own_names_durable(tmp_path, monkeypatch):
    """Blob files were fsynced into blobs/, but blobs/, index.db and the archive's directory
    were never fsynced into their parents: a power cut could lose the whole new archive."""
    import jobarchive.archive as archive_mod

    synced = []
    real = archive_mod.fsync_path
    monkeypatch.setattr(archive_mod, "fsync_path", lambda path: (synced.append(Path(path)), real(path)))
    Archive(tmp_path / "new" / "a.jobarchive").close()
    assert {tmp_path / "new" / "a.jobarchive", tmp_path / "new"} <= set(synced)
    synced.clear()
    Archive(tmp_path / "new" / "a.jobarchive").close()
    assert synced == []  # an existing archive: nothing new to make durable
