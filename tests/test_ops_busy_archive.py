"""What the CLI says when the archive stays busy: advice a command-line user can follow.

Real archives in tmp_path, a real second writer (another SQLite connection, another
process stuck opening), the CLI through CliRunner. The CLI's wait (busy_timeout, 30 s) is
shortened as in test_cli_busy_archive_message, to keep the tests short."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from test_open_beside_a_stuck_opener import stopped_opener

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
def test_ls_beside_a_stopped_opener_names_the_opener_and_no_library_option(tmp_path, short_wait):
    """Every busy archive was once called 'another sync or retag holds its write lock; wait
    for it to finish, or pass --wait', also beside a process stuck opening the archive,
    where ls has no --wait and it would not help; then the library's advice of a longer
    busy_timeout, which the CLI has no option for."""
    path = tmp_path / "lab.jobarchive"
    Archive(path).close()
    with stopped_opener(path):
        result = CliRunner().invoke(cli, ["--archive", str(path), "ls"])
    line = _said(result)
    assert "opened by another process" in line and "fuser -v" in line, line
    assert "busy_timeout" not in line and "--wait" not in line, line
