"""Sync engine against the emulator over real sockets."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jobarchive
from jobarchive import Archive, ArchiveLockedError, IBMQJob

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

SYNC_CHILD = Path(__file__).with_name("sync_child.py")


def _server_view(emu) -> dict[str, dict]:
    return {d["id"]: d for d in emu.job_docs()}


def _assert_equal_to_server(arc: Archive, emu) -> None:
    """Every server job is archived with the same to_dict() and, when DONE, the same counts."""
    docs = _server_view(emu)
    assert len(arc) == len(docs)
    for job_id, doc in docs.items():
        want = IBMQJob.from_server(doc).to_dict()
        got = arc.record(job_id)
        want.pop("result"), want.pop("qobj")
        got_result, got_qobj = got.pop("result"), got.pop("qobj")
        assert got == want, job_id
        if doc["status"] == "COMPLETED":
            assert got_result == emu.result_of(job_id), job_id
            assert got_qobj == emu.qobj_of(job_id), job_id


def test_first_sync_archives_everything_and_resync_is_cheap(tmp_path):
    with Emulator(seed_jobs=300, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        report = arc.sync(provider, progress=False)
        assert report.discovered == 300 and not report.failed
        _assert_equal_to_server(arc, emu)
        assert arc.audit()["ok"].all()

        emu.reset_stats()
        again = arc.sync(provider, progress=False)
        assert (again.discovered, again.refreshed, again.results_fetched) == (0, 0, 0)
        assert emu.stats()["total"] <= 2, emu.stats()


def test_sync_follows_active_jobs_to_final_and_records_transitions(tmp_path):
    with Emulator(seed_jobs=50, seed_active=20, seed=5, time_scale=600.0) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        first = arc.sync(provider, progress=False)
        assert first.pending > 0
        report = arc.sync(provider, progress=False, follow=True, poll_interval=0.2, max_passes=200)
        assert report.pending == 0 and not report.failed
        _assert_equal_to_server(arc, emu)
        moved = [j for j in arc.query()["job_id"] if any(
            k == "status" for k in arc.history(j)["kind"])]
        assert moved, "status transitions must land in the events table"


def test_sync_under_faults_converges_to_the_server(tmp_path):
    with Emulator(seed_jobs=150, seed_active=10, seed=9, time_scale=600.0) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        emu.set_faults({"rate": 0.2, "kinds": ["500", "503", "429", "latency", "drop", "malformed"],
                        "latency": 0.02, "retry_after": 0, "seed": 1})
        for _ in range(100):
            report = arc.sync(provider, progress=False, workers=4)
            if report.pending == 0 and not report.failed and not arc.index.journal_get("sync:retry"):
                break
            time.sleep(0.1)
        emu.set_faults(None)
        _assert_equal_to_server(arc, emu)


def test_second_sync_on_a_busy_archive_fails_clearly(tmp_path):
    with Emulator(seed_jobs=5, seed=1) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        with arc.lock(), pytest.raises(ArchiveLockedError, match="another sync or retag"):
            arc.sync(provider, progress=False)


def test_sigkill_during_sync_then_audit_clean_and_complete(tmp_path, campaign_stats):
    kills = int(os.environ.get("JOBARCHIVE_SYNC_KILLS", "10"))
    rng = random.Random(11)
    path = tmp_path / "a"
    with Emulator(seed_jobs=400, seed=4, latency=0.002) as emu:
        for _ in range(kills):
            proc = subprocess.Popen([sys.executable, str(SYNC_CHILD), str(path), emu.url, emu.token],
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().strip() == "READY"
            time.sleep(rng.uniform(0.05, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            with Archive(path) as arc:
                assert arc.audit()["ok"].all()
        with Archive(path) as arc:
            report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            assert not report.failed
            _assert_equal_to_server(arc, emu)
            assert arc.audit(repair=True)["ok"].all()
    key = "SIGKILL points, sync (exec)"
    campaign_stats[key] = campaign_stats.get(key, 0) + kills


def _sim(provider):
    return next(b for b in provider.backends() if "simulator" in b.name())


def test_each_provider_has_its_own_discovery_cursor(tmp_path):
    from jobarchive.demo import bell_and_ghz
    from jobarchive.qobj import qobj_from_circuits

    qobj = qobj_from_circuits(bell_and_ghz(), shots=10)
    with Emulator(seed_jobs=20, seed=1, time_scale=600.0) as emu, Archive(tmp_path / "a") as arc:
        pa = jobarchive.connect(emu.url, emu.token)
        pb = jobarchive.connect(emu.url, emu.token, hub="ibm-q-research", group="uni-lab",
                                project="qc-course")
        b_jobs = [_sim(pb).run(qobj, job_name=f"B-{i}").job_id() for i in range(3)]
        emu.advance(7200)  # provider A's newest job is much newer than B's
        _sim(pa).run(qobj, job_name="A-new")
        emu.advance(3600)
        assert arc.sync(pa, progress=False).discovered == 21
        report = arc.sync(pb, progress=False)
        assert report.discovered == 3 and not report.failed
        assert all(j in arc for j in b_jobs)
        assert all(arc.record(j)["result"] is not None for j in b_jobs)


def test_a_cursor_of_an_older_version_does_not_skip_jobs(tmp_path):
    with Emulator(seed_jobs=30, seed=2) as emu, Archive(tmp_path / "a") as arc:
        # Keyed by "*" alone, it may come from another provider: a full discovery runs once.
        arc.index.journal_put("sync:cursor", [("*", "cursor", str(2**62))])
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        assert report.discovered == 30 and not report.failed


def test_payloads_lost_to_a_kill_before_the_retry_list_are_fetched_next_pass(tmp_path):
    with Emulator(seed_jobs=40, seed=3) as emu, Archive(tmp_path / "a") as arc:
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_qobj"]})
        first = arc.sync(jobarchive.connect(emu.url, emu.token, max_retries=0), progress=False,
                         give_up_after=1000)
        assert first.failed
        # What a kill between the batch's commit and the retry list's update leaves behind.
        arc.index.journal_clear("sync:retry")
        emu.set_faults(None)
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        assert not report.failed
        _assert_equal_to_server(arc, emu)


def test_a_qobj_the_server_does_not_hold_is_asked_for_once(tmp_path):
    with Emulator(seed_jobs=30, seed=3) as emu, Archive(tmp_path / "a") as arc:
        done = [d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED"]
        emu.drop_qobj(done[0])
        provider = jobarchive.connect(emu.url, emu.token)
        first = arc.sync(provider, progress=False)
        assert not first.failed
        _assert_equal_to_server(arc, emu)
        assert arc.record(done[0])["qobj"] is None and arc.record(done[0])["result"] is not None
        emu.reset_stats()
        again = arc.sync(provider, progress=False)
        assert not again.failed and again.refreshed == 0
        assert emu.stats().get("job_qobj_url", 0) == 0


def test_a_job_deleted_on_the_server_is_recorded_gone_and_follow_ends(tmp_path):
    from jobarchive.demo import bell_and_ghz
    from jobarchive.qobj import qobj_from_circuits

    with Emulator(seed_jobs=20, seed=1, time_scale=1.0) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        backend = next(b for b in provider.backends() if not b.configuration().get("simulator"))
        job_id = backend.run(qobj_from_circuits(bell_and_ghz(), shots=10)).job_id()
        arc.sync(provider, progress=False)
        before = arc.record(job_id)
        assert before["status"] not in ("COMPLETED", "CANCELLED")
        emu.delete_job(job_id)
        emu.advance(3600)  # every other job is final now
        report = arc.sync(provider, progress=False, follow=True, poll_interval=0.01,
                          max_passes=20)
        assert report.passes == 1 and report.pending == 0 and not report.failed
        assert "3250" in report.gone[job_id]
        assert arc.record(job_id) == before  # lossless: the record stays as archived
        events = arc.history(job_id)
        gone = events[events["kind"] == "gone"]
        assert list(gone["old"]) == [before["status"]] and "3250" in gone["new"].iloc[0]
        emu.reset_stats()
        again = arc.sync(provider, progress=False)
        assert not again.failed and not again.gone and again.pending == 0
        assert emu.stats().get("job_get", 0) == 0
        assert len(arc.history(job_id).query("kind == 'gone'")) == 1


def test_an_archived_running_job_unknown_to_the_server_does_not_keep_follow_going(
        tmp_path, realdata):
    import json

    doc = json.loads((realdata / "qiskit_api_cpp_responses" / "responseReal.json").read_text())
    with Emulator(seed_jobs=5, seed=3) as emu, Archive(tmp_path / "a") as arc:
        arc.add(IBMQJob.from_server(doc))  # RUNNING, from another server
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False, follow=True,
                          poll_interval=0.01, max_passes=20)
        assert report.passes == 1 and report.pending == 0 and not report.failed
        # Another account's job (userId): this account's "not found" cannot say it is gone.
        assert not report.gone
        # The same job of this account is gone.
        arc.add({**IBMQJob.from_server(doc).to_dict(), "user_id": emu.job_docs()[0]["userId"]})
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False, follow=True,
                          poll_interval=0.01, max_passes=20)
        assert report.passes == 1 and report.pending == 0 and not report.failed
        assert list(report.gone) == [doc["id"]]


def test_another_providers_running_job_is_neither_gone_nor_pending(tmp_path):
    from jobarchive.demo import bell_and_ghz
    from jobarchive.qobj import qobj_from_circuits

    with Emulator(seed_jobs=5, seed=1, time_scale=1.0) as emu, Archive(tmp_path / "a") as arc:
        pa = jobarchive.connect(emu.url, emu.token)
        pb = jobarchive.connect(emu.url, emu.token, hub="ibm-q-research", group="uni-lab",
                                project="qc-course")
        backend = next(b for b in pa.backends() if not b.configuration().get("simulator"))
        job_id = backend.run(qobj_from_circuits(bell_and_ghz(), shots=10)).job_id()
        assert arc.sync(pa, progress=False).pending == 1
        report = arc.sync(pb, progress=False, follow=True, poll_interval=0.01, max_passes=5)
        assert report.passes == 1 and report.pending == 0
        assert not report.gone and not report.failed
        assert "gone" not in set(arc.history(job_id)["kind"])


def test_partial_results_of_failed_jobs_are_archived_once(tmp_path):
    with Emulator(seed_jobs=400, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        report = arc.sync(provider, progress=False)
        assert not report.failed
        failed = [d["id"] for d in emu.job_docs() if d["status"] == "ERROR_RUNNING_JOB"]
        partial = [j for j in failed if emu.result_of(j) is not None]
        assert partial and len(partial) < len(failed)  # both kinds are in this history
        for job_id in failed:
            assert arc.record(job_id)["result"] == emu.result_of(job_id), job_id
        job_id = partial[0]
        live, archived = provider.retrieve_job(job_id), arc.get(job_id)
        assert archived.error_message() == live.error_message()
        assert archived.result(partial=True).to_dict() == live.result(partial=True).to_dict()
        emu.reset_stats()
        again = arc.sync(provider, progress=False)
        assert not again.failed and again.results_fetched == 0
        assert emu.stats().get("job_result_url", 0) == 0  # "none" answers are remembered too

        # An archive written before: its failed jobs lack the partial result; fetched once.
        with Archive(tmp_path / "b") as older:
            older.add_many([IBMQJob.from_server(emu.job_doc(j)) for j in failed])
            assert older.sync(provider, progress=False).results_fetched
            for job_id in failed:
                assert older.record(job_id)["result"] == emu.result_of(job_id), job_id


def _no_backoff(provider):
    provider.api_client.transport.sleep = lambda seconds: None  # retries without waiting
    return provider


def _then(provider, action):
    """Run ``action`` once, right after the first job list page the sync reads."""
    client = provider.api_client
    real = client.list_jobs
    done = []

    def list_jobs(flt, full=False):
        page = real(flt, full=full)
        if not done:
            done.append(action())
        return page

    client.list_jobs = list_jobs
    return provider


def test_sync_gives_up_early_when_the_server_fails_every_request_and_resumes(tmp_path):
    with Emulator(seed_jobs=300, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = _then(_no_backoff(jobarchive.connect(emu.url, emu.token)),
                         lambda: (emu.reset_stats(), emu.set_faults({"rate": 1.0, "kinds": ["503"]})))
        with pytest.raises(jobarchive.exceptions.RequestsApiError, match="run sync again"):
            arc.sync(provider, progress=False, workers=4, batch_size=50)
        # Each job climbs the retry ladder (6 requests): a handful of jobs, not all 300.
        assert emu.stats()["total"] < 150, emu.stats()
        assert arc.audit()["ok"].all()
        emu.set_faults(None)
        report = arc.sync(_no_backoff(jobarchive.connect(emu.url, emu.token)), progress=False)
        assert not report.failed
        _assert_equal_to_server(arc, emu)


def test_sync_gives_up_early_when_the_server_goes_away(tmp_path):
    emu = Emulator(seed_jobs=200, seed=3).start()
    try:
        provider = _then(_no_backoff(jobarchive.connect(emu.url, emu.token)), emu.stop)
        client = provider.api_client
        with Archive(tmp_path / "a") as arc:
            with pytest.raises(jobarchive.exceptions.RequestsApiError, match="run sync again"):
                arc.sync(provider, progress=False, workers=4, batch_size=50)
            assert client.request_count < 100  # was 4 connection attempts for each of 200 jobs
    finally:
        emu.stop()


def test_sync_refreshes_queue_information_of_jobs_whose_status_did_not_move(tmp_path):
    with Emulator(seed_jobs=5, seed_active=30, seed=3, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        queued = list(arc.query(status="QUEUED")["job_id"])
        emu.advance(60)  # the queue moves; most jobs are still QUEUED
        still = [j for j in queued if emu.job_doc(j)["status"] == "QUEUED"]
        moved = [j for j in still if IBMQJob.from_server(emu.job_doc(j)).to_dict()["info_queue"]
                 != arc.record(j)["info_queue"]]
        assert moved, "the scenario needs queue information that changed"
        events = {j: len(arc.history(j)) for j in moved}
        report = arc.sync(provider, progress=False)
        assert report.changed >= len(moved)
        _assert_equal_to_server(arc, emu)
        # Events only for status, tag and name changes: none for queue information.
        assert {j: len(arc.history(j)) for j in moved} == events


def test_the_owner_of_a_record_from_either_hub_info_shape():
    from jobarchive.sync import _owner

    nested = {"hub": {"name": "h", "priority": 1}, "group": {"name": "g"}, "project": {"name": "p"}}
    flat = {"hubName": "h", "groupName": "g", "projectName": "p"}
    assert _owner({"hub_info": nested}) == _owner({"hub_info": flat}) == ("h", "g", "p")
    assert _owner({"hub_info": None}) is None and _owner({}) is None
    assert _owner({"hub_info": {"hub": {"name": "h"}}}) is None  # incomplete: unknown owner
