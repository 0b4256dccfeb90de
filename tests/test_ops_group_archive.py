"""A research group's shared archive: one directory (setgid, group-writable) that each member's
cron sync or retag writes, under the usual shared-work umask 002.

Real archives in tmp_path, the CLI through CliRunner; the umask is the process's own."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli


@pytest.fixture
def group_umask():
    old = os.umask(0o002)
    yield
    os.umask(old)


def _mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


def test_a_group_archive_is_writable_by_the_group(tmp_path, group_umask):
    path = tmp_path / "lab.jobarchive"
    run = CliRunner().invoke(cli, ["--archive", str(path), "init"])
    assert run.exit_code == 0, run.output
    with Archive(path) as arc:  # a write, as a sync's or retag's
        arc.add({"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z", "status": "COMPLETED"})
        with arc.lock():
            pass
    blob_dir = path / "blobs"
    assert _mode(blob_dir) == "drwxrwxr-x"  # as the umask says: the group may write
    modes = {p.name: _mode(p) for p in (path / "index.db", path / "write.lock")}
    assert modes == {"index.db": "-rw-rw-r--", "write.lock": "-rw-rw-r--"}, modes


def test_a_group_archive_backup_is_writable_by_the_group(tmp_path, group_umask):
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z", "status": "COMPLETED"})
        arc.backup(tmp_path / "copy")
    assert _mode(tmp_path / "copy" / "index.db") == "-rw-rw-r--"
    with Archive(tmp_path / "copy") as copy:
        assert "j1" in copy
