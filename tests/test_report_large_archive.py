"""Archive.report of a large archive reads the index in batches. It began with query() of
every job: 10^6 jobs sat 14 s without a bar (before the audit's) and peaked at 1.8 GB (all
15 columns of every row as tuples, then a 0.66 GB frame kept through the audit) for the
six columns the report shows."""

from __future__ import annotations

import re

import jobarchive.report as report_module
from jobarchive import Archive

BATCH = 7


def _record(i: int) -> dict:
    rec = {"job_id": f"r{i:03d}", "creation_date": f"2021-{1 + i % 12:02d}-03T10:00:00Z",
           "status": "COMPLETED" if i % 4 else "ERROR_RUNNING_JOB",
           "backend_name": ("ibmq_lima", "ibmq_athens")[i % 2], "tags": [f"t{i % 3}"]}
    if i % 3:  # the others have no run times
        rec["time_per_step"] = {"CREATING": "2021-01-03T10:00:00Z", "QUEUED": "2021-01-03T10:00:01Z",
                                "RUNNING": f"2021-01-03T10:{1 + i % 50:02d}:00Z",
                                "COMPLETED": "2021-01-03T11:00:00Z"}
    return rec


def _html(path) -> str:
    return re.sub(r"<p>Generated [^:]*UTC", "<p>Generated", path.read_text())


def test_report_reads_the_index_in_batches_and_says_the_same(tmp_path, monkeypatch, index_reads):
    arc = Archive(tmp_path / "r.jobarchive")
    arc.add_many([_record(i) for i in range(40)])
    audit = arc.audit(progress=False)
    whole = arc.report(tmp_path / "whole.html", audit=audit, title="t")

    monkeypatch.setattr(report_module, "_BATCH", BATCH, raising=False)
    held = index_reads(arc)
    batched = arc.report(tmp_path / "batched.html", audit=audit, title="t")
    assert held and max(held) <= BATCH, held
    assert _html(batched) == _html(whole)
    text = _html(batched)
    assert "40 jobs." in text and "From <code>time_per_step</code> of 26 jobs" in text
