"""Write a small archive with an OLDER jobarchive, as a fixture for tests/test_upgrade.py.

Run it with the old code first on the path, e.g.::

    git worktree add --detach /tmp/h1-ebf3bdd ebf3bdd
    PYTHONPATH=/tmp/h1-ebf3bdd .venv/bin/python tests/data/old_archives/make.py \
        tests/data/old_archives/ebf3bdd

It writes ``<out>/fixture.zip`` holding ``archive/`` (the archive as that version left it,
WAL checkpointed) and ``expected.json``: which steps ran, and what that version read back
(records, counts, history), for the test to compare with the current code.

The jobs are built here, in plain Python (no jobarchive import), so that the test can replay
the same steps into a fresh archive with the current code and compare the two archives.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

BACKENDS = ("ibmq_athens", "ibmq_lima", "ibmqx2")
TAG_POOL = ("vqe", "h2", "paper-2021", "calib", "ibmq_jobset_0a1b", "ünï")


def _result(n: int, exps: int, status_ok: bool = True, style: str = "hex") -> dict[str, Any]:
    out = []
    for e in range(exps):
        if style == "hex":
            counts = {"0x0": 400 + n + e, "0x3": 600 - n, "0x1": 24}
            header = {"name": f"circ{e}", "memory_slots": 2, "creg_sizes": [["c", 2]]}
        elif style == "regs":  # two registers: bitstrings come out spaced
            counts = {"0x5": 10 + e, "0x2": 90}
            header = {"name": f"circ{e}", "memory_slots": 3, "creg_sizes": [["a", 1], ["b", 2]]}
        else:  # keys as some other clients sent them, already binary
            counts = {"00": 3 + e, "11": 5}
            header = {"name": f"circ{e}"}
        out.append({"shots": 1024, "success": status_ok, "header": header,
                    "data": {"counts": counts}, "status": "DONE"})
    return {"backend_name": BACKENDS[n % 3], "backend_version": "1.2.3", "qobj_id": f"q-{n}",
            "job_id": f"job{n:04d}", "success": status_ok, "results": out,
            "date": "2021-03-04T05:06:07", "status": "COMPLETED", "header": {}}


def _qobj(n: int, exps: int) -> dict[str, Any]:
    return {"qobj_id": f"q-{n}", "type": "QASM", "schema_version": "1.3.0",
            "config": {"shots": 1024, "memory_slots": 2, "seed_simulator": 12345 + n},
            "experiments": [{"header": {"name": f"circ{e}"},
                             "instructions": [{"name": "h", "qubits": [0]},
                                              {"name": "measure", "qubits": [0], "memory": [0]}]}
                            for e in range(exps)]}


def jobs() -> list[dict[str, Any]]:
    """The first batch: 30 to_dict() records of the shapes the server sent over the years."""
    out = []
    for n in range(30):
        status = ("COMPLETED", "COMPLETED", "COMPLETED", "ERROR_RUNNING_JOB", "CANCELLED",
                  "QUEUED", "RUNNING")[n % 7]
        exps = 1 + n % 3
        rec: dict[str, Any] = {
            "job_id": f"5f8e2a1b9c0d4e00{n:08x}",
            "creation_date": f"20{18 + n % 5}-{1 + n % 12:02d}-{1 + n % 27:02d}T{n % 24:02d}:03:11.{n:03d}Z",
            "status": status,
            "backend_name": BACKENDS[n % 3],
            "kind": "q-object-external-storage",
            "name": f"bell-{n}" if n % 5 else f"é-run {n}",
            "tags": [TAG_POOL[(n + k) % len(TAG_POOL)] for k in range(n % 4)],
            "time_per_step": {"CREATING": f"2021-01-01T00:00:{n % 60:02d}.000000Z"},
            "run_mode": ("fairshare", "dedicated", None)[n % 3],
            "share_level": (None, "none", "global", "project", "hub")[n % 5],
            "client_info": {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"},
            "experiment_id": f"exp-{n % 4}" if n % 6 == 0 else None,
            "error": None,
            "hub_info": {"hub": "ibm-q", "group": "open", "project": "main"},
            "user_id": f"user{n % 3}",
        }
        if status == "COMPLETED":
            rec["qobj"] = _qobj(n, exps)
            rec["result"] = _result(n, exps, style=("hex", "regs", "bin")[n % 3])
        elif status == "ERROR_RUNNING_JOB":
            rec["error"] = {"code": 9999, "message": "Instruction not in basis gates"}
            rec["qobj"] = _qobj(n, exps)
        out.append(rec)
    # Shapes that older archives met in recorded server data:
    out[1]["client_info"] = {"name": "IBMQClient.jl", "version": None}   # m005
    out[8]["client_info"] = {"name": "odd-client", "version": "None"}    # kept as sent
    v1 = out[9]                                                           # m006: v1 document
    v1.pop("qobj", None), v1.pop("result", None)
    v1.update(status="COMPLETED", kind=None, client_info=None,
              qasms=[{"qasm": "OPENQASM 2.0; h q[0];", "status": "DONE"}] * 3)
    out[10]["tags"] = ["vqe", "vqe", "h2"]                                # a tag listed twice
    out[11]["job_id"] = "5a1c9e2f0b3d4a0011aa"                            # 20-character id
    out[15]["result"]["results"][0]["header"]["seed"] = 2 ** 70 + 1          # beyond 64 bits
    out[13]["big_field"] = -(2 ** 65) - 3                                    # a kept server field
    # Count keys whose bitstrings qiskit's get_counts gives differently than early versions
    # stored them (4b0a625, da8e7a7): 0b keys, plain binary keys under memory_slots, spaced
    # keys, integral float counts.
    exp = out[16]["result"]["results"][0]
    exp["data"]["counts"] = {"0b11": 5, "0b0": 7}
    exp["header"] = {"name": "b", "memory_slots": 3}
    exp = out[21]["result"]["results"][0]
    exp["data"]["counts"] = {"1": 3, "10": 4, "0 1": 2}
    exp["header"] = {"name": "p", "memory_slots": 3, "creg_sizes": [["c", 3]]}
    exp = out[22]["result"]["results"][0]
    exp["data"]["counts"] = {"0x0": 512.0, "0x1": 512, "0b1": 1}
    return out


def updates() -> list[dict[str, Any]]:
    """The second batch: non-final jobs become final, names and tags change elsewhere."""
    base = {r["job_id"]: r for r in jobs()}
    out = []
    for job_id, rec in base.items():
        n = int(job_id[-8:], 16) if len(job_id) == 24 else 11
        if rec["status"] in ("QUEUED", "RUNNING"):
            done = dict(rec, status="COMPLETED", qobj=_qobj(n, 2), result=_result(n, 2))
            out.append(done)
        elif n in (0, 7, 14):
            out.append(dict(rec, tags=["renamed"], name=f"renamed-{n}"))  # no payloads: kept
    return out


FIXTURE = "fixture.zip"
RETAG_IDS = ("5f8e2a1b9c0d4e0000000002", "5f8e2a1b9c0d4e0000000003", "5f8e2a1b9c0d4e0000000004")
RETAG = {"additional_tags": ["retagged"], "removal_tags": ["vqe"]}


def _rows(frame: Any) -> list[list[Any]]:
    return [[None if v != v else v for v in row] for row in frame.astype(object).values.tolist()]


def main(out: Path) -> None:
    import jobarchive
    from jobarchive import Archive

    work = Path(tempfile.mkdtemp())
    arc = Archive(work / "archive")
    steps = []
    arc.add_many(jobs())
    steps.append("jobs")
    arc.add_many(updates())
    steps.append("updates")
    if hasattr(arc, "retag"):
        arc.retag(list(RETAG_IDS), progress=False, **RETAG)
        steps.append("retag")
    ids = sorted(arc.query(limit=None)["job_id"])
    expected = {
        "commit": subprocess.run(["git", "-C", str(Path(jobarchive.__file__).parent), "rev-parse",
                                  "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "steps": steps,
        "len": len(arc),
        "records": {i: arc.record(i) for i in ids},
        "counts": _rows(arc.counts()[["job_id", "experiment", "bitstring", "count", "key"]]),
        "history": {i: _rows(arc.history(i)[["kind", "old", "new", "source"]]) for i in ids},
    }
    arc.close()
    # One more connection closing checkpoints the WAL into index.db (and removes -wal/-shm).
    conn = sqlite3.connect(work / "archive" / "index.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for extra in ("index.db-wal", "index.db-shm"):
        assert not (work / "archive" / extra).exists(), extra
    (work / "expected.json").write_text(json.dumps(expected, sort_keys=True))
    # Zipped: an SQLite file of a few dozen rows is mostly empty pages (100 kB -> 10 kB).
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / FIXTURE, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for f in sorted(work.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(work).as_posix())
    shutil.rmtree(work)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
