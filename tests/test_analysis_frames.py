"""The frames of query(), counts() and history() in everyday pandas work together: merge on
job_id, concat, stable dtypes for empty results."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from jobarchive import Archive
from jobarchive.query import FRAME_COLUMNS

BASE = datetime(2022, 1, 1, tzinfo=UTC)


def _result(rng: random.Random) -> dict:
    exps = [{"shots": 100, "success": True, "header": {"name": f"c{e}", "memory_slots": 2,
                                                       "creg_sizes": [["c", 2]]},
             "data": {"counts": {hex(k): rng.randint(1, 50) for k in range(4)}}} for e in range(2)]
    return {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
            "success": True, "results": exps}


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    rng = random.Random(4)
    recs = [{"job_id": f"f{i:03d}", "creation_date": (BASE + timedelta(days=9 * i)).isoformat(),
             "status": "COMPLETED" if i % 5 else "ERROR_RUNNING_JOB", "name": f"run-{i}",
             "tags": ["exp"] if i % 2 else [], "backend_name": ["ibmq_lima", "ibmq_athens"][i % 2],
             **({"result": _result(rng)} if i % 5 else {})} for i in range(30)]
    with Archive(tmp_path_factory.mktemp("f") / "f.jobarchive") as archive:
        archive.add_many(recs)
        archive.add({**recs[1], "tags": ["exp", "v2"]})  # one job with events
        yield archive


def test_typical_analysis_of_query_and_counts(arc, tmp_path):
    df = arc.query(status="DONE")
    counts = arc.counts(df)
    merged = df.merge(counts, on="job_id")
    assert len(merged) == len(counts) and set(merged["job_id"]) == set(df["job_id"])
    per_month = merged.groupby([merged["creation_date"].dt.strftime("%Y-%m"), "backend_name"])["count"].sum()
    assert per_month.sum() == counts["count"].sum()
    pivot = counts.pivot_table(index=["job_id", "experiment"], columns="bitstring", values="count",
                               fill_value=0)
    assert list(pivot.columns) == ["00", "01", "10", "11"] and len(pivot) == 2 * len(df)
    df.to_parquet(tmp_path / "q.parquet")
    back = pd.read_parquet(tmp_path / "q.parquet")
    assert list(back.columns) == list(FRAME_COLUMNS) and (back.dtypes == df.dtypes).all()
    assert [list(t) for t in back["tags"]] == list(df["tags"])
    df.to_csv(tmp_path / "q.csv", index=False)
    assert list(pd.read_csv(tmp_path / "q.csv")["job_id"]) == list(df["job_id"])
    empty = arc.query(job_tags=["nope"])
    empty.to_parquet(tmp_path / "e.parquet")
    assert list(pd.read_parquet(tmp_path / "e.parquet").columns) == list(FRAME_COLUMNS)


def test_counts_string_columns_match_query_so_a_merge_keeps_the_key_dtype(arc):
    df = arc.query(status="DONE")
    counts = arc.counts(df)
    assert counts["job_id"].dtype == df["job_id"].dtype
    assert df.merge(counts, on="job_id")["job_id"].dtype == df["job_id"].dtype
    assert pd.concat([df["job_id"], counts["job_id"]]).dtype == df["job_id"].dtype
    assert arc.counts([]).dtypes.equals(counts.dtypes)


def test_history_dtypes_are_the_same_with_and_without_events(arc):
    with_events = arc.history("f001")
    assert len(with_events) >= 1
    without = arc.history("f002")
    assert without.empty
    assert list(without.columns) == list(with_events.columns)
    assert without.dtypes.equals(with_events.dtypes)
    assert with_events["job_id"].dtype == arc.query()["job_id"].dtype


def test_counts_takes_a_frame_indexed_by_job_id_and_refuses_missing_ids(arc):
    df = arc.query(status="DONE", limit=4)
    expected = arc.counts(df)
    assert arc.counts(df.set_index("job_id")).equals(expected)
    assert arc.counts(df.set_index(["backend_name", "job_id"])).equals(expected)
    assert arc.counts(pd.Index(df["job_id"])).equals(expected)
    with_na = pd.concat([df["job_id"], pd.Series([pd.NA], dtype="string")])
    with pytest.raises(ValueError, match=r"missing value.*dropna"):
        arc.counts(with_na)


def test_building_a_frame_runs_no_garbage_collection():
    """Hundreds of thousands of rows and tag lists (no cycles) set off collections that walk
    every live object, again and again: to_frame pauses the collector (and restores it)."""
    import gc

    from jobarchive.query import to_frame

    rows = [(f"j{i}", None, "b", "DONE", "COMPLETED", 1_600_000_000_000_000 + i, '["a","b"]', "none",
             None, None, None, None, None, None, 0) for i in range(30_000)]
    runs: list[int] = []

    def count(phase, info):
        if phase == "start":
            runs.append(info["generation"])

    gc.collect()  # start from empty generations: allocations before the pause set off none
    gc.callbacks.append(count)
    try:
        frame = to_frame(rows)
    finally:
        gc.callbacks.remove(count)
    # At most the one collection the first allocation after the pause sets off (unpaused,
    # 30,000 rows set off dozens).
    assert len(runs) <= 1 and gc.isenabled()
    assert len(frame) == 30_000 and frame["tags"].iloc[-1] == ["a", "b"]
    gc.disable()
    try:
        to_frame(rows[:10])
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_dates_far_from_now_keep_microseconds(tmp_path):
    with Archive(tmp_path / "d.jobarchive") as arc:
        arc.add_many([{"job_id": "old", "creation_date": "0001-01-01T00:00:00.000001Z", "status": "COMPLETED"},
                      {"job_id": "new", "creation_date": "9999-12-31T23:59:59.999999Z", "status": "COMPLETED"}])
        frame = arc.query(descending=False)
        assert str(frame["creation_date"].dtype) == "datetime64[us, UTC]"
        assert [t.isoformat() for t in frame["creation_date"]] == [
            "0001-01-01T00:00:00.000001+00:00", "9999-12-31T23:59:59.999999+00:00"]


def test_rows_of_real_documents_answer_like_the_job(tmp_path, realdata):
    """Every recorded server document (anonymised dates replaced): the query row says what
    the rebuilt IBMQJob says, and filtering by each row's own values finds it."""
    import json
    import re

    from jobarchive import IBMQJob

    entries = json.loads((realdata / "job_documents_all.json").read_text())
    jobs = []
    for i, entry in enumerate(entries):
        doc = dict(entry["document"], id=f"{entry['document'].get('id')}-{i}")
        if not re.match(r"\d{4}-", str(doc.get("creationDate", ""))):
            doc["creationDate"] = (BASE + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        jobs.append(IBMQJob.from_server(doc))
    with Archive(tmp_path / "real.jobarchive") as arc:
        arc.add_many(jobs)
        frame = arc.query()
        assert len(frame) == len(entries)
        for row in frame.itertuples(index=False):
            job = arc.get(row.job_id)
            assert row.status == job.status().name
            assert (None if pd.isna(row.name) else row.name) == job.name()
            assert list(row.tags) == job.tags()
            assert row.share_level == job.share_level()
            assert row.creation_date == job.creation_date()
        for row in frame.sample(25, random_state=1).itertuples(index=False):
            found = arc.query(status=row.status, start_datetime=row.creation_date, end_datetime=row.creation_date,
                              backend_name=None if pd.isna(row.backend_name) else row.backend_name,
                              job_tags=list(row.tags), job_tags_operator="AND",
                              job_name=None if pd.isna(row.name) else "^" + re.escape(row.name) + "$")
            assert row.job_id in set(found["job_id"])
