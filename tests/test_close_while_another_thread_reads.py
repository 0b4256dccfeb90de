"""Archive.close() while another thread is in the middle of a read (a notebook closing the
archive while a widget callback's query streams its batches, or inside a snapshot).

The reader got SQLite's bare "ProgrammingError: Cannot operate on a closed database." from
query(), and from the end of a snapshot; it must get the archive's own error, which says
the archive was closed and how to go on, as every later read of every thread does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from jobarchive import Archive
from jobarchive.exceptions import ArchiveError
from jobarchive.query import build_filter
from jobarchive.store.index import QUERY_COLUMNS

BASE = datetime(2021, 1, 1, tzinfo=UTC)


def _archive(path) -> Archive:
    arc = Archive(path)
    arc.add_many([{"job_id": f"j{i:04d}", "creation_date": (BASE + timedelta(minutes=i)).isoformat(),
                   "status": "COMPLETED", "name": f"n{i}"} for i in range(100)])
    return arc


def _in_a_thread(arc: Archive, read) -> BaseException | None:
    """``read(pause)`` in another thread, ``pause()`` being where the main thread closes the
    archive; what the read raised, if anything."""
    paused, closed = threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def pause() -> None:
        paused.set()
        closed.wait()

    def run() -> None:
        try:
            read(pause)
        except BaseException as err:  # noqa: BLE001 - the test looks at it
            raised.append(err)
        paused.set()

    thread = threading.Thread(target=run)
    thread.start()
    paused.wait()
    arc.close()
    closed.set()
    thread.join()
    return raised[0] if raised else None


def _assert_says_closed(err: BaseException | None, arc: Archive) -> None:
    assert isinstance(err, ArchiveError), repr(err)
    assert "was closed" in str(err) and "Archive(path)" in str(err)
    assert str(arc.path) in str(err)


def test_a_query_streaming_its_batches_says_the_archive_was_closed(tmp_path):
    arc = _archive(tmp_path / "a")

    def read(pause) -> None:
        batches = arc.index.iter_select(build_filter(), QUERY_COLUMNS, 10)  # as query() reads
        next(batches)
        pause()
        list(batches)

    _assert_says_closed(_in_a_thread(arc, read), arc)


def test_a_snapshot_ending_after_the_close_says_the_archive_was_closed(tmp_path):
    arc = _archive(tmp_path / "a")

    def read(pause) -> None:
        with arc.snapshot():
            assert len(arc.query()) == 100
            pause()

    _assert_says_closed(_in_a_thread(arc, read), arc)
