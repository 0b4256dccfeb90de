"""``sync(full=True)`` re-reads the names, tags and status of final jobs (README, "Sync").
A server whose job lists are lean (the older server: no ``Jobs/v/1`` route, and
``Jobs/status/v/1`` items without name or tags) must not make it compare nothing: the jobs
are read in full by id instead."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

LEAN = [{"lean_lists": True, "no_full_lists": True},
        {"lean_lists": True, "lean_full_lists": True}]


@pytest.mark.parametrize("lean", LEAN, ids=["no-Jobs-v1", "lean-Jobs-v1"])
def test_a_full_sync_reads_remote_edits_of_final_jobs_from_lean_lists(tmp_path, lean):
    with Emulator(seed_jobs=8, seed=1, time_scale=1e-6, **lean) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = [d["id"] for d in emu.job_docs()]
        edited = ids[:3]
        for n, job_id in enumerate(edited):
            emu.update_job(job_id, tags=["colleague", f"c{n}"], name=f"renamed-{n}")
        untouched = {j: arc.record(j, payloads=False) for j in ids[3:]}
        report = arc.sync(provider, progress=False, full=True)
        assert not report.failed
        assert report.changed == len(edited)
        for n, job_id in enumerate(edited):
            job = arc.get(job_id)
            assert (job.tags(), job.name()) == (["colleague", f"c{n}"], f"renamed-{n}"), job_id
            assert list(arc.history(job_id)["kind"]) == ["tags", "name"], job_id
        for job_id, record in untouched.items():
            assert arc.record(job_id, payloads=False) == record, job_id
            assert arc.history(job_id).empty, job_id
