"""audit() of a large archive holds its result frame, not every job's findings at once: a
plain audit held about 1.7 KB of Python objects per job until the end (1.7 GB for 10^6
jobs). Jobs are judged a chunk at a time (``CHUNK_JOBS``), and the frame is the same for
any chunk size, problems, reproduction and repair included."""

from __future__ import annotations

import gc
import shutil
import sqlite3

import pytest
from audit_jobs import CLIENT, bell_qobj

import jobarchive.audit as audit_module
from jobarchive import Archive
from jobarchive.qobj import simulate_qobj

CHUNK = 7


def _record(i: int, qobj: dict, result: dict) -> dict:
    rec = {"job_id": f"job{i:03d}", "creation_date": f"2021-0{1 + i % 9}-{10 + i % 17}T10:00:00Z",
           "status": "COMPLETED", "backend_name": "ibmq_qasm_simulator",
           "kind": "q-object-external-storage", "client_info": CLIENT, "tags": [f"t{i % 3}"],
           "hub_info": {"hub": {"name": "ibm-q"}, "group": {"name": "open"},
                        "project": {"name": "main"}}}
    if i % 5:  # every fifth job without payloads
        rec.update(qobj=qobj, result=result)
    return rec


def _archive(path) -> Archive:
    qobj = bell_qobj(shots=200)
    result = simulate_qobj(qobj, seed=3)
    arc = Archive(path)
    for start in range(0, 48, 12):  # one blob file a batch
        arc.add_many([_record(i, qobj, result) for i in range(start, start + 12)])
    return arc


def _damage(path) -> None:
    """Edits outside jobarchive that the audit reports (each found by another check)."""
    with sqlite3.connect(path / "index.db") as db:
        rows = dict(db.execute("SELECT job_id, blob_row FROM jobs WHERE blob_id IS NOT NULL"))
        db.execute("UPDATE jobs SET blob_row = ? WHERE job_id = 'job001'", (rows["job002"],))
        db.execute("DELETE FROM jobs WHERE job_id = 'job013'")
        db.execute("UPDATE jobs SET name = 'renamed' WHERE job_id = 'job020'")
        db.execute("UPDATE jobs SET shots = 4096 WHERE job_id = 'job031'")


def _row_dicts() -> int:
    return sum(1 for o in gc.get_objects()
               if type(o) is dict and "problems" in o and "provenance" in o)


def test_a_plain_audit_holds_a_chunk_of_findings_not_one_per_job(tmp_path, monkeypatch):
    arc = _archive(tmp_path / "a.jobarchive")
    monkeypatch.setattr(audit_module, "CHUNK_JOBS", CHUNK, raising=False)
    held: list[int] = []
    # Whenever the audit reads the index or a blob file, count the jobs' findings alive.
    select, payload_jobs = arc.index.iter_select, arc.blobs.payload_jobs

    def counted_select(*args, **kwargs):
        for batch in select(*args, **kwargs):
            held.append(_row_dicts())
            yield batch

    def counted_payload_jobs(*args, **kwargs):
        held.append(_row_dicts())
        return payload_jobs(*args, **kwargs)

    monkeypatch.setattr(arc.index, "iter_select", counted_select)
    monkeypatch.setattr(arc.blobs, "payload_jobs", counted_payload_jobs)
    frame = arc.audit(progress=False)
    assert len(frame) == 48 and frame["ok"].all()
    assert held and max(held) <= CHUNK, held


@pytest.mark.parametrize("options", [
    {}, {"verify": False}, {"reproduce": True, "threshold": 0.8},
    {"reproduce": True, "sample": 9, "seed": 5}, {"reproduce": True, "repair": True},
], ids=["plain", "no-verify", "reproduce", "sample", "repair"])
def test_the_frame_is_the_same_for_any_chunk_size(tmp_path, monkeypatch, options):
    source = tmp_path / "source.jobarchive"
    _archive(source).close()
    _damage(source)
    frames = []
    for chunk in (CHUNK, 10**6):
        path = tmp_path / f"c{chunk}.jobarchive"
        shutil.copytree(source, path)
        monkeypatch.setattr(audit_module, "CHUNK_JOBS", chunk, raising=False)
        monkeypatch.setattr(audit_module, "REPRODUCE_JOBS", chunk + 3, raising=False)
        with Archive(path) as arc:
            frames.append(arc.audit(progress=False, **options))
    chunked, whole = frames
    ids = list(chunked["job_id"])
    assert ids == sorted(set(ids) - {"job013"}) + ["job013"][:len(ids) - 47]  # unindexed last
    assert chunked.equals(whole), chunked.compare(whole)
    assert chunked.attrs["summary"] == whole.attrs["summary"]
    problems = chunked.set_index("job_id")["problem"]
    if options.get("verify", True):
        assert "holds the payloads of job 'job002'" in problems["job001"]
        assert "has no row for this job" in problems["job013"]
        assert "disagrees with the job's stored record in name" in problems["job020"]
    if options.get("reproduce") and not options.get("repair"):
        assert "shots is 4096" in problems["job031"] or "sample" in options
    if "sample" in options:
        assert chunked.attrs["summary"]["reproduced"] == 9


def test_each_pass_of_the_audit_shows_a_bar(tmp_path, capsys):
    """The index checks (9 s for 10^6 jobs) were silent before the first bar, and the first
    pass (blob pointers, then each file's payload rows: 10 s) between the blobs bar and the
    records bar."""
    arc = _archive(tmp_path / "a.jobarchive")
    quiet = arc.audit(progress=False)
    assert capsys.readouterr().err == ""
    shown = arc.audit(progress=True)
    err = capsys.readouterr().err
    for bar in ("audit: index checks", "audit: blobs", "audit: blob pointers", "audit: payload rows", "audit: records"):
        assert bar in err, err
    assert "/48 " in err and "/4 " in err, err  # jobs, then blob files
    assert shown.equals(quiet)


def test_a_reproduce_reads_each_blob_file_once_when_its_jobs_span_chunks(tmp_path, monkeypatch):
    """Each read of payloads decodes a file's row group: with files whose jobs' dates are
    mixed, every chunk of jobs needed every file (10^6 jobs: 199 s instead of 114 s)."""
    arc = _archive(tmp_path / "a.jobarchive")
    monkeypatch.setattr(audit_module, "CHUNK_JOBS", CHUNK, raising=False)
    reads: dict[str, int] = {}
    read_payloads = arc.blobs.read_payloads

    def counted(path, rows):
        reads[path] = reads.get(path, 0) + 1
        return read_payloads(path, rows)

    monkeypatch.setattr(arc.blobs, "read_payloads", counted)
    frame = arc.audit(reproduce=True, progress=False)
    assert frame["ok"].all() and frame.attrs["summary"]["reproduced"] == 38
    assert len(reads) == 4 and set(reads.values()) == {1}, reads
