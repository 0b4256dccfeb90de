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


@pytest.mark.timeout(60)
def test_a_fork_while_another_thread_is_inside_an_sqlite_call_does_not_hang_the_child(tmp_path):
    """Python drops the parent's other threads in the child at the fork itself, and with
    them their connections, whose finalizer closed the copy: the copy's mutex was held by
    the thread inside SQLite (a query's step), and the child hung in os.fork() for good, even
    one that never used the archive (a pool worker for other work)."""
    arc = Archive(tmp_path / "a")
    arc.add_many(_jobs(0, 10))
    inside, go_on = threading.Event(), threading.Event()

    def in_sqlite() -> int:  # called by SQLite inside its step, the connection's mutex held
        inside.set()
        go_on.wait()
        return 1

    def reader() -> None:
        conn = arc.index.conn
        conn.create_function("in_sqlite", 0, in_sqlite)
        conn.execute("SELECT in_sqlite()").fetchall()

    thread = threading.Thread(target=reader)
    thread.start()
    pid = None
    try:
        assert inside.wait(60)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.write(write_end, b"forked\n")
            atexit._run_exitfuncs()
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            assert pipe.read().strip() == "forked"
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        pid = None
    finally:
        if pid is not None:  # hung: end it, or the test run would wait for it
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        go_on.set()
        thread.join()
        arc.close()
