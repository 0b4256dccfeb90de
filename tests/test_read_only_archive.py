"""An archive on read-only media (a mounted backup disk, a read-only share, a colleague's
directory) can be read: query, get, counts, history, audit without repair and backup to a
writable place. Every write refuses with one clear ArchiveWriteError, before any file changes.

SQLite cannot open a WAL index there the usual way (it creates -wal/-shm beside it): every
open raised "unable to open database file", so nothing could be read at all.

The read-only view is a read-only bind mount (root) or the directory with write permission
removed (other users); the tests skip where neither is possible."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jobarchive import Archive, ArchiveError
from jobarchive.exceptions import ArchiveWriteError


def job(i: int, **extra) -> dict:
    return {"job_id": f"job{i:08d}", "creation_date": f"2022-01-{1 + i % 28:02d}T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": [f"t{i % 3}"],
            "name": f"run-{i}", "client_info": {"name": "qiskit-terra", "version": "0.16.1"},
            "result": {"results": [{"shots": 10, "data": {"counts": {hex(i % 8): 10}}}]},
            "qobj": {"qobj_id": f"q{i}", "experiments": [{}]}, **extra}


def _chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if writable else mode & ~0o222)


@pytest.fixture
def read_only(tmp_path):
    """read_only(src) -> a read-only view of directory ``src`` (undone at teardown)."""
    undo = []

    def view(src: Path) -> Path:
        if os.geteuid() != 0:
            _chmod_tree(src, writable=False)
            undo.append(lambda: _chmod_tree(src, writable=True))
            return src
        mnt = tmp_path / f"ro-{len(undo)}"
        mnt.mkdir()
        if subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True).returncode:
            pytest.skip("cannot bind-mount here (no CAP_SYS_ADMIN) and root ignores permissions")
        undo.append(lambda: subprocess.run(["umount", str(mnt)], check=True))
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], check=True)
        return mnt

    yield view
    for fn in reversed(undo):
        fn()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def written(path: Path) -> None:
    """Two batches (two blob files), a retag: jobs, events, tag counts."""
    with Archive(path) as arc:
        arc.add_many([job(i) for i in range(30)])
        arc.add_many([job(1, tags=["x"], name="renamed"), job(30)])


def check_reads(path: Path) -> None:
    with Archive(path, create=False) as arc:
        assert len(arc) == 31 and "job00000030" in arc
        frame = arc.query(job_tags=["x"])
        assert list(frame["job_id"]) == ["job00000001"]
        assert arc.get("job00000001").name() == "renamed"
        assert arc.record("job00000030")["result"] == job(30)["result"]
        counts = arc.counts(["job00000002", "job00000030"])
        assert list(counts["count"]) == [10, 10]
        assert list(arc.history("job00000001")["kind"]) == ["tags", "name"]
        audit = arc.audit(verify=True)
        assert audit["ok"].all() and len(audit) == 31 and audit.attrs["orphans"] == []
        # Another thread opens a connection of its own, read-only too.
        with ThreadPoolExecutor(1) as pool:
            assert len(pool.submit(arc.query, job_tags=["t0"]).result()) == 11


def test_cleanly_closed_archive_on_read_only_media_reads(tmp_path, read_only):
    src = tmp_path / "src"
    written(src / "lab archive é")  # a space and non-ASCII in the path (an SQLite URI)
    before = snapshot(src)
    check_reads(read_only(src) / "lab archive é")
    assert snapshot(src) == before


def test_archive_with_uncheckpointed_wal_on_read_only_media_reads_every_commit(tmp_path, read_only):
    src = tmp_path / "src"
    # A process killed before closing: its commits are in index.db-wal only.
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_read_only_archive import written
        from jobarchive import Archive
        from pathlib import Path
        Archive.close = lambda self: os._exit(0)
        written(Path({str(src / 'a')!r}))
        """)], check=True)
    assert (src / "a" / "index.db-wal").stat().st_size > 0
    check_reads(read_only(src) / "a")


