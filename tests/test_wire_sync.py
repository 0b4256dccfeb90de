"""Sync against server answers shaped like the recorded real ones (emulator, real sockets)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_full_sync_keeps_names_and_tags_the_job_list_does_not_carry(tmp_path):
    # The real Jobs/status/v/1 items (2021) have no name, tags or shareLevel: a full sync
    # must not read that absence as "the job has no name and no tags any more".
    with Emulator(seed_jobs=40, seed=3, lean_lists=True) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        listed = provider.iter_job_docs(limit=5)
        assert all("tags" not in d and "name" not in d for d in listed)
        arc.sync(provider, progress=False)
        docs = {d["id"]: d for d in emu.job_docs()}
        tagged = [j for j, d in docs.items() if d.get("tags")]
        assert tagged
        emu.update_job(tagged[0], tags=["moved-elsewhere"], name="renamed")
        report = arc.sync(provider, progress=False, full=True)
        assert not report.failed
        for job_id, doc in docs.items():
            record = arc.record(job_id)
            if job_id == tagged[0]:
                assert (record["tags"], record["name"]) == (["moved-elsewhere"], "renamed")
            else:
                assert (record["tags"], record["name"]) == (doc.get("tags", []), doc.get("name"))
        assert report.changed == 1


def test_sync_between_two_dates_archives_only_that_window(tmp_path):
    # LoopBack's MongoDB connector applies only the first operator of a condition object,
    # so {"gte": A, "lte": B} means "gte A" on the real server: the window must be `between`.
    from datetime import UTC, datetime

    with Emulator(seed_jobs=60, seed=4) as emu, Archive(tmp_path / "a") as arc:
        docs = sorted(emu.job_docs(), key=lambda d: d["creationDate"])
        lo, hi = docs[10]["creationDate"], docs[30]["creationDate"]

        def when(iso: str) -> datetime:
            return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)

        provider = jobarchive.connect(emu.url, emu.token)
        report = arc.sync(provider, progress=False, start_datetime=when(lo),
                          end_datetime=when(hi))
        assert not report.failed
        assert sorted(arc.query()["job_id"]) == sorted(d["id"] for d in docs[10:31])
        assert report.discovered == 21


def test_report_counts_and_requests_of_a_refresh_pass(tmp_path):
    with Emulator(seed_jobs=20, seed_active=30, seed=5, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        first = arc.sync(provider, progress=False)
        # New jobs are discovered, not "refreshed": nothing archived was re-read.
        assert (first.discovered, first.refreshed, first.changed, first.pending) == (50, 0, 0, 30)
        emu.reset_stats()
        again = arc.sync(provider, progress=False)
        assert (again.discovered, again.refreshed, again.pending) == (0, 30, 30)
        # 30 ids fit one `id inq` request, which returns all 30: no second, empty page is
        # asked for; discovery lists the overlap window, then an empty page.
        assert emu.stats()["jobs_list_v1"] == 3, emu.stats()
        assert again.requests == emu.stats()["total"]


_INTERRUPTED_CHILD = """
import sys
import jobarchive
from jobarchive import Archive
provider = jobarchive.connect(sys.argv[2], sys.argv[3])
with Archive(sys.argv[1]) as arc:
    print("READY", flush=True)
    try:
        arc.sync(provider, progress=False, workers=4)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
"""


def test_ctrl_c_stops_the_jobs_under_way_without_sitting_out_their_retries(tmp_path, interrupt_after):
    # Every result URL answers 429 "retry in 30 s": the workers wait. Ctrl-C must end the
    # sync now (each worker's wait ends, no further request), not after 5 x 30 s; a re-run
    # then finishes the work.
    import subprocess
    import sys

    with Emulator(seed_jobs=40, seed=3) as emu:
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 30, "seed": 1,
                        "endpoints": ["job_result_url"]})
        path = tmp_path / "a"
        child = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_CHILD, str(path), emu.url,
                                  emu.token], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "READY"
            # all four workers are waiting (the old code took 150 s after Ctrl-C)
            stats, (out, _) = interrupt_after(child, emu, job_result_url=4)
            asked = stats["job_result_url"]
        finally:
            child.kill()
        assert "INTERRUPTED" in out
        assert emu.stats()["job_result_url"] == asked  # no retry after Ctrl-C
        emu.set_faults(None)
        with Archive(path) as arc:
            report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            assert not report.failed and len(arc) == 40
            assert all(arc.record(d["id"])["result"] == emu.result_of(d["id"])
                       for d in emu.job_docs())


def test_a_server_that_keeps_rate_limiting_stops_the_sync_early(tmp_path):
    # 429 after all retries on job after job: back off (stop, say so), like for 5xx; hammering
    # every remaining job through its own retry ladder is what the rate limit forbids.
    with Emulator(seed_jobs=200, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        provider.api_client.transport.sleep = lambda seconds: None
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 0, "seed": 1,
                        "endpoints": ["job_result_url"]})
        with pytest.raises(jobarchive.exceptions.RequestsApiError, match="run sync again") as info:
            arc.sync(provider, progress=False, workers=4, batch_size=50)
        assert info.value.status_code == 429
        assert emu.stats()["job_result_url"] < 60, emu.stats()  # a few jobs, not all 200
        emu.set_faults(None)
        report = arc.sync(provider, progress=False)
        assert not report.failed and len(arc) == 200


def test_sync_archives_full_documents_even_if_the_full_list_answers_reduced_ones(tmp_path):
    # What the real `Jobs/v/1` answers without `fields` was never recorded. Should it be the
    # reduced list item, a listed document without timePerStep is not taken for the full
    # one: the job is read with `GET J/v/1`, so nothing (name, tags, steps...) is lost.
    with Emulator(seed_jobs=30, seed_active=5, seed=6, time_scale=1e-6, lean_lists=True,
                  lean_full_lists=True) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        first = arc.sync(provider, progress=False)
        assert not first.failed and first.discovered == 35
        emu.advance(3600)
        again = arc.sync(provider, progress=False)
        assert not again.failed and again.refreshed == 5
        for doc in emu.job_docs():
            got = arc.record(doc["id"])
            want = jobarchive.IBMQJob.from_server(doc).to_dict()
            for key in ("name", "tags", "time_per_step", "client_info", "share_level", "status"):
                assert got[key] == want[key], (doc["id"], key)
