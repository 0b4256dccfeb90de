"""A job that fails in a sync is asked for once by that sync, and the next sync asks again.

Running jobs of a retired platform (the server no longer lists them and answers 403) were
each asked twice a sync: refreshed with the other running jobs, then at once again as jobs
"to retry" (the retry list the first attempt had just written), doubling the requests, the
wait on a server that times out, and the index writes. Real emulator on 127.0.0.1, real
files in tmp_path."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator
from jobarchive.sync import RETRY_CAMPAIGN, UNLISTED_CAMPAIGN

FORBIDDEN = (403, "FORBIDDEN", "This job belongs to a retired platform.")
RUNNING = 12


def _running(emu) -> list[str]:
    return [d["id"] for d in emu.job_docs() if d["status"] not in ("COMPLETED", "CANCELLED")
            and not d["status"].startswith("ERROR")]


def test_an_unreachable_running_job_is_asked_for_once_a_sync(tmp_path):
    with Emulator(seed_jobs=3, seed_active=RUNNING, seed=4, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        assert arc.sync(provider, progress=False).pending == RUNNING
        broken = _running(emu)
        assert len(broken) == RUNNING
        for job_id in broken:
            emu.make_unreachable(job_id, *FORBIDDEN)
        for n in (1, 2):
            emu.reset_stats()
            report = arc.sync(provider, progress=False)
            assert sorted(report.failed) == sorted(broken)
            assert all(f"{n} of 5 syncs" in report.failed[j] for j in broken)
            assert emu.stats().get("job_get", 0) == RUNNING  # once each, not twice
            assert set(arc.index.journal_get(RETRY_CAMPAIGN)) == set(broken)
        assert arc.audit()["ok"].all()


def test_a_running_job_whose_result_fails_is_fetched_once_a_sync_and_retried_next(tmp_path):
    with Emulator(seed_jobs=3, seed_active=RUNNING, seed=4, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        assert arc.sync(provider, progress=False).pending == RUNNING
        running = _running(emu)
        emu.advance(10 ** 7)  # every running job ends (and the login expires)
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        completed = [j for j in running if emu.job_doc(j)["status"] == "COMPLETED"]
        assert len(completed) > RUNNING // 2
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_result"]})
        emu.reset_stats()
        failed = arc.sync(provider, progress=False, give_up_after=1000)
        assert sorted(failed.failed) == sorted(completed) and failed.pending == 0
        assert emu.stats().get("storage_result", 0) == len(completed)  # once each, not twice
        emu.set_faults(None)
        done = arc.sync(provider, progress=False)
        assert not done.failed and done.results_fetched == len(completed)
        assert arc.query()["has_result"].sum() == sum(
            1 for d in emu.job_docs() if d["status"] == "COMPLETED")
        assert arc.index.journal_get(RETRY_CAMPAIGN) == {}


def test_the_strikes_of_many_unreachable_jobs_are_written_together(tmp_path):
    # Each strike was a transaction of its own (an fsync each, synchronous=FULL): a retired
    # platform's ten thousand jobs cost ten thousand of them every sync.
    with Emulator(seed_jobs=3, seed_active=RUNNING, seed=4, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        assert arc.sync(provider, progress=False).pending == RUNNING
        for job_id in _running(emu):
            emu.make_unreachable(job_id, *FORBIDDEN)
        statements: list[str] = []
        arc.index.conn.set_trace_callback(statements.append)
        try:
            report = arc.sync(provider, progress=False)
        finally:
            arc.index.conn.set_trace_callback(None)
        assert len(report.failed) == RUNNING
        commits = sum(1 for s in statements if s.strip().upper() == "COMMIT")
        assert commits <= 3, commits  # the server's note, the batch's strikes and retry list
        assert len(arc.index.journal_get(UNLISTED_CAMPAIGN)) == RUNNING
