"""Command-line errors and findings name what to do about them."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import EXIT_PROBLEMS, cli

RESULT = {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
          "success": True, "results": [{"shots": 10, "success": True, "header": {},
                                        "data": {"counts": {"0x0": 4, "0x1": 6}}}]}


def _arc(tmp_path, result: bool = False):
    path = tmp_path / "m.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-05-04T11:35:02Z", "status": "COMPLETED",
                 **({"result": RESULT} if result else {})})
    return path


def _run(path, *args):
    return CliRunner().invoke(cli, ["--archive", str(path), *args])


def test_a_server_status_given_to_status_names_the_job_status_that_covers_it(tmp_path):
    """`ls --status COMPLETED` said only that COMPLETED is not valid; query() says it is a
    server status and which JobStatus to pass."""
    res = _run(_arc(tmp_path), "ls", "--status", "COMPLETED")
    assert res.exit_code == 2
    assert "--status DONE" in res.stderr and "api_status" in res.stderr, res.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_report_that_cannot_be_written_names_the_path_given(tmp_path):
    """The error named the hidden temporary file (.report-<hex>.html) it had tried to
    create in the report's directory, not the report path."""
    target = "/proc/jobarchive-report.html"  # a directory no file can be created in
    res = _run(_arc(tmp_path), "report", target)
    assert res.exit_code == 1
    assert target in res.stderr and ".report-" not in res.stderr, res.stderr


def test_audit_says_how_to_mend_damaged_blobs(tmp_path):
    """The audit listed jobs whose blob is missing or damaged and stopped: nothing said that
    a backup restores them or that a sync fetches a missing file's payloads again."""
    path = _arc(tmp_path, result=True)
    for blob in (path / "blobs").glob("*.parquet"):
        os.remove(blob)
    res = _run(path, "audit")
    assert res.exit_code == EXIT_PROBLEMS
    assert "backup" in res.stderr and "jobarchive sync" in res.stderr, res.stderr


def test_a_command_without_an_archive_right_after_the_demo_points_to_the_demos(tmp_path, monkeypatch):
    """After `jobarchive demo` (./demo.jobarchive), a bare `jobarchive ls` said only that
    there is no archive at jobs.jobarchive."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBARCHIVE_PATH", raising=False)
    Archive(tmp_path / "demo.jobarchive").close()
    res = CliRunner().invoke(cli, ["ls"])
    assert res.exit_code == 1
    assert "jobarchive --archive demo.jobarchive ls" in res.stderr, res.stderr
    chosen = CliRunner().invoke(cli, ["--archive", "mine.jobarchive", "ls"])
    assert chosen.exit_code == 1 and "demo" not in chosen.stderr
    assert not (tmp_path / "jobs.jobarchive").exists() and not (tmp_path / "mine.jobarchive").exists()
