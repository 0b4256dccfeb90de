"""Several processes writing one archive at once: nothing acknowledged is lost.

Each child is a real interpreter on the same archive directory; the assertions read what
the archive holds after every child has exited.
"""

from __future__ import annotations

import subprocess
import sys

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
