"""Query plans of filter combinations on a skewed archive (EXPLAIN QUERY PLAN, no timings).

Real archives are skewed: most jobs ran on one backend (the simulator) and completed. The
index holds no statistics (no ANALYZE), so SQLite alone cannot tell which of two indexed
filters is the rare one and drove "the ERROR jobs on the simulator" from the backend index:
every simulator job read to find the few that failed (the index now counts). At 10^6 jobs (bench/_synth.py, 20%
per backend, 10% ERROR) that query takes 2.2 s against 1.2 s from the status index; with
90% of the jobs on one backend it reads nine times the rows it needs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobarchive import Archive
from jobarchive.query import build_filter

BASE = datetime(2021, 1, 1, tzinfo=UTC)
JOBS = 3000


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    """3,000 jobs: 2,900 on the simulator, 100 on ibmq_lima; 30 ERROR, the rest DONE; 30
    shared globally, the rest not shared."""
    recs = [{"job_id": f"s{i:05d}", "creation_date": (BASE + timedelta(minutes=11 * i)).isoformat(),
             "status": "ERROR_RUNNING_JOB" if i % 100 == 3 else "COMPLETED",
             "backend_name": "ibmq_lima" if i % 30 == 5 else "ibmq_qasm_simulator",
             "run_mode": "fairshare", "share_level": "global" if i % 100 == 7 else "none",
             "name": f"run-{i % 50}"}
            for i in range(JOBS)]
    with Archive(tmp_path_factory.mktemp("s") / "s.jobarchive") as archive:
        archive.add_many(recs)
        yield archive


def _driver(arc, **kwargs) -> str:
    return arc.index.explain(build_filter(**kwargs))[0]


def test_a_rare_backend_drives_a_common_status(arc):
    assert "jobs_backend_creation" in _driver(arc, backend_name="ibmq_lima", status="DONE")


@pytest.mark.parametrize("dates", [False, True], ids=["all", "date-range"])
def test_a_rare_status_drives_a_common_backend(arc, dates):
    kwargs = {"backend_name": "ibmq_qasm_simulator", "status": "ERROR"}
    if dates:
        kwargs.update(start_datetime=BASE, end_datetime=BASE + timedelta(days=30))
    rows = arc.query(**kwargs)
    assert 0 < len(rows) <= 30 and set(rows["status"]) == {"ERROR"}
    assert "jobs_status_creation" in _driver(arc, **kwargs)


def test_a_rare_share_level_drives_a_common_status(arc):
    """SQLite alone drives it from the status index (read every DONE job for a few shared
    ones), whichever is rarer."""
    kwargs = {"share_level": "global", "status": "DONE"}
    rows = arc.query(**kwargs)
    assert 0 < len(rows) <= 30 and set(rows["share_level"]) == {"global"}
    assert "jobs_share_creation" in _driver(arc, **kwargs)
