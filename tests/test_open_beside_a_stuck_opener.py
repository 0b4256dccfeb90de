"""Opening an archive while another process is stuck opening it (stopped with Ctrl-Z or
SIGSTOP, or hung in a migration of a large archive) must give up after the archive's
busy_timeout with ArchiveLockedError saying what holds it and what to do, not wait forever
(the checks and migrations of processes opening one archive run one at a time)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobarchive import Archive, ArchiveLockedError

# The child opens the archive and hangs inside the open, where it holds the directory lock.
_HANG_IN_OPEN = textwrap.dedent("""
    import sys, time
    from jobarchive.store import index
    def hang(self):
        print("IN", flush=True)
        time.sleep(3600)
    index.Index._migrate = hang
    from jobarchive import Archive
    Archive(sys.argv[1])
""")


@contextlib.contextmanager
def stopped_opener(path: Path) -> Iterator[None]:
    """Another process stopped (SIGSTOP) inside its open of the archive at ``path``."""
    child = subprocess.Popen([sys.executable, "-c", _HANG_IN_OPEN, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "IN", child.stderr.read()
        os.kill(child.pid, signal.SIGSTOP)
        yield
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()


@pytest.mark.timeout(60)
def test_opening_beside_a_stopped_opener_gives_up_with_a_clear_error(tmp_path):
    path = tmp_path / "a"
    Archive(path).close()
    with stopped_opener(path), pytest.raises(ArchiveLockedError) as info:
        Archive(path, busy_timeout=0.2)
    message = str(info.value)
    assert str(path) in message
    assert "another process" in message and "opening" in message
    assert "busy_timeout" in message
    # Once the stuck process is gone, the archive opens and works.
    with Archive(path, busy_timeout=0.2) as arc:
        assert len(arc) == 0
