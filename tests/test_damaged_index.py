"""A damaged index file: every read names the damage and the way out (IndexIntegrityError),
never SQLite's bare "database disk image is malformed"; ``Index.integrity()`` finds it."""

from __future__ import annotations

import sqlite3

import pytest

from jobarchive import Archive, ArchiveError, IndexIntegrityError


def _job(i: int) -> dict:
    return {"job_id": f"d{i:05d}", "creation_date": f"2021-03-{1 + i % 28:02d}T10:00:00Z",
            "status": "COMPLETED", "kind": "q-object-external-storage", "tags": [f"t{i % 7}"],
            "backend_name": "ibmq_athens", "name": "bell " * 40,  # room: the jobs table spans pages
            "result": {"results": [{"data": {"counts": {"0x0": i, "0x3": 1}}}]}}


@pytest.fixture
def damaged(tmp_path):
    path = tmp_path / "arc"
    with Archive(path) as arc:
        arc.add_many([_job(i) for i in range(2000)])
        assert arc.index.integrity() == []  # sound before
    conn = sqlite3.connect(path / "index.db")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path / "index.db", "r+b") as fh:  # the jobs table's root page: an invalid page type
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * 16)
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