def test_wal_without_shm_on_read_only_media_is_refused_not_read_stale(tmp_path, read_only):
    src = tmp_path / "src"
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os
        from jobarchive import Archive
        arc = Archive({str(src / 'a')!r})
        arc.add({job(1)!r})
        os._exit(0)
        """)], check=True)
    (src / "a" / "index.db-shm").unlink()  # SQLite rebuilds it from the WAL, given write access
    with pytest.raises(ArchiveError, match="index.db-wal.*Copy the archive directory"):
        Archive(read_only(src) / "a", create=False)


def test_every_write_to_a_read_only_archive_refuses_clearly_and_changes_nothing(tmp_path, read_only):
    src = tmp_path / "src"
    written(src / "a")
    before = snapshot(src)
    with Archive(read_only(src) / "a") as arc:
        writes = {
            "add": lambda: arc.add(job(40)),
            "add_many": lambda: arc.add_many([job(41), job(42)]),
            "retag": lambda: arc.retag(["job00000002"], additional_tags=["y"], progress=False),
            "audit repair": lambda: arc.audit(repair=True),
            "lock": lambda: arc.lock().__enter__(),
        }
        for name, write in writes.items():
            with pytest.raises(ArchiveWriteError, match="read-only here.*nothing was written"):
                write()
            assert len(arc) == 31, name
    assert snapshot(src) == before


def test_backup_of_a_read_only_archive_is_a_writable_archive(tmp_path, read_only):
    src = tmp_path / "src"
    written(src / "a")
    with Archive(read_only(src) / "a", create=False) as arc:
        result = arc.backup(tmp_path / "copy")
    assert result.jobs == 31 and result.problems == []
    check_reads(tmp_path / "copy")
    with Archive(tmp_path / "copy") as copy:
        copy.add(job(50))
        assert len(copy) == 32


def test_creating_an_archive_on_read_only_media_says_so(tmp_path, read_only):
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(ArchiveWriteError, match="cannot create the archive"):
        Archive(read_only(src) / "new.jobarchive")
    assert list(src.iterdir()) == []


def test_old_archive_on_read_only_media_asks_for_a_copy_instead_of_failing_to_upgrade(tmp_path, read_only):
    fixtures = Path(__file__).parent / "data" / "old_archives" / "f729e4e" / "fixture.zip"
    with zipfile.ZipFile(fixtures) as z:
        z.extractall(tmp_path / "src")
    before = snapshot(tmp_path / "src")
    with pytest.raises(ArchiveError, match="needs an upgrade.*Copy the archive directory"):
        Archive(read_only(tmp_path / "src") / "archive", create=False)
    assert snapshot(tmp_path / "src") == before
    shutil.copytree(tmp_path / "src" / "archive", tmp_path / "copy")
    with Archive(tmp_path / "copy", create=False) as arc:
        assert len(arc) == json.loads((tmp_path / "src" / "expected.json").read_text())["len"]


def test_backup_of_a_write_protected_archive_is_writable(tmp_path):
    # chmod -R a-w protects a finished archive. The backup copied the directory's mode, so it
    # was write-protected too: for any user but root its blobs/ could not even be created
    # (a bare PermissionError), and a backup made by root could not be restored into use.
    src = tmp_path / "src"
    written(src / "a")
    _chmod_tree(src / "a", writable=False)
    try:
        with Archive(src / "a", create=False) as arc:
            arc.backup(tmp_path / "copy")
    finally:
        _chmod_tree(src / "a", writable=True)
    assert (tmp_path / "copy").stat().st_mode & 0o700 == 0o700
    assert (tmp_path / "copy").stat().st_mode & 0o055 == 0o055  # the group's and others' read kept
    check_reads(tmp_path / "copy")


def test_a_read_only_archive_without_its_blob_folder_still_reads(tmp_path, read_only):
    """A copy of index.db alone (blobs/ left behind) on read-only media: BlobStore's mkdir
    of blobs/ raised a bare OSError, so nothing could be read; now the index reads and a
    job's result is a named missing blob."""
    src = tmp_path / "arc"
    with Archive(src) as arc:
        arc.add_many([job(i) for i in range(5)] + [job(9, result=None, qobj=None)])
    shutil.rmtree(src / "blobs")
    with Archive(read_only(src)) as arc:
        assert len(arc) == 6 and arc.get("job00000009").job_id() == "job00000009"
        with pytest.raises(ArchiveError, match="missing"):
            arc.get("job00000001")
        with pytest.raises(ArchiveWriteError, match="read-only"):
            arc.add(job(7))


def test_a_write_by_the_owner_while_read_only_readers_read_is_not_called_damage(tmp_path, read_only):
    """A write-protected archive is read as a file nobody changes (immutable) when no -wal
    holds commits. Its owner's sync meanwhile made the reader's next query fail as "damaged
    ... delete index.db-wal ... restore index.db from a backup", advice that would destroy
    the owner's commits. It now says what happened, and a new open reads the new state."""
    src = tmp_path / "arc"
    big = "x" * 200  # rows across many pages, so the owner's writes move pages under the reader
    with Archive(src) as arc:
        arc.add_many([job(i, name=big) for i in range(3000)])
    view = read_only(src)
    reader = Archive(view)
    try:
        assert len(reader) == 3000
        with Archive(src) as owner:
            owner.add(job(9999))  # one small commit: stale rows, no error of SQLite's own
            with pytest.raises(ArchiveError, match="changed while this process read it"):
                reader.query(limit=None)
            for k in range(5):
                owner.add_many([job(i, name=big) for i in range(10_000 + 3000 * k, 13_000 + 3000 * k)])
            with pytest.raises(ArchiveError, match="changed while this process read it") as err:
                reader.query(limit=None)
            assert "restore" not in str(err.value) and "not damaged" in str(err.value)
    finally:
        reader.close()
    with Archive(view) as again:  # the owner has closed: its commits are in index.db
        assert len(again) == 18_001
