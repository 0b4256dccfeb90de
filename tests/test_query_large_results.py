"""query() of a large result holds every matching row as a Python tuple (about 0.9 KB at its
15 columns) before it builds the frame: all 10^6 jobs of bench/_synth.py took 12 s and a
peak of 1.8 GB (Index.select: 8.0 s, +0.9 GB of tuples; to_frame: 3.2 s) for a frame of
about 0.66 GB. Read in batches, the tuples of one batch at a time would be held."""

from __future__ import annotations

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


def test_query_reads_the_index_in_batches(arc, monkeypatch):
    held: list[int] = []
    select, iter_select = arc.index.select, arc.index.iter_select

    def counted_select(*args, **kwargs):
        rows = select(*args, **kwargs)
        held.append(len(rows))
        return rows

    def counted_iter_select(*args, **kwargs):
        for batch in iter_select(*args, **kwargs):
            held.append(len(batch))
            yield batch

    monkeypatch.setattr(arc.index, "select", counted_select)
    monkeypatch.setattr(arc.index, "iter_select", counted_iter_select)
    whole = arc.query(job_tags=["t1", "t2", "t3"])  # one batch
    assert held == [len(whole)] == [JOBS * 3 // 4]
    held.clear()
    monkeypatch.setattr("jobarchive.archive._QUERY_BATCH", 1000)  # as 10^6 jobs meet 50,000
    frame = arc.query(job_tags=["t1", "t2", "t3"])
    assert held and max(held) < len(frame), held  # never every row at once
    pd.testing.assert_frame_equal(frame, whole)  # same rows, order and dtypes
