"""A job the server answered "not found" for (a failover, a job restored) gets a ``gone``
event; when the server lists it again, the events table says so too, instead of ending on
``gone`` while the job is synced as any other."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_a_job_listed_again_after_gone_has_an_event_saying_so(tmp_path):
    with Emulator(seed_jobs=3, seed=1, seed_active=2, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        jobs = arc.query()
        job_id = jobs.loc[~jobs["status"].isin(["DONE", "ERROR", "CANCELLED"]), "job_id"].iloc[0]
        emu.delete_job(job_id)
        assert job_id in arc.sync(provider, progress=False).gone
        assert list(arc.history(job_id)["kind"]) == ["gone"]
        emu.restore_job(job_id)
        report = arc.sync(provider, progress=False)
        assert job_id not in report.gone and report.pending == 2
        history = arc.history(job_id)
        assert list(history["kind"]) == ["gone", "listed-again"]
        assert list(history["source"]) == ["sync", "sync"]
        arc.sync(provider, progress=False)  # said once
        assert list(arc.history(job_id)["kind"]) == ["gone", "listed-again"]
