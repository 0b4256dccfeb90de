"""The archive's write lock and os.fork() (multiprocessing forks on Linux): a child never
keeps the parent's lock, and never closes a file of its own in the lock's name.

A child forked by another thread while a sync holds the lock: tests/test_sync_fork.py."""

from __future__ import annotations

import os

import pytest

from jobarchive import Archive

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_a_child_forked_inside_the_lock_neither_keeps_it_nor_closes_its_own_files(tmp_path):
    with Archive(tmp_path / "a") as arc:
        go_r, go_w = os.pipe()  # the parent tells the child when to end
        said_r, said_w = os.pipe()
        with arc.lock():
            pid = os.fork()
            if pid == 0:
                # The lock's fd was closed in the child at the fork: this open may reuse it.
                mine = open(tmp_path / "mine.txt", "w")  # noqa: SIM115 - outlives the with
        if pid == 0:  # the child, now out of the parent's `with arc.lock()`
            code = 1
            try:
                mine.write("still open")
                mine.flush()  # EBADF if leaving the lock closed the reused fd
                code = 0
            finally:
                os.write(said_w, bytes([code]))
                os.read(go_r, 1)  # lives on while the parent works
                os._exit(code)
        try:
            assert os.read(said_r, 1) == b"\x00"
            # The parent's lock ended; the child still lives. ArchiveLockedError here if its
            # copy of the fd kept the lock.
            with Archive(tmp_path / "a") as other, other.lock():
                pass
        finally:
            os.write(go_w, b"x")
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        assert code == 0
