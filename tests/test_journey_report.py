"""The HTML report as its readers get it: shareable like any file the user writes."""

from __future__ import annotations

import os
import stat

import pytest

from jobarchive import Archive


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_report_file_gets_the_usual_permissions(tmp_path, umask_022):
    """A report is written to be read by others (a web server, a shared folder): it gets
    the mode any new file of the user gets (0644 under umask 022), not a temp file's 0600."""
    with Archive(tmp_path / "a") as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-01-01T00:00:00Z",
                 "status": "COMPLETED", "backend_name": "ibmq_athens"})
        written = arc.report(tmp_path / "r.html")
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_job_with_a_far_off_date_does_not_explode_the_time_axis(tmp_path):
    """One job dated in year 1 (or 1800) beside today's made one bar per month of the whole
    span: 120,000 bars, 4 minutes and 1.6 GB for a report of three jobs. Long spans are
    plotted per year, and every job is still counted."""
    from jobarchive.report import _period_table

    with Archive(tmp_path / "a") as arc:
        for i, date in enumerate(("0001-01-01T00:00:00Z", "1800-06-01T00:00:00Z",
                                  "2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z",
                                  "9999-12-31T23:59:59Z")):
            arc.add({"job_id": f"j{i}", "creation_date": date, "status": "COMPLETED",
                     "backend_name": "ibmq_athens"})
        frame = arc.query()
        table, label = _period_table(frame, "status")
        assert len(table) <= 400 and int(table.to_numpy().sum()) == 5
        recent = frame[frame["creation_date"].dt.year == 2021]
        table, label = _period_table(recent, "status")
        assert label == "month" and len(table) == 2
        path = arc.report(tmp_path / "r.html")
    assert "jobs per" in path.read_text()
