"""The index's -wal file does not stay at its largest after a long reader.

A reader holding one snapshot (a long audit in another process, a notebook's open read)
makes every commit written meanwhile pile up in index.db-wal; once it lets go, the commits
are checkpointed and the file is started over, but SQLite kept it at its peak size (GBs
after a large sync) for as long as any connection stayed open."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from jobarchive import Archive
from jobarchive.store.index import INDEX_FILE

LIMIT = 64 << 20


def job(i: int) -> dict:
    # A long server field (kept in the record) fills the WAL with few jobs.
    return {"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z", "status": "COMPLETED",
            "tags": [f"t{i % 5}"], "name": f"n{i}", "description": f"{i:08d}" * 400}


def test_wal_is_cut_back_after_a_long_reader_lets_go(tmp_path):
    path = tmp_path / "a"
    arc = Archive(path)
    arc.add(job(0))
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from jobarchive import Archive
        arc = Archive({str(path)!r})
        with arc.index.snapshot():
            print(len(arc), flush=True)
            sys.stdin.readline()
            print(len(arc), flush=True)  # still its snapshot
        print(len(arc), flush=True)
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline() == "1\n"
        for b in range(8):
            arc.add_many([job(i) for i in range(1 + b * 3000, 1 + (b + 1) * 3000)])
        wal = path / f"{INDEX_FILE}-wal"
        assert wal.stat().st_size > LIMIT  # the reader's snapshot held every commit in it
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline() == "1\n"
        assert reader.stdout.readline() == "24001\n"
    finally:
        reader.stdin.close()
        reader.wait()
    for k in range(3):  # a checkpoint to the end, then a write that starts the WAL over
        arc.add_many([job(100_000 + 10 * k + i) for i in range(10)])
    assert wal.stat().st_size <= LIMIT
    assert len(arc) == 24031
    arc.close()
    with Archive(path) as again:
        assert len(again) == 24031 and again.record("job00012345")["description"] == job(12345)["description"]
