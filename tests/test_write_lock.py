"""The archive's write lock (sync and retag hold it): held by one process at a time, by one
thread of it at a time, and never by a forked child, whatever way it was forked.

An flock belongs to the open file, which a forked child shares: a child forked without
Python's at-fork hooks (fork() from C, as ctypes or an extension may call it) kept the lock
after the parent released it, and the parent's next lock() said ArchiveLockedError."""

from __future__ import annotations

import ctypes
import fcntl
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from jobarchive import Archive, ArchiveLockedError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

_libc = ctypes.CDLL(None, use_errno=True)


def _c_fork() -> int:
    """fork(2) straight from libc: Python's at-fork hooks do not run in the child."""
    pid = _libc.fork()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork failed")
    return pid


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.parametrize("fork", [os.fork, _c_fork], ids=["os.fork", "libc-fork"])
def test_a_child_forked_inside_the_lock_does_not_keep_it(tmp_path, fork):
    with Archive(tmp_path / "a") as arc:
        go_r, go_w = os.pipe()
        with arc.lock():
            pid = fork()
            if pid == 0:  # lives on, doing nothing with the archive, until told
                os.read(go_r, 1)
                os._exit(0)
        try:
            # The parent released it: the same archive, another Archive of it, and another
            # process can take it at once (timeout 0) while the child lives.
            with arc.lock():
                pass
            with Archive(tmp_path / "a") as other, other.lock():
                pass
            assert _try_in_process(tmp_path / "a") == "LOCKED-OK"
        finally:
            os.write(go_w, b"x")
            assert _wait(pid) == 0


@pytest.mark.parametrize("fork", [os.fork, _c_fork], ids=["os.fork", "libc-fork"])
def test_a_child_forked_while_another_thread_holds_the_lock_can_take_it_later(tmp_path, fork):
    """The child's copy of the parent's state must not make it wait for a holder (a thread
    of the parent) that does not exist in the child; nor does the child hold the lock."""
    with Archive(tmp_path / "a") as arc:
        held, release = threading.Event(), threading.Event()

        def holder() -> None:
            with arc.lock():
                held.set()
                release.wait(30)

        thread = threading.Thread(target=holder)
        thread.start()
        assert held.wait(30)
        said_r, said_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = fork()
        if pid == 0:
            code = 9
            try:
                try:
                    with arc.lock(timeout=0):  # the parent's thread holds it
                        code = 1
                except ArchiveLockedError:
                    code = 2
                os.write(said_w, bytes([code]))
                os.read(go_r, 1)  # the parent has released it now
                with arc.lock(timeout=20):
                    code = 0
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        try:
            assert os.read(said_r, 1) == b"\x02"  # refused while the parent holds it
        finally:
            release.set()
            thread.join()
            os.write(go_w, b"x")
        assert _wait(pid) == 0  # and took it once released


def _try_in_process(path) -> str:
    code = textwrap.dedent("""
        import sys
        from jobarchive import Archive, ArchiveLockedError
        try:
            with Archive(sys.argv[1]) as arc, arc.lock(timeout=0):
                print("LOCKED-OK")
        except ArchiveLockedError:
            print("BUSY")
    """)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_another_process_is_refused_while_held_and_a_failed_attempt_in_process_keeps_it(tmp_path):
    """A lock attempt that fails in this process (another thread or Archive holds the lock)
    must not release it: POSIX record locks drop when the process closes ANY fd of the file."""
    path = tmp_path / "a"
    with Archive(path) as arc, Archive(path) as other:
        with arc.lock():
            with pytest.raises(ArchiveLockedError):
                with other.lock(timeout=0):
                    pass
            with pytest.raises(ArchiveLockedError):
                with arc.lock(timeout=0.2):  # not reentrant, as before
                    pass
            assert _try_in_process(path) == "BUSY"
        assert _try_in_process(path) == "LOCKED-OK"


def test_an_older_version_holding_an_flock_is_respected_both_ways(tmp_path):
    """Versions before this one lock with flock: each must see the other's lock."""
    path = tmp_path / "a"
    with Archive(path) as arc:
        fd = os.open(path / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an older sync holds it
            with pytest.raises(ArchiveLockedError):
                with arc.lock(timeout=0):
                    pass
            fcntl.flock(fd, fcntl.LOCK_UN)
            with arc.lock():
                with pytest.raises(BlockingIOError):  # an older sync is refused meanwhile
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


WORKER = """
    import os, sys, time
    from pathlib import Path
    from jobarchive import Archive
    path, n = Path(sys.argv[1]), int(sys.argv[2])
    inside, counter = path / "inside", path / "counter"
    overlaps = 0
    with Archive(path) as arc:
        for _ in range(n):
            with arc.lock(timeout=None):
                try:
                    os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    overlaps += 1  # someone else is inside too
                value = int(counter.read_text())
                time.sleep(0.001)  # a read-modify-write that a second holder would break
                counter.write_text(str(value + 1))
                inside.unlink(missing_ok=True)
    print(overlaps)
"""


def test_processes_and_threads_never_hold_the_lock_at_once(tmp_path):
    path = tmp_path / "a"
    Archive(path).close()
    (path / "counter").write_text("0")
    n = 25
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WORKER), str(path), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    overlaps = []

    def in_thread() -> None:  # threads of this process, each with its own Archive
        with Archive(path) as arc:
            for _ in range(n):
                with arc.lock(timeout=None):
                    try:
                        os.close(os.open(path / "inside", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    except FileExistsError:
                        overlaps.append(1)
                    value = int((path / "counter").read_text())
                    (path / "counter").write_text(str(value + 1))
                    (path / "inside").unlink(missing_ok=True)

    threads = [threading.Thread(target=in_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        overlaps.append(int(out))
    assert sum(overlaps) == 0
    assert int((path / "counter").read_text()) == 5 * n


def test_a_child_forked_while_an_archive_is_being_opened_does_not_block_later_opens(tmp_path):
    """Opening an archive takes an flock on its directory (checks and migrations of
    processes opening it at once run one at a time). A child forked meanwhile (another
    thread starting a multiprocessing pool) shares it: closing the parent's fd did not
    release it, and every later open, in any process, waited for that child to exit."""
    from jobarchive.store import index as index_mod

    path = tmp_path / "a"
    Archive(path).close()
    go_r, go_w = os.pipe()
    with index_mod._opening(path):  # as Index.__init__ holds it
        pid = os.fork()
        if pid == 0:
            os.read(go_r, 1)  # a long-lived worker
            os._exit(0)
    try:
        code = textwrap.dedent("""
            import sys
            from jobarchive import Archive
            Archive(sys.argv[1]).close()
            print("OPENED")
        """)
        try:
            out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                                 text=True, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("opening the archive waited for the forked child's copy of the lock")
        assert out.stdout.strip() == "OPENED", out.stderr[-3000:]
    finally:
        os.write(go_w, b"x")
        assert _wait(pid) == 0
