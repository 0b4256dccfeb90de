"""Several processes writing one archive at once: nothing acknowledged is lost.

Each child is a real interpreter on the same archive directory; the assertions read what
the archive holds after every child has exited.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from jobarchive import Archive


def _base(i: int, **extra) -> dict:
    rec = {"job_id": f"job{i:04d}", "creation_date": "2022-01-01T00:00:00Z", "status": "COMPLETED",
           "backend_name": "ibmq_athens", "name": "n", "tags": ["t"]}
    rec.update(extra)
    return rec


_PARTIAL_WRITER = r"""
import sys
from jobarchive import Archive
path, which, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with Archive(path) as arc:
    for k in range(rounds):
        field, payload = ("result", {"round": k, "results": []}) if which == "R" else \
            ("qobj", {"round": k, "experiments": []})
        arc.add_many([{"job_id": f"job{i:04d}", "creation_date": "2022-01-01T00:00:00Z",
                       "status": "COMPLETED", "backend_name": "ibmq_athens", "name": "n",
                       "tags": ["t"], field: payload} for i in range(n)])
"""


def test_partial_payloads_from_two_processes_both_survive(tmp_path):
    """One process sends result-only updates, another qobj-only ones, for the same jobs: each
    job ends with the last result of one and the last qobj of the other (the stored payload
    an update lacks is read under the write lock, so another commit cannot slip in between)."""
    n, rounds = 10, 60
    with Archive(tmp_path / "a") as arc:
        arc.add_many([_base(i) for i in range(n)])
    children = [subprocess.Popen([sys.executable, "-c", _PARTIAL_WRITER, str(tmp_path / "a"), which,
                                  str(n), str(rounds)]) for which in ("R", "Q")]
    assert [c.wait(timeout=300) for c in children] == [0, 0]
    with Archive(tmp_path / "a") as arc:
        held = [(arc.record(f"job{i:04d}")["result"] or {}).get("round") for i in range(n)], \
               [(arc.record(f"job{i:04d}")["qobj"] or {}).get("round") for i in range(n)]
        assert held == ([rounds - 1] * n, [rounds - 1] * n)
        assert arc.audit()["ok"].all()


_RETAGGER = r"""
import sys
from jobarchive import Archive
path, n = sys.argv[1], int(sys.argv[2])
with Archive(path) as arc:
    arc.retag([f"job{i:04d}" for i in range(n)], additional_tags=["reviewed"], batch_size=50,
              progress=False)
"""


def test_retag_keeps_snapshots_another_process_adds_meanwhile(tmp_path):
    """While retag works through its batches, another process adds newer (final) snapshots
    of the same jobs: retag must neither put the old status back nor lose its tag edit to
    the stale-snapshot rule (it used to write back the records it read at its start)."""
    n = 2000
    path = tmp_path / "a"
    with Archive(path) as arc:
        arc.add_many([_base(i, status="QUEUED", name="orig", tags=["base"]) for i in range(n)])
    child = subprocess.Popen([sys.executable, "-c", _RETAGGER, str(path), str(n)])
    peek = sqlite3.connect(path / "index.db")
    while child.poll() is None and not peek.execute(
            "SELECT 1 FROM events WHERE kind = 'tags' LIMIT 1").fetchone():
        time.sleep(0.005)  # until retag's first batch is committed
    peek.close()
    with Archive(path) as arc:
        arc.add_many([_base(i, status="COMPLETED", name="updated", tags=["base"]) for i in range(n)])
    assert child.wait(timeout=300) == 0
    with Archive(path) as arc:
        records = [arc.record(f"job{i:04d}") for i in range(n)]
        assert {(r["status"], r["name"]) for r in records} == {("COMPLETED", "updated")}
        events = arc.index.events()
        tagged = {e[0] for e in events if e[2] == "tags" and "reviewed" in (e[4] or "")}
        assert tagged == {f"job{i:04d}" for i in range(n)}
