"""A row of a query() frame (df.iloc[i], a row of iterrows or itertuples) is one job to
counts() and retag(), as the frame itself is its jobs. A row was read as a list of its
values: its name, tags and NA cells taken for job ids."""

from __future__ import annotations

import pytest
from retag_child import make_jobs


@pytest.fixture
def done(arc):
    arc.add_many(make_jobs(8, seed=3))
    return arc.query(status="DONE")


def test_counts_of_a_row_are_its_jobs(arc, done):
    assert len(done) >= 2
    first = arc.counts(done["job_id"].iloc[0])
    assert len(first) and arc.counts(done.iloc[0]).equals(first)
    (_, row), = done.head(1).iterrows()
    assert arc.counts(row).equals(first)
    assert arc.counts(next(done.itertuples(index=False))).equals(first)
    assert arc.counts(next(done.itertuples())).equals(first)


def test_retag_of_a_row_plans_that_job(arc, done):
    plan = arc.retag(done.iloc[1], additional_tags=["picked"], dry_run=True, progress=False)
    assert plan["job_id"].tolist() == [done["job_id"].iloc[1]]
    assert plan["added"].tolist() == [["picked"]]


@pytest.mark.parametrize("read", ["get", "record", "history"])
def test_one_job_selections_are_not_called_absent(arc, done, read):
    job_id = done["job_id"].iloc[0]
    for selection in (done.iloc[0], done["job_id"].iloc[:1]):
        try:
            getattr(arc, read)(selection)
        except Exception as err:  # an error may refuse the type, not deny the job
            assert not isinstance(err, KeyError) and "not in the archive" not in str(err), read
    assert job_id in arc
