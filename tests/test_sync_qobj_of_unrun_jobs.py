"""Jobs final without running (CANCELLED, ERROR_VALIDATING_JOB...) have no result, but the
server keeps their qobj, what was submitted. Sync archived none: `job.qobj()` and
`job.circuits()` of an archived cancelled job said "offline", and once the server purged
the job, what it held was lost. Sync now fetches it once (an answer that the server holds
none, as for jobs whose creation failed, is remembered)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive, IBMQJob

emulator = pytest.importorskip("jobarchive.emulator")
UNRUN = ("CANCELLED", "ERROR_VALIDATING_JOB", "ERROR_CREATING_JOB")


def _unrun(emu) -> dict[str, dict | None]:
    return {d["id"]: emu.qobj_of(d["id"]) for d in emu.job_docs() if d["status"] in UNRUN}


def test_sync_archives_the_qobj_of_jobs_that_never_ran(tmp_path):
    with emulator.Emulator(seed_jobs=300, seed=1) as emu, Archive(tmp_path / "a") as arc:
        unrun = _unrun(emu)
        held = {j for j, q in unrun.items() if q is not None}
        assert len(held) >= 10 and len(unrun) > len(held)  # some the server holds none for
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        assert not report.failed
        for job_id, qobj in unrun.items():
            assert arc.record(job_id)["qobj"] == qobj, job_id
        assert arc.get(next(iter(held))).circuits()  # what was submitted, offline
        emu.reset_stats()
        arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        assert emu.stats().get("job_qobj_url", 0) == 0  # none asked again


def test_an_archive_synced_before_catches_up(tmp_path):
    # Archived by a version that fetched no such qobj: the next sync fetches the missing ones.
    with emulator.Emulator(seed_jobs=300, seed=1) as emu, Archive(tmp_path / "a") as arc:
        docs = [d for d in emu.job_docs() if d["status"] in UNRUN]
        arc.add_many([IBMQJob.from_server(d) for d in docs])
        assert not arc.query(limit=None).empty and all(arc.record(d["id"])["qobj"] is None for d in docs)
        arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        for d in docs:
            assert arc.record(d["id"])["qobj"] == emu.qobj_of(d["id"]), d["id"]
