"""A backup killed mid-copy (SIGKILL, a power cut, a batch scheduler's hard limit) leaves
its partial copy in a hidden ``.<dest>.partial-*`` directory beside the destination: a whole
archive's size each time. The next backup to that destination removes such leftovers, never
the partial copy of a backup still running in another process."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from jobarchive import Archive

KILLED_BACKUP = textwrap.dedent("""
    import os, signal, sys
    from jobarchive import Archive
    from jobarchive.store.blobs import BlobStore
    copy = BlobStore.copy_verified
    def copy_then_die(self, *args, **kwargs):
        out = copy(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # after the first blob file: mid-copy
        return out
    BlobStore.copy_verified = copy_then_die
    Archive(sys.argv[1]).backup(sys.argv[2])
""")

HELD = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("READY", flush=True)
    sys.stdin.read()
""")


def job(i: int) -> dict:
    return {"job_id": f"k{i:05d}", "creation_date": "2022-01-01T00:00:00Z", "status": "COMPLETED",
            "tags": ["t"], "result": {"results": [{"shots": 4, "data": {"counts": {"0x1": 4}}}]}}


def _partials(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.partial-*"))


def test_the_next_backup_removes_what_a_killed_one_left(tmp_path):
    src, dest = tmp_path / "arc", tmp_path / "backups" / "monday"
    with Archive(src) as arc:
        for start in range(0, 30, 10):  # three blob files
            arc.add_many([job(i) for i in range(start, start + 10)])
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", KILLED_BACKUP, str(src), str(dest)])
        assert run.returncode == -signal.SIGKILL
    left = _partials(dest)  # the second run removed the first one's leftover
    assert len(left) == 1 and (left[0] / "index.db").exists(), left
    assert not dest.exists()
    with Archive(src) as arc:
        arc.backup(dest)
    assert _partials(dest) == []
    with Archive(dest) as copy:
        assert len(copy) == 30 and copy.audit()["ok"].all()


def test_a_partial_copy_of_a_running_backup_is_left_alone(tmp_path):
    src, dest = tmp_path / "arc", tmp_path / "monday"
    with Archive(src) as arc:
        arc.add_many([job(i) for i in range(5)])
    running = tmp_path / ".monday.partial-live"
    running.mkdir()
    (running / "index.db").write_bytes(b"being copied")
    holder = subprocess.Popen([sys.executable, "-c", HELD, str(running)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "READY"
        with Archive(src) as arc:
            arc.backup(dest)
        assert _partials(dest) == [running] and (running / "index.db").read_bytes() == b"being copied"
    finally:
        holder.communicate("")
    with Archive(dest, create=False) as copy:
        assert len(copy) == 5
