"""Rows that an older jobarchive writes into an archive after this version upgraded it.

An older process that opened the archive before the upgrade (a notebook kernel, a long
sync) goes on writing with its own code: share_level NULL for a job without a level (m004
gives every row "none"), a client without a version as "name==None" (m005), and, before
m003, no tag_counts for its tags. audit() flags them; audit(repair=True) rewrites them in
one transaction as the current write path would; a second audit is clean.

The old code is the project's own history (``git archive <commit> jobarchive``), run in a
real process with the archive open, as test_upgrade's fixtures were written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobarchive import Archive

REPO = Path(__file__).resolve().parents[1]
# 20a293a: before m003 (no tag_counts) and m004 (share_level NULL); 8f8a5c0: keeps
# tag_counts, still writes NULL share levels (before m004) and "name==None" (before m005).
REVS = ["20a293a", "8f8a5c0"]


@pytest.fixture(scope="module")
def old_code(tmp_path_factory):
    def get(rev: str) -> Path:
        dest = tmp_path_factory.getbasetemp() / f"h2-old-{rev}"
        if not dest.exists():
            if shutil.which("git") is None or not (REPO / ".git").exists():
                pytest.skip("needs the project's git history")
            tmp = dest.with_name(dest.name + ".part")
            tmp.mkdir()
            proc = subprocess.run(f"git -C {REPO} archive {rev} jobarchive schemas | tar -x -C {tmp}",
                                  shell=True, capture_output=True, text=True)
            if proc.returncode:
                pytest.skip(f"commit {rev} is not in this checkout: {proc.stderr.strip()}")
            tmp.rename(dest)
        return dest
    return get


def job(i: int, **extra) -> dict:
    record = {"job_id": f"old{i:05d}", "creation_date": f"2021-03-{1 + i % 28:02d}T10:00:00Z",
              "status": "COMPLETED", "backend_name": "ibmq_lima", "tags": [f"t{i % 3}", "all"],
              "client_info": {"name": "qiskit", "version": "0.23.0"},
              "result": {"results": [{"shots": 8, "data": {"counts": {"0x1": 8}}}]},
              "qobj": {"qobj_id": f"q{i}", "experiments": [{}]}}
    record.update(extra)
    return record


OLD_WRITER = """
    import json, sys
    from jobarchive import Archive
    path = sys.argv[1]
    arc = Archive(path)  # opened before the upgrade: its code and schema checks ran then
    arc.add_many(json.loads(sys.stdin.readline()))
    print("OPEN", flush=True)
    arc.add_many(json.loads(sys.stdin.readline()))  # after another process upgraded it
    print("WROTE", flush=True)
    arc.close()
"""


def write_old_then_upgrade(old: Path, path: Path, before: list[dict], after: list[dict]) -> None:
    import os

    env = dict(os.environ, PYTHONPATH=str(old))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(OLD_WRITER), str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=old)
    try:
        proc.stdin.write(json.dumps(before) + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "OPEN", proc.stderr.read()[-3000:]
        Archive(path, create=False).close()  # this version upgrades it (m003.. run now)
        proc.stdin.write(json.dumps(after) + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "WROTE", proc.stderr.read()[-3000:]
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def expected_tag_counts(jobs: dict[str, dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in jobs.values():
        for tag in dict.fromkeys(record["tags"]):
            counts[tag] = counts.get(tag, 0) + 1
    return counts


@pytest.mark.parametrize("rev", REVS)
def test_rows_an_old_version_writes_after_the_upgrade_are_flagged_and_repaired(rev, tmp_path, old_code):
    path = tmp_path / "a"
    before = [job(i) for i in range(6)]
    after = [job(10, share_level=None, tags=["new-tag", "all"]),           # no level: "none"
             job(11, client_info={"name": "qiskit", "version": None}),     # "qiskit==None"
             job(12, share_level="global", tags=["new-tag"]),             # a level: kept
             job(2, tags=["t0", "retagged"], name="renamed")]              # an update
    for record in after[:2]:
        record.pop("share_level", None)
    write_old_then_upgrade(old_code(rev), path, before, after)
    final = {r["job_id"]: r for r in before + after}

    with Archive(path, create=False) as arc:
        frame = arc.audit()
        bad = frame[~frame["ok"]].set_index("job_id")["problem"]
        assert "share_level" in bad["old00010"] and "client_version" in bad["old00011"]
        assert "share_level" in bad["old00011"]
        if rev == "20a293a":  # the old code kept no tag_counts: the new tags are not counted
            found = frame.attrs["tag_count_problems"]
            assert any("new-tag" in p for p in found) and any("retagged" in p for p in found)
            assert frame.attrs["summary"]["tag_count_problems"] == len(found)

        repaired = arc.audit(repair=True)
        assert repaired["ok"].all(), repaired[~repaired["ok"]].to_dict("records")
        assert repaired.attrs["repaired_rows"] >= 2
        assert repaired.attrs["tag_count_problems"] == []

        again = arc.audit()
        assert again["ok"].all() and again.attrs["tag_count_problems"] == []
        assert again.attrs["summary"]["tag_count_problems"] == 0
        assert arc.index.tag_counts() == expected_tag_counts(final)
        levels = dict(zip(*(arc.query(limit=None)[c] for c in ("job_id", "share_level")), strict=True))
        assert levels["old00010"] == levels["old00011"] == "none" and levels["old00012"] == "global"
        assert arc.query(share_level="none", job_tags=["new-tag"])["job_id"].tolist() == ["old00010"]
        clients = dict(zip(*(arc.query(limit=None)[c] for c in ("job_id", "client_version")), strict=True))
        assert clients["old00011"] == "qiskit"
        for job_id, record in final.items():  # nothing read back changed
            got = arc.record(job_id)
            assert got["tags"] == record["tags"] and got["result"] == record["result"]


def test_repair_of_derived_rows_is_one_transaction(tmp_path, old_code, monkeypatch):
    """A failure in the middle of the rewrite leaves every row as it was."""
    import jobarchive.store.index as index_mod

    path = tmp_path / "a"
    write_old_then_upgrade(old_code("20a293a"), path, [job(0)],
                           [job(10, tags=["new-tag"]), job(11, tags=["other"])])
    with Archive(path, create=False) as arc:
        first = arc.audit()
        stale = (list(first[~first["ok"]]["job_id"]), first.attrs["tag_count_problems"])
        real = index_mod.Index._rebuild_tag_counts

        def boom(self):
            real(self)
            raise RuntimeError("power cut")

        monkeypatch.setattr(index_mod.Index, "_rebuild_tag_counts", boom)
        with pytest.raises(RuntimeError, match="power cut"):
            arc.audit(repair=True)
        monkeypatch.undo()
        second = arc.audit()
        assert (list(second[~second["ok"]]["job_id"]), second.attrs["tag_count_problems"]) == stale
        assert arc.audit(repair=True)["ok"].all() and arc.audit()["ok"].all()


PAUSED_OLD_WRITER = """
    import json, sys
    from jobarchive import Archive
    from jobarchive.store import index as index_mod
    real = index_mod.Index.write_batch

    def write_batch(self, *args, **kwargs):  # this version's blob is durable, not yet committed
        print("DURABLE", flush=True)
        sys.stdin.readline()
        real(self, *args, **kwargs)

    arc = Archive(sys.argv[1])
    arc.add_many(json.loads(sys.stdin.readline()))
    print("OPEN", flush=True)
    sys.stdin.readline()  # the archive is upgraded meanwhile
    index_mod.Index.write_batch = write_batch
    arc.add_many(json.loads(sys.stdin.readline()))
    print("WROTE", flush=True)
    arc.close()
