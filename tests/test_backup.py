"""Archive.backup(): a consistent copy of a live archive (SQLite's online backup of index.db
at one snapshot, then every blob file that snapshot references, verified against the index).

Copying the files one by one can pair a WAL of one moment with an index.db or blobs/ of
another (see test_upgrade's copy_mid_batch); the backup must open and pass audit() even
while another process writes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobarchive import Archive, ArchiveError
from jobarchive.exceptions import BlobIntegrityError

BATCH = 20


def job(i: int) -> dict:
    """Job ``i``, always the same record (so a copy can be checked job by job)."""
    return {"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": [f"t{i % 3}"],
            "client_info": {"name": "qiskit-terra", "version": "0.16.1"},
            "result": {"results": [{"shots": 10, "data": {"counts": {hex(i % 8): 10}}}]},
            "qobj": {"qobj_id": f"q{i}", "experiments": []}}


WRITER = f"""
    import sys
    from pathlib import Path
    sys.path.insert(0, {str(Path(__file__).parent)!r})
    from test_backup import job
    from jobarchive import Archive
    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    arc = Archive(path)
    n = 0
    while n < 4000 and not stop.exists():
        # A new blob file and {BATCH} rows a batch, one transaction each; every 5th batch
        # updates earlier jobs too (the same records: an update that changes nothing).
        batch = [job(n + k) for k in range({BATCH})]
        if n and n % 100 == 0:
            arc.add_many(batch + [job(k) for k in range(0, n, 7)])
        else:
            arc.add_many(batch)
        n += {BATCH}
        if n == {BATCH}:
            print("READY", flush=True)
    arc.close()
    print("DONE", n, flush=True)
"""


def check_copy(dest: Path, result) -> int:
    """The backup opens, audits clean, holds whole batches, each job as written."""
    assert result.path == dest
    with Archive(dest, create=False) as copy:
        n = len(copy)
        assert n == result.jobs and n % BATCH == 0 and n > 0  # one commit, never half a batch
        frame = copy.audit(verify=True)
        assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")[:3]
        assert frame.attrs["orphans"] == [] and frame.attrs["index_problems"] == []
        assert frame.attrs["foreign_files"] == []
        assert frame.attrs["summary"]["blobs"] == result.blobs
        assert sorted(copy.query(limit=None)["job_id"]) == [job(i)["job_id"] for i in range(n)]
        for i in list(range(0, n, 13)) + [n - 1]:
            rec = copy.record(job(i)["job_id"])
            assert rec["result"] == job(i)["result"] and rec["qobj"] == job(i)["qobj"]
        assert copy.index.tag_counts() == {f"t{k}": len(range(k, n, 3)) for k in range(3)}
    assert result.bytes == sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    assert result.problems == []
    return n


def test_backup_while_another_process_writes_opens_and_audits_clean(tmp_path):
    src = tmp_path / "src"
    Archive(src).close()
    stop = tmp_path / "stop"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(src), str(stop)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()[-3000:]
        sizes = []
        with Archive(src) as arc:
            for k in range(4):
                dest = tmp_path / f"copy{k}"
                sizes.append(check_copy(dest, arc.backup(dest)))
        stop.touch()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    finally:
        stop.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    total = int(out.split()[-1])
    assert sizes == sorted(sizes) and sizes[-1] <= total
    assert total > sizes[0], "the writer wrote nothing during the backups"
    # And of the finished archive: everything.
    with Archive(src) as arc:
        assert check_copy(tmp_path / "final", arc.backup(tmp_path / "final")) == total


def test_backup_refuses_a_dest_that_is_not_empty(tmp_path):
    with Archive(tmp_path / "src") as arc:
        arc.add_many([job(i) for i in range(BATCH)])
        full = tmp_path / "full"
        full.mkdir()
        (full / "note.txt").write_text("mine")
        with pytest.raises(ArchiveError, match="not empty.*new or empty directory"):
            arc.backup(full)
        assert [p.name for p in full.iterdir()] == ["note.txt"]  # untouched
        afile = tmp_path / "afile"
        afile.write_text("x")
        with pytest.raises(ArchiveError, match="is a file"):
            arc.backup(afile)
        with pytest.raises(ArchiveError, match="inside the archive"):
            arc.backup(tmp_path / "src" / "bk")
        with pytest.raises(ArchiveError, match="is the archive"):
            arc.backup(tmp_path / "src")
        empty = tmp_path / "empty"
        empty.mkdir()
        check_copy(empty, arc.backup(empty))  # an empty directory is fine
        check_copy(tmp_path / "a" / "b", arc.backup(tmp_path / "a" / "b"))  # parents made


def _damage(tmp_path: Path) -> tuple[Archive, dict[str, set[str]]]:
    arc = Archive(tmp_path / "src")
    for start in range(0, 4 * BATCH, BATCH):
        arc.add_many([job(i) for i in range(start, start + BATCH)])
    by_blob: dict[str, set[str]] = {}
    for job_id, path, _ in arc.index.locations(None):
        by_blob.setdefault(path, set()).add(job_id)
    first, second = sorted(by_blob)[:2]
    (arc.path / first).unlink()  # a lost file
    target = arc.path / second  # bit rot: same size, other bytes
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return arc, {first: by_blob[first], second: by_blob[second]}


def test_backup_of_a_damaged_archive_says_so(tmp_path):
    arc, damaged = _damage(tmp_path)
    (missing, missing_jobs), (altered, altered_jobs) = sorted(damaged.items())
    with arc:
        with pytest.raises(BlobIntegrityError) as info:
            arc.backup(tmp_path / "copy")
        text = str(info.value)
        assert missing in text and altered in text and "missing" in text and "SHA-256" in text
        assert f"{len(missing_jobs) + len(altered_jobs)} jobs" in text and "allow_damaged=True" in text
        assert not (tmp_path / "copy").exists()  # nothing half made
        assert [p.name for p in tmp_path.iterdir() if p.name != "src"] == []

        result = arc.backup(tmp_path / "copy", allow_damaged=True)
        assert len(result.problems) == 2
        assert any(missing in p and "missing" in p for p in result.problems)
        assert any(altered in p and "SHA-256" in p for p in result.problems)
        assert result.jobs == 4 * BATCH and result.blobs == 2
    with Archive(tmp_path / "copy", create=False) as copy:
        frame = copy.audit()
        bad = set(frame[~frame["ok"]]["job_id"])
        assert bad == missing_jobs | altered_jobs  # the copy says what it lacks, nothing more
        # The damage was not copied: the altered file is absent from the backup.
        assert not (copy.path / altered).exists() and not (copy.path / missing).exists()
        assert len(copy) == 4 * BATCH


def test_backup_result_is_json_friendly(tmp_path):
    with Archive(tmp_path / "src") as arc:
        arc.add_many([job(i) for i in range(BATCH)])
        result = arc.backup(tmp_path / "copy")
    summary = result.as_dict()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["path"] == str(tmp_path / "copy") and summary["jobs"] == BATCH


FULL_DISK = """
    import json, os, resource, sys
    from pathlib import Path
    from jobarchive import Archive, ArchiveError
    src, root = Path(sys.argv[1]), Path(sys.argv[2])
    out = []
    for limit in map(int, sys.argv[3:]):  # the index copy, then a blob copy, hits a full disk
        arc = Archive(src)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        try:
            arc.backup(root / f"full-{limit}")
            out.append(None)
        except ArchiveError as err:
            out.append([type(err).__name__, isinstance(err, OSError), str(err)])
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            arc.close()
    print(json.dumps(out))
