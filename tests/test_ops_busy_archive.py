"""What the CLI says when the archive stays busy: advice a command-line user can follow.

Real archives in tmp_path, a real second writer (another SQLite connection, another
process stuck opening), the CLI through CliRunner. The CLI's wait (busy_timeout, 30 s) is
shortened as in test_cli_busy_archive_message, to keep the tests short."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from test_open_beside_a_stuck_opener import _HANG_IN_OPEN

from jobarchive import Archive
from jobarchive.cli import cli


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setitem(Archive.__init__.__kwdefaults__, "busy_timeout", 0.2)


def _said(result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_retag_beside_a_writer_that_holds_the_index_names_no_library_option(tmp_path,
                                                                          short_wait):
    """A notebook's add_many (or a script's retag) stopped with Ctrl-Z mid-write holds
    index.db's write lock; a cron retag waited 30 s, then said 'Wait for it to finish, or
    open the archive with a longer busy_timeout': the CLI has no such option."""
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z", "status": "COMPLETED"})
    writer = sqlite3.connect(path / "index.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        result = CliRunner().invoke(cli, ["--archive", str(path), "retag", "--all", "--add",
                                          "x", "--no-progress"])
    finally:
        writer.close()
    line = _said(result)
    assert "locked by another writer" in line, line
    assert "busy_timeout" not in line, line
    assert "run the command again" in line, line
    with Archive(path) as arc:  # nothing was written, and it works again
        assert arc.record("j1")["tags"] == []


@pytest.mark.timeout(60)
def test_ls_beside_a_stopped_opener_names_no_library_option(tmp_path, short_wait):
    path = tmp_path / "lab.jobarchive"
    Archive(path).close()
    child = subprocess.Popen([sys.executable, "-c", _HANG_IN_OPEN, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "IN", child.stderr.read()
        os.kill(child.pid, signal.SIGSTOP)
        result = CliRunner().invoke(cli, ["--archive", str(path), "ls"])
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    line = _said(result)
    assert "opened by another process" in line and "fuser -v" in line, line
    assert "busy_timeout" not in line, line
