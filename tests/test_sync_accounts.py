"""One archive, several accounts and projects: one account's sync must not judge another's
jobs (an account does not see a colleague's jobs, so "not found" says nothing about them)."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.demo import bell_and_ghz
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


def _sim(provider):
    return next(b for b in provider.backends() if b.configuration().get("simulator"))


def _qobj():
    return qobj_from_circuits(bell_and_ghz(), shots=10)


def test_a_colleagues_sync_neither_marks_my_jobs_gone_nor_loses_their_results(tmp_path):
    with Emulator(seed_jobs=5, seed=1, time_scale=1e-6) as emu, Archive(tmp_path / "a") as arc:
        token_b = emu.add_account()
        pa = jobarchive.connect(emu.url, emu.token)
        pb = jobarchive.connect(emu.url, token_b)
        running = _sim(pa).run(_qobj(), job_name="A-running").job_id()
        done = _sim(pa).run(_qobj(), job_name="A-done").job_id()
        emu.advance(600)  # both finish...
        # ...but A's first sync sees `done` COMPLETED and cannot download its result yet.
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_result"]})
        arc.sync(jobarchive.connect(emu.url, emu.token, max_retries=0), progress=False)
        emu.set_faults(None)
        assert arc.record(done)["status"] == "COMPLETED" and arc.record(done)["result"] is None
        # `running` archived while it still ran.
        arc.add({**arc.record(running), "status": "RUNNING", "result": None})

        report = arc.sync(pb, progress=False, follow=True, poll_interval=0.01, max_passes=3)
        assert not report.gone and not report.failed, report
        assert report.passes == 1 and report.pending == 0  # A's jobs do not keep B waiting
        for job_id in (running, done):
            assert "gone" not in set(arc.history(job_id)["kind"]), job_id

        report = arc.sync(pa, progress=False)
        assert not report.gone and not report.failed, report
        for job_id in (running, done):
            assert arc.record(job_id)["result"] == emu.result_of(job_id), job_id


def test_each_account_archives_its_own_jobs_into_one_archive(tmp_path):
    with Emulator(seed_jobs=8, seed=2, time_scale=600.0) as emu, Archive(tmp_path / "a") as arc:
        token_b = emu.add_account()
        pa = jobarchive.connect(emu.url, emu.token)
        pb = jobarchive.connect(emu.url, token_b)
        b_jobs = [_sim(pb).run(_qobj(), job_name=f"B-{i}").job_id() for i in range(2)]
        emu.advance(600)
        ra = arc.sync(pa, progress=False)
        rb = arc.sync(pb, progress=False)
        assert (ra.discovered, rb.discovered) == (8, 2) and not ra.failed and not rb.failed
        assert all(arc.record(j)["result"] == emu.result_of(j) for j in b_jobs)
        for provider in (pa, pb):
            again = arc.sync(provider, progress=False)
            assert (again.discovered, again.refreshed) == (0, 0) and not again.gone
