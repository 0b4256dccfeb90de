"""A nightly `jobarchive export /srv/dash --format csv` whose counts file could not be
written (the disk filled, or timeout(1) ended it while it wrote counts.*, the longest
step): jobs.* and counts.* are one pair, read in one snapshot (d8d4f4d), and a dashboard
joins them.

The disk is filled for real, as in test_cli_output_file_replaced_whole: the child lowers
its own file-size limit (RLIMIT_FSIZE) and ignores SIGXFSZ, so a write past it fails."""

from __future__ import annotations

import csv
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive import Archive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_FSIZE semantics")

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]
LIMIT = 64 * 1024  # above jobs.csv of 400 jobs (35 KB) and SQLite's files, below their counts (135 KB)


def _job(i: int) -> dict:
    counts = {hex(k): 64 for k in range(16)}
    return {"job_id": f"job{i:04d}", "creation_date": "2021-03-01T10:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens",
            "result": {"backend_name": "ibmq_athens", "success": True,
                       "results": [{"shots": 1024, "success": True,
                                    "data": {"counts": counts}}]}}


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))


def _ids(path: Path) -> set[str]:
    with open(path, newline="") as fh:
        return {row["job_id"] for row in csv.DictReader(fh)}


def test_an_export_that_fails_writing_counts_leaves_the_last_pair(tmp_path):
    """jobs.csv was replaced with tonight's 400 jobs, then counts.csv failed ('File too
    large', exit 1) and stayed last night's, of 200 jobs: the dashboard joined 400 jobs with
    the counts of 200, the 200 new ones without counts as if their results were missing.
    Both files are now written beside the old ones first and renamed over them together."""
    archive, out = tmp_path / "lab.jobarchive", tmp_path / "dash"
    with Archive(archive) as arc:
        arc.add_many(_job(i) for i in range(200))
    last_night = subprocess.run([*MAIN, "--archive", str(archive), "export", str(out),
                                 "--format", "csv"], capture_output=True, text=True,
                                timeout=120)
    assert last_night.returncode == 0, last_night.stderr
    with Archive(archive) as arc:
        arc.add_many(_job(i) for i in range(200, 400))
    tonight = subprocess.run([*MAIN, "--archive", str(archive), "export", str(out),
                              "--format", "csv"], capture_output=True, text=True,
                             timeout=120, preexec_fn=_limited)
    assert tonight.returncode == 1, tonight.stderr
    assert tonight.stderr.startswith("Error:") and "Traceback" not in tonight.stderr
    jobs, counted = _ids(out / "jobs.csv"), _ids(out / "counts.csv")
    assert (len(jobs), len(counted)) == (200, 200)  # last night's pair, whole
    assert jobs == counted
    assert sorted(p.name for p in out.iterdir()) == ["counts.csv", "jobs.csv"]
