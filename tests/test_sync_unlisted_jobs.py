"""Remembered jobs the server no longer lists and that answer an error other than "not
found" (a retired platform's history, say): reported a bounded number of syncs, then given
up with a clear report line, the archived record kept; asked again when listed again or by
a full sync. Real emulator on 127.0.0.1, real files in tmp_path."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator
from jobarchive.sync import UNLISTED_CAMPAIGN

FORBIDDEN = (403, "FORBIDDEN", "This job belongs to a retired platform.")


def _running_job(arc, emu) -> str:
    running = [d["id"] for d in emu.job_docs() if d["status"] not in
               ("COMPLETED", "CANCELLED") and not d["status"].startswith("ERROR")]
    assert running and all(j in arc for j in running)
    return running[0]


def test_a_running_job_the_server_stopped_listing_is_given_up_after_five_syncs(tmp_path):
    with Emulator(seed_jobs=5, seed_active=2, seed=1, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        first = arc.sync(provider, progress=False)
        assert not first.failed and first.pending == 2
        job_id = _running_job(arc, emu)
        before = arc.record(job_id)
        emu.make_unreachable(job_id, *FORBIDDEN)
        for n in range(1, 5):
            report = arc.sync(provider, progress=False)
            assert job_id in report.failed and not report.given_up
            assert f"{n} of 5 syncs" in report.failed[job_id]
            assert "retired platform" in report.failed[job_id]
        last = arc.sync(provider, progress=False)
        assert job_id not in last.failed and job_id in last.given_up
        assert "given up after 5 syncs" in last.given_up[job_id]
        assert "kept" in last.given_up[job_id] and "sync --full" in last.given_up[job_id]
        assert "1 given up" in str(last)
        assert last.pending == 1  # no longer waited for
        assert arc.record(job_id) == before  # never deleted, never blanked
        assert arc.audit()["ok"].all()

        emu.reset_stats()
        quiet = arc.sync(provider, progress=False)
        assert not quiet.failed and not quiet.given_up and quiet.pending == 1
        assert emu.stats().get("job_get", 0) == 0  # not asked any more

        # The server lists it again: the job is refreshed as before.
        emu.make_unreachable(job_id, None)
        back = arc.sync(provider, progress=False, full=True)
        assert not back.failed and not back.given_up and back.pending == 2
        assert arc.index.journal_get(UNLISTED_CAMPAIGN) == {}


def test_follow_passes_count_as_one_sync(tmp_path):
    with Emulator(seed_jobs=3, seed_active=1, seed=1, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        arc.sync(provider, progress=False)
        job_id = _running_job(arc, emu)
        emu.make_unreachable(job_id, *FORBIDDEN)
        report = arc.sync(provider, progress=False, follow=True, poll_interval=0.0,
                          max_passes=7)
        assert report.passes == 7 and "1 of 5 syncs" in report.failed[job_id]


def test_a_full_sync_asks_a_given_up_job_again(tmp_path):
    with Emulator(seed_jobs=3, seed_active=1, seed=1, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        arc.sync(provider, progress=False)
        job_id = _running_job(arc, emu)
        emu.make_unreachable(job_id, *FORBIDDEN)
        for _ in range(2):
            arc.sync(provider, progress=False, give_up_unlisted_after=2)
        assert not arc.sync(provider, progress=False).failed
        # Still unlisted: a full sync asks once more and reports it given up again.
        again = arc.sync(provider, progress=False, full=True, give_up_unlisted_after=2)
        assert job_id in again.given_up and job_id not in again.failed


def test_a_new_job_never_archived_is_given_up_too(tmp_path):
    with Emulator(seed_jobs=12, seed=3, lean_lists=True, lean_full_lists=True) as emu, \
            Archive(tmp_path / "a") as arc:
        docs = sorted(emu.job_docs(), key=lambda d: d["creationDate"])
        broken = docs[6]["id"]
        emu._state.jobs[broken].client_info = {"name": {1, 2}}  # its GET J/v/1 fails (500)
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        first = arc.sync(provider, progress=False)
        assert broken in first.failed and broken not in arc
        emu.make_unreachable(broken, *FORBIDDEN)
        reports = [arc.sync(provider, progress=False, give_up_unlisted_after=3)
                   for _ in range(3)]
        assert all(broken in r.failed for r in reports[:2])
        assert broken in reports[2].given_up and "never archived" in reports[2].given_up[broken]
        emu.reset_stats()
        assert not arc.sync(provider, progress=False).failed
        assert emu.stats().get("job_get", 0) == 0
        assert broken not in arc and len(arc) == 11


def test_another_accounts_sync_never_gives_up_a_colleagues_job(tmp_path):
    # Account B cannot see A's jobs: its syncs must not give up A's job for both of them.
    with Emulator(seed_jobs=6, seed=1) as emu, Archive(tmp_path / "a") as arc:
        pa = jobarchive.connect(emu.url, emu.token, max_retries=0)
        pb = jobarchive.connect(emu.url, emu.add_account(), max_retries=0)
        assert not arc.sync(pa, progress=False).failed
        job_id = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        arc.index.journal_put("sync:retry", [(job_id, "failed", "an earlier failure")])
        emu.make_unreachable(job_id, *FORBIDDEN)
        for _ in range(3):
            report = arc.sync(pb, progress=False, give_up_unlisted_after=2)
            assert job_id not in report.given_up
        mine = arc.sync(pa, progress=False, give_up_unlisted_after=2)
        assert "1 of 2 syncs" in mine.failed[job_id]
