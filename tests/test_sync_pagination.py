"""Keyset pagination at its edges: many jobs sharing one creation date (a batch submitted in
the same millisecond), against the emulator over real sockets."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator

# A front end's URL limit (the emulator answers 414 past it): the `id nin` list of jobs
# already seen with the boundary date must not grow with the number of tied jobs.
MAX_URL = 8192


def test_sync_pages_through_hundreds_of_jobs_created_in_one_millisecond(tmp_path):
    with Emulator(seed_jobs=20, seed=4, seed_tied=330, max_url=MAX_URL) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        report = arc.sync(provider, progress=False, page_size=50)
        assert report.discovered == 350 and not report.failed
        assert set(arc.query()["job_id"]) == {d["id"] for d in emu.job_docs()}
        assert emu.stats().get("rejected", 0) == 0
        emu.reset_stats()
        again = arc.sync(provider, progress=False, page_size=50)
        assert again.discovered == 0 and not again.failed


def test_jobs_lists_every_tied_job_once_in_both_orders(tmp_path):
    with Emulator(seed_jobs=15, seed=5, seed_tied=260, max_url=MAX_URL) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        every = {d["id"] for d in emu.job_docs()}
        for descending in (True, False):
            ids = [d["id"] for d in provider.iter_job_docs(descending=descending, page_size=40)]
            assert len(ids) == len(set(ids)) == len(every), descending
            assert set(ids) == every
        # A limit ending inside the tie group, and a skip reaching into it.
        newest = [j.job_id() for j in provider.jobs(limit=200)]
        assert len(newest) == len(set(newest)) == 200
        skipped = [j.job_id() for j in provider.jobs(limit=None, skip=30)]
        assert len(skipped) == len(set(skipped)) == len(every) - 30
        assert set(skipped) | set(newest[:30]) == every


def test_a_server_that_answers_shorter_pages_than_asked_loses_no_job(tmp_path):
    with Emulator(seed_jobs=40, seed=6, seed_tied=150, max_url=MAX_URL, max_page=30) as emu, \
            Archive(tmp_path / "a") as arc:
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False, page_size=100)
        assert report.discovered == 190 and not report.failed
        assert set(arc.query()["job_id"]) == {d["id"] for d in emu.job_docs()}


def test_jobs_with_skip_into_a_tie_group_larger_than_the_servers_page(tmp_path):
    with Emulator(seed_jobs=15, seed=5, seed_tied=100, max_page=20) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        every = {d["id"] for d in emu.job_docs()}
        newest = [j.job_id() for j in provider.jobs(limit=None)]
        assert len(newest) == len(set(newest)) == len(every)
        for skip in (5, 30, 60):
            ids = [j.job_id() for j in provider.jobs(limit=None, skip=skip)]
            assert ids == newest[skip:], skip
