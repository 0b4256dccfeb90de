"""A damaged index file: every read names the damage and the way out (IndexIntegrityError),
never SQLite's bare "database disk image is malformed"; ``Index.integrity()`` finds it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobarchive import Archive, ArchiveError, IndexIntegrityError
from jobarchive.cli import cli


def _job(i: int) -> dict:
    return {"job_id": f"d{i:05d}", "creation_date": f"2021-03-{1 + i % 28:02d}T10:00:00Z",
            "status": "COMPLETED", "kind": "q-object-external-storage", "tags": [f"t{i % 7}"],
            "backend_name": "ibmq_athens", "name": "bell " * 40,  # room: the jobs table spans pages
            "result": {"results": [{"data": {"counts": {"0x0": i, "0x3": 1}}}]}}


def _damage_page_of(path, name: str) -> None:
    conn = sqlite3.connect(path / "index.db")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path / "index.db", "r+b") as fh:  # an invalid page type on its root page
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * 16)


@pytest.fixture
def damaged(tmp_path):
    path = tmp_path / "arc"
    with Archive(path) as arc:
        arc.add_many([_job(i) for i in range(2000)])
        assert arc.index.integrity() == []  # sound before
    _damage_page_of(path, "jobs")  # the table's root page: reads of rows fail
    return path


def test_reads_of_a_damaged_index_say_so(damaged):
    arc = Archive(damaged)
    for read in (lambda: arc.query(limit=None), lambda: arc.get("d00001"), lambda: arc.counts(["d00001"]),
                 lambda: arc.audit()):
        with pytest.raises(IndexIntegrityError, match="is damaged .*malformed.*restore index.db from a backup"):
            read()
    assert issubclass(IndexIntegrityError, ArchiveError)
    assert arc.index.integrity()  # SQLite's own findings, listed
    arc.close()


def test_a_write_to_a_damaged_index_says_so_too(damaged):
    with Archive(damaged) as arc, pytest.raises(IndexIntegrityError, match="is damaged"):
        arc.add(_job(5000))


def test_audit_finds_damage_that_reads_do_not_touch(tmp_path):
    path = tmp_path / "arc"
    with Archive(path) as arc:
        arc.add_many([_job(i) for i in range(2000)])
    _damage_page_of(path, "events_job")  # an index no audit read goes through (no events yet)
    with Archive(path) as arc:
        frame = arc.audit()
        assert frame["ok"].all()  # every job reads back whole
        assert frame.attrs["index_problems"] and frame.attrs["summary"]["index_problems"] >= 1
        assert arc.audit(verify=False).attrs["index_problems"] == []  # a quick audit skips it
    result = CliRunner().invoke(cli, ["--archive", str(path), "audit"])
    assert result.exit_code == 3, result.output
    assert "index.db is damaged:" in result.output


def test_cli_audit_of_an_unreadable_index_is_a_finding(damaged):
    result = CliRunner().invoke(cli, ["--archive", str(damaged), "audit"])
    assert result.exit_code == 3, result.output
    assert "is damaged" in result.output and "Traceback" not in result.output


def test_the_restore_the_message_names_gives_a_sound_index(damaged, tmp_path):
    """Processes killed after their commits (as "stop writing" goes with a hung sync) leave
    them in index.db-wal. Restoring index.db from a backup beside that -wal let SQLite replay
    the old pages onto the restored file: a damaged index again. The message now names the
    -wal and -shm to delete, and following it gives a sound archive."""
    with Archive(damaged) as arc, pytest.raises(IndexIntegrityError) as err:
        arc.query(limit=None)
    assert "delete index.db-wal and index.db-shm" in str(err.value)
    path, saved = tmp_path / "other", tmp_path / "backup"
    with Archive(path) as arc:
        arc.add_many([_job(i) for i in range(2000)])
        arc.backup(saved)
    code = ("import os, sys\nsys.path.insert(0, sys.argv[2])\nfrom jobarchive import Archive\n"
            "from test_damaged_index import _job\n"
            "arc = Archive(sys.argv[1])\narc.add_many([_job(i) for i in range(9000, 9400)])\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(path), str(Path(__file__).parent)], check=True)
    assert (path / "index.db-wal").stat().st_size  # the killed writer's commits
    for name in ("index.db-wal", "index.db-shm"):
        (path / name).unlink(missing_ok=True)
    shutil.copyfile(saved / "index.db", path / "index.db")
    with Archive(path) as arc:
        assert arc.index.integrity() == []
        assert len(arc) == 2000
