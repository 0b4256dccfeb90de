"""A process forked while another thread of it is inside a write transaction on the archive
(a notebook starting a multiprocessing pool while a background thread syncs or adds jobs).

The child holds a copy of that thread's connection. Closing the copy (the child's first use
of the archive, its close(), or its exit through Python's atexit) rolled the copy's half of
the transaction back, and SQLite's rollback clears the shared WAL index entries of the pages
the writer had already spilled to the WAL: the parent's commit then went through, and the
index was damaged for good ("btreeInitPage() returns error code 11" on 68 pages, 2,000 of
12,000 acknowledged jobs readable). The copy must never be closed; the child is told clearly
that it cannot use the archive, and the parent's commit stays whole."""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from jobarchive import Archive
from jobarchive.exceptions import ArchiveError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

BASE = datetime(2021, 1, 1, tzinfo=UTC)


def _jobs(start: int, stop: int) -> list[dict]:
    return [{"job_id": f"j{i:06d}", "creation_date": (BASE + timedelta(minutes=i)).isoformat(),
             "status": "COMPLETED", "name": f"n{i}", "tags": [f"t{i % 5}"]} for i in range(start, stop)]


def _fork_inside_a_write(path, child) -> str:
    """Add 2,000 jobs, then fork while a writer thread is inside the transaction of 10,000
    more (its pages spilled to the WAL: a small page cache); ``child(arc)`` runs in the
    child, whose report (one line) is returned. The writer commits after the child ended."""
    arc = Archive(path)
    arc.add_many(_jobs(0, 2000))
    inside, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            arc.index.conn.execute("PRAGMA cache_size = 20")
            with arc.index.transaction():
                arc.add_many(_jobs(2000, 12000))
                inside.set()
                go_on.wait()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)
            inside.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(60)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then run what Python's normal exit runs
            os.close(read_end)
            try:
                report = child(arc)
            except BaseException as err:  # noqa: BLE001 - the parent checks the text
                report = f"{type(err).__name__}: {err}"
            os.write(write_end, report.replace("\n", " ").encode() + b"\n")
            os.close(write_end)
            atexit._run_exitfuncs()  # weakref.finalize's hook among them
            os._exit(0)  # not sys.exit: pytest would go on running tests in the child
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = pipe.read().strip()
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        go_on.set()
        thread.join()
        arc.close()
    assert not errors, errors
    return report


def _assert_whole(path) -> None:
    """Every job readable, the file sound, also once the WAL is copied into it."""
    conn = sqlite3.connect(path / "index.db")
    try:
        for _ in range(2):
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 12000
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    with Archive(path) as arc:
        assert len(arc) == 12000
        assert arc.get("j011999").name() == "n11999"


def test_a_child_that_never_uses_the_archive_leaves_the_parents_write_whole(tmp_path):
    report = _fork_inside_a_write(tmp_path / "a", lambda arc: "done")
    assert report == "done"
    _assert_whole(tmp_path / "a")


def test_a_child_using_the_archive_is_told_why_it_cannot_and_the_write_stays_whole(tmp_path):
    report = _fork_inside_a_write(tmp_path / "a", lambda arc: f"read {len(arc)}")
    assert report.startswith("ArchiveError:"), report
    assert "forked" in report and "spawn" in report, report
    _assert_whole(tmp_path / "a")


def test_a_child_opening_the_archive_again_or_closing_it_is_refused_the_same_way(tmp_path):
    def child(arc: Archive) -> str:
        arc.close()
        try:
            Archive(arc.path)
        except ArchiveError as err:
            return f"refused: {err}"
        return "opened"

    report = _fork_inside_a_write(tmp_path / "a", child)
    assert report.startswith("refused:") and "forked" in report, report
    _assert_whole(tmp_path / "a")