"""


def test_repair_beside_an_old_writer_keeps_its_blob_in_flight(tmp_path, old_code):
    """Versions before 104d7d5 write their blob file before taking the index's write lock:
    in an archive such a process still writes to, repair (which trusts that no blob is in
    flight while it holds the lock) deleted the blob of a batch about to commit, and the
    acknowledged jobs lost their results."""
    import os

    path = tmp_path / "a"
    env = dict(os.environ, PYTHONPATH=str(old_code("20a293a")))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PAUSED_OLD_WRITER), str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=old_code("20a293a"))

    def say(line: str) -> None:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    try:
        say(json.dumps([job(0)]))
        assert proc.stdout.readline().strip() == "OPEN", proc.stderr.read()[-3000:]
        Archive(path, create=False).close()  # upgraded by this version
        say("")
        say(json.dumps([job(1), job(2)]))
        assert proc.stdout.readline().strip() == "DURABLE", proc.stderr.read()[-3000:]
        with Archive(path, create=False) as arc:
            frame = arc.audit(repair=True)
            assert frame.attrs["removed_orphans"] == []
            (kept, why), = frame.attrs["kept_orphans"].items()
            assert "older version" in why
            say("")  # the old writer commits
            assert proc.stdout.readline().strip() == "WROTE", proc.stderr.read()[-3000:]
            assert proc.wait(timeout=60) == 0
            frame = arc.audit()
            assert frame["blob_ok"].all(), frame[~frame["blob_ok"]].to_dict("records")
            assert arc.record(job(2)["job_id"])["result"] == job(2)["result"]
            frame = arc.audit(repair=True)  # the old writer's NULL share levels
            assert frame["ok"].all() and frame.attrs["orphans"] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_repair_of_a_new_archive_removes_a_fresh_orphan_at_once(tmp_path):
    """No older version can write to an archive this version created (they refuse its
    schema): its orphans are crash leftovers, removed at once."""
    with Archive(tmp_path / "a") as arc:
        arc.add(job(0))
        (arc.path / "blobs" / "0123abcd.parquet").write_bytes(b"PAR1 leftover")
        assert arc.audit(repair=True).attrs["removed_orphans"] == ["blobs/0123abcd.parquet"]


def test_audit_runs_when_migration_times_are_unreadable(tmp_path):
    """An applied_at edited or written oddly must not stop the audit; repair then keeps a
    fresh unknown file (the cautious answer)."""
    import sqlite3

    with Archive(tmp_path / "a") as arc:
        arc.add(job(0))
    conn = sqlite3.connect(tmp_path / "a" / "index.db")
    conn.execute("UPDATE _sqlite_migrations SET applied_at = 'yesterday' WHERE name = 'm001_initial'")
    conn.commit()
    conn.close()
    with Archive(tmp_path / "a") as arc:
        (arc.path / "blobs" / "0123abcd.parquet").write_bytes(b"PAR1 leftover")
        frame = arc.audit(repair=True)
        assert frame["ok"].all() and "0123abcd" in next(iter(frame.attrs["kept_orphans"]))