"""


def test_backup_on_a_full_disk_says_so_and_leaves_nothing(tmp_path):
    import random

    rng = random.Random(5)
    wide = {hex(rng.getrandbits(40)): rng.randint(1, 9) for _ in range(6000)}  # a blob bigger than index.db
    with Archive(tmp_path / "src") as arc:
        arc.add_many([job(i) for i in range(BATCH)])
        arc.add(dict(job(BATCH), result={"results": [{"shots": 10, "data": {"counts": wide}}]}))
        sizes = arc.backup(tmp_path / "measure")
    index_size = (tmp_path / "measure" / "index.db").stat().st_size
    biggest = max(f.stat().st_size for f in (tmp_path / "measure" / "blobs").iterdir())
    assert biggest > index_size + 1 and sizes.problems == []
    root = tmp_path / "dests"
    root.mkdir()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(FULL_DISK), str(tmp_path / "src"),
                           str(root), str(index_size // 2), str(index_size + 1)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    assert len(results) == 2
    for kind, is_os_error, text in results:
        assert (kind, is_os_error) == ("ArchiveWriteError", True), text
        assert "Free disk space" in text or "free disk space" in text
    assert list(root.iterdir()) == []  # no partial backup left behind


def test_backup_retries_when_a_blob_of_its_snapshot_is_repaired_away(tmp_path, monkeypatch):
    """Between the index snapshot and the blob copies, every job of a blob is updated with
    new payloads (the old blob is no longer needed) and audit(repair=True) deletes it: the
    backup's snapshot still wants it. The archive is intact: the backup takes a new
    snapshot instead of calling it damaged."""
    from jobarchive.store.blobs import BlobStore

    path = tmp_path / "src"
    with Archive(path) as arc:
        arc.add_many([job(i) for i in range(BATCH)])
        arc.add_many([job(i) for i in range(BATCH, 2 * BATCH)])
        real = BlobStore.copy_verified
        done = []

        def copy_after_repair(self, rel, sha256, size, root):
            if not done:
                done.append(rel)
                with Archive(path) as other:  # another process, in effect
                    others = [j for j, p, _ in other.index.locations(None) if p == rel]
                    other.add_many([dict(job(int(j[3:])), result={"results": [
                        {"shots": 10, "data": {"counts": {"0x7": 10}}}]}) for j in others])
                    assert rel in other.audit(repair=True).attrs["removed_orphans"]
            return real(self, rel, sha256, size, root)

        monkeypatch.setattr(BlobStore, "copy_verified", copy_after_repair)
        result = arc.backup(tmp_path / "copy")
    assert result.problems == []
    with Archive(tmp_path / "copy", create=False) as copy:
        frame = copy.audit()
        assert frame["ok"].all() and len(copy) == 2 * BATCH
        assert not (copy.path / done[0]).exists()


def test_backup_inside_a_write_transaction_is_refused(tmp_path):
    """SQLite's backup reads through this thread's connection, which shows its own open
    transaction: the copy held rows that were rolled back afterwards."""
    with Archive(tmp_path / "arc") as arc:
        arc.add(job(1))
        with pytest.raises(RuntimeError, match="given up"):
            with arc.index.transaction():
                arc.add(job(2))
                with pytest.raises(ArchiveError, match="not committed"):
                    arc.backup(tmp_path / "inside")
                raise RuntimeError("given up")  # job 2 is rolled back
        assert not (tmp_path / "inside").exists() and len(arc) == 1
        assert arc.backup(tmp_path / "after").jobs == 1
    with Archive(tmp_path / "after") as copy:
        assert list(copy.query(limit=None)["job_id"]) == ["job00000001"]
        assert copy.audit()["ok"].all()
