"""query() of a large result holds every matching row as a Python tuple (about 0.9 KB at its
15 columns) before it builds the frame: all 10^6 jobs of bench/_synth.py took 12 s and a
peak of 1.8 GB (Index.select: 8.0 s, +0.9 GB of tuples; to_frame: 3.2 s) for a frame of
about 0.66 GB. Read in batches, the tuples of one batch at a time would be held."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd
import pytest

from jobarchive import Archive

JOBS = 5000


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    recs = [{"job_id": f"q{i:05d}", "creation_date": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
             "status": "COMPLETED", "backend_name": "ibmq_lima", "tags": [f"t{i % 4}"]}
            for i in range(JOBS)]
    with Archive(tmp_path_factory.mktemp("q") / "q.jobarchive") as archive:
        archive.add_many(recs)
        yield archive


def test_query_reads_the_index_in_batches(arc, monkeypatch, index_reads):
    held = index_reads(arc)
    whole = arc.query(job_tags=["t1", "t2", "t3"])  # one batch
    assert held == [len(whole)] == [JOBS * 3 // 4]
    held.clear()
    monkeypatch.setattr("jobarchive.archive._QUERY_BATCH", 1000)  # as 10^6 jobs meet 50,000
    frame = arc.query(job_tags=["t1", "t2", "t3"])
    assert held and max(held) < len(frame), held  # never every row at once
    pd.testing.assert_frame_equal(frame, whole)  # same rows, order and dtypes


def _stop_a_read_then_write_elsewhere(arc, path, read):
    """1,000 jobs, one row edited outside jobarchive so that its warning (as an error) stops
    ``read(arc)`` in a later batch; another process then adds job 'late'. Returns the kept
    traceback, as a notebook keeps the last (sys.last_traceback)."""
    arc.add_many([{"job_id": f"s{i:04d}", "creation_date": "2021-01-01T00:00:00Z",
                   "status": "COMPLETED"} for i in range(1000)])
    arc.index.conn.execute("UPDATE jobs SET shots = 'many' WHERE job_id = 's0500'")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning) as stopped:
            read(arc)
    subprocess.run([sys.executable, "-c", "import sys\nfrom jobarchive import Archive\n"
                    "with Archive(sys.argv[1]) as a:\n"
                    "    a.add({'job_id': 'late', 'creation_date': '2021-01-02T00:00:00Z',"
                    " 'status': 'COMPLETED'})\n", str(path)], check=True)
    return stopped.value.__traceback__


def test_a_query_stopped_between_batches_leaves_no_snapshot_behind(tmp_path, monkeypatch):
    # A query's batch reader stopped half-way, kept alive by the traceback, held its read
    # snapshot through its open statement: every later query on that thread answered from
    # before the stop, never seeing another sync.
    monkeypatch.setattr("jobarchive.archive._QUERY_BATCH", 100)
    path = tmp_path / "a"
    with Archive(path) as arc:
        kept = _stop_a_read_then_write_elsewhere(arc, path, lambda a: a.query(limit=None))  # noqa: F841
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert "late" in set(arc.query(limit=None)["job_id"])
            assert len(arc) == 1001


def test_a_report_stopped_between_batches_leaves_no_snapshot_behind(tmp_path, monkeypatch):
    # The same for the report's pass over the index (and the audit's, which it runs first).
    from jobarchive.report import write_report

    monkeypatch.setattr("jobarchive.report._BATCH", 100)
    path = tmp_path / "a"
    with Archive(path) as arc:
        kept = _stop_a_read_then_write_elsewhere(  # noqa: F841
            arc, path, lambda a: write_report(a, tmp_path / "r.html", progress=False))
        assert len(arc) == 1001
