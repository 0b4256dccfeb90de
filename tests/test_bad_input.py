"""Bad input gets a clear error (JobValidationError, a ValueError naming the job and the
field) and changes nothing: not the index, not the events, not the blob directory."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from jobarchive import Archive, IBMQJob, IBMQJobError, JobValidationError


def _job(job_id="good1", **extra) -> dict:
    rec = {"job_id": job_id, "creation_date": "2021-05-04T11:34:58.965Z", "status": "COMPLETED",
           "tags": ["t"], "result": {"results": [{"shots": 1, "data": {"counts": {"0x1": 1}}}]}}
    rec.update(extra)
    return rec


def _missing(key):
    rec = _job("bad1")
    del rec[key]
    return rec


# (case, record, field named in the error)
BAD = [
    ("missing job_id", _missing("job_id"), None),
    ("missing creation_date", _missing("creation_date"), None),
    ("missing status", _missing("status"), None),
    ("job_id not a string", _job(12345), "job_id"),
    ("job_id with slash", _job("a/b"), "job_id"),
    ("job_id with dotdot", _job("a..b"), "job_id"),
    ("job_id is dotdot", _job(".."), "job_id"),
    ("job_id with NUL", _job("a\x00b"), "job_id"),
    ("job_id with newline", _job("abc\n"), "job_id"),
    ("job_id empty", _job(""), "job_id"),
    ("job_id too long", _job("x" * 129), "job_id"),
    ("unknown status", _job("bad1", status="DONE"), "status"),
    ("status not a string", _job("bad1", status=3), "status"),
    ("status empty", _job("bad1", status=""), "status"),
    ("tags a string", _job("bad1", tags="exp1"), "tags"),
    ("tags with an int", _job("bad1", tags=["a", 1]), "tags.1"),
    ("tags a dict", _job("bad1", tags={"a": 1}), "tags"),
    ("malformed date", _job("bad1", creation_date="2021-13-01T00:00:00Z"), "creation_date"),
    ("placeholder date", _job("bad1", creation_date="dummyapiJobscreationDate01"), "creation_date"),
    ("date a number", _job("bad1", creation_date=1620128098), "creation_date"),
    ("date before year 1 in UTC", _job("bad1", creation_date="0001-01-01T00:00:00+01:00"), "creation_date"),
    ("bad time_per_step date", _job("bad1", time_per_step={"CREATING": "soon"}), "time_per_step.CREATING"),
    ("result a list", _job("bad1", result=[{"counts": {}}]), "result"),
    ("result a string", _job("bad1", result="{}"), "result"),
    ("qobj a list", _job("bad1", qobj=[]), "qobj"),
    ("name an int", _job("bad1", name=5), "name"),
    ("unknown kind", _job("bad1", kind="q-teleport"), "kind"),
    ("unknown share level", _job("bad1", share_level="world"), "share_level"),
    ("NaN in result", _job("bad1", result={"x": float("nan")}), "result.x"),
    ("infinity in an extra field", _job("bad1", cost=float("inf")), "cost"),
    ("non-JSON type", _job("bad1", when={"at": object()}), "when.at"),
    ("non-string key", _job("bad1", result={"results": [], 1: 2}), "result"),
    ("lone surrogate in name", _job("bad1", name="bell\ud800"), "name"),
    ("lone surrogate in a tag", _job("bad1", tags=["\udfff"]), "tags.0"),
    ("lone surrogate in a result key", _job("bad1", result={"\ud83d": 1}), "result"),
]


def _state(arc: Archive) -> tuple:
    """Everything a write could touch: index rows of every table, blob files and bytes."""
    conn = sqlite3.connect(arc.path / "index.db")
    try:
        tables = tuple(tuple(conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                       for t in ("jobs", "job_tags", "events", "blobs"))
    finally:
        conn.close()
    blobs = tuple(sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest())
                         for p in (arc.path / "blobs").iterdir()))
    return tables, blobs


@pytest.fixture
def seeded(arc):
    arc.add(_job("good1"))
    arc.add(_job("bad1", name="the stored one"))  # a bad update must not touch it either
    return arc


@pytest.mark.parametrize("case,record,field", BAD, ids=[c for c, _, _ in BAD])
def test_bad_record_is_refused_clearly_and_changes_nothing(seeded, case, record, field):
    before = _state(seeded)
    with pytest.raises(JobValidationError) as err:
        seeded.add(record)
    assert isinstance(err.value, ValueError)
    if field is not None:
        assert err.value.field == field, str(err.value)
        assert repr(field) in str(err.value)
    if isinstance(record.get("job_id"), str):
        assert err.value.job_id == record["job_id"] and repr(record["job_id"]) in str(err.value)
    str(err.value).encode("utf-8")  # printable, even for surrogate input
    assert _state(seeded) == before
    assert seeded.get("bad1").name() == "the stored one"
    # The same input through from_dict: the same error type, nothing half-built.
    with pytest.raises(JobValidationError):
        IBMQJob.from_dict(record)


@pytest.mark.parametrize("position", [0, 3, 6])
def test_one_bad_job_in_add_many_writes_nothing(seeded, position):
    batch = [_job(f"new{i}") for i in range(6)]
    batch.insert(position, _job("new-bad", tags="oops"))
    before = _state(seeded)
    with pytest.raises(JobValidationError, match="new-bad.*tags"):
        seeded.add_many(batch, batch_size=2)
    assert _state(seeded) == before and len(seeded) == 2


def test_things_that_are_not_jobs(seeded):
    before = _state(seeded)
    for thing in (None, 42, "job1", ["job_id"], object()):
        with pytest.raises(JobValidationError):
            seeded.add(thing)

    class OldProviderJob:  # qiskit-ibmq-provider 0.8-0.11: to_dict() returned {}
        def to_dict(self):
            return {}

    with pytest.raises(JobValidationError, match="returns {} there"):
        seeded.add(OldProviderJob())
    assert _state(seeded) == before


def test_bad_server_documents(seeded):
    for doc in (None, [], {"id": "x"}, {"id": "x", "creationDate": "2021-01-01", "status": "NOPE"},
                {"id": "x/y", "creationDate": "2021-01-01T00:00:00.000Z", "status": "COMPLETED"}):
        with pytest.raises(JobValidationError):
            IBMQJob.from_server(doc)


def test_sql_metacharacters_stored_verbatim_and_never_executed(arc):
    evil = ["'; DROP TABLE jobs; --", "\" OR 1=1 --", "%", "_", "\\", "Robert'); DELETE FROM job_tags;--",
            "a\x00b", "🙂 ü"]
    for i, text in enumerate(evil):
        arc.add(_job(f"evil{i}", name=text, tags=[text, "plain"], backend_name=text,
                     experiment_id=text, **{"note": text}))
    assert len(arc) == len(evil)
    for i, text in enumerate(evil):
        rec = arc.get(f"evil{i}").to_dict()
        assert rec["name"] == rec["backend_name"] == rec["experiment_id"] == rec["note"] == text
        assert rec["tags"] == [text, "plain"]
        assert list(arc.query(job_tags=[text])["job_id"]) == [f"evil{i}"]
        assert list(arc.query(backend_name=text)["job_id"]) == [f"evil{i}"]
    assert len(arc.query(job_tags=["plain"])) == len(evil)
    tables = {r[0] for r in arc.index.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "job_tags", "events", "blobs"} <= tables


def test_edge_values_that_are_valid_are_kept_exactly(arc):
    big = {"results": [{"shots": 2 ** 70, "header": {"memory_slots": 10 ** 9},
                        "data": {"counts": {"0x1": 2 ** 64, "0x2": -(2 ** 63) - 1, "0x3": 5}}}],
           "ints": [2 ** 63, -(2 ** 63) - 1, 3 ** 90], "neg_zero": -0.0, "tiny": 5e-324}
    arc.add(_job("edge1", result=big, creation_date="1969-12-31T23:59:59.5Z", _api_shots=2 ** 80))
    rec = arc.get("edge1").to_dict()
    assert rec["result"] == big
    assert [type(v) for v in rec["result"]["ints"]] == [int, int, int]  # not floats
    frame = arc.query()
    assert frame["creation_date"][0].isoformat() == "1969-12-31T23:59:59.500000+00:00"
    assert frame["shots"].isna()[0]  # beyond SQLite's int64: only in the JSON
    counts = arc.counts(["edge1"])
    assert list(counts["key"]) == ["0x3"] and list(counts["bitstring"]) == ["11"]


def test_unknown_job_and_bad_counts_selection(arc):
    from jobarchive import JobNotFoundError

    arc.add(_job("good1"))
    with pytest.raises(JobNotFoundError) as err:
        arc.get("nope")
    assert isinstance(err.value, KeyError) and "nope" in str(err.value)
    with pytest.raises(JobNotFoundError):
        arc.counts(["good1", "nope"])
    with pytest.raises(JobNotFoundError) as err:  # repeats spanning the 900-id query chunks
        arc.counts(["good1"] * 901 + ["nope"])
    assert "nope" in str(err.value)
    assert arc.counts(["good1"] * 901).equals(arc.counts(["good1"]))  # each job once
    assert "nope" not in arc and 5 not in arc
    with pytest.raises(IBMQJobError):
        arc.get("good1").refresh()


def test_a_raw_server_document_is_refused_with_the_way_to_add_it(seeded, real_corpus):
    doc = next(e["document"] for e in real_corpus if "creationDate" in e["document"])
    before = _state(seeded)
    with pytest.raises(JobValidationError, match=r"raw server document .*IBMQJob\.from_server\(doc\)"):
        seeded.add(doc)
    assert _state(seeded) == before
