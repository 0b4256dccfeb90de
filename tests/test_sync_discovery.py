"""Sync engine defects found in review: each test failed on the code before its fix.

Real emulator on 127.0.0.1 (port 0), real SQLite and Parquet files in tmp_path.
"""

from __future__ import annotations

import jobarchive
from jobarchive import Archive, IBMQJob
from jobarchive.demo import bell_and_ghz
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits
from jobarchive.query import to_utc_us


def _sim(provider):
    return next(b for b in provider.backends() if b.configuration().get("simulator"))


def _set_final_status(emu, job_id: str, status: str) -> str:
    """Make the server report ``status`` as the job's last step (as a newer server might);
    returns the status it had."""
    job = emu._state.jobs[job_id]
    steps = job.timeline
    job.timeline = steps[:-1] + [(status, steps[-1][1])]
    return steps[-1][0]


def _cursor_us(arc: Archive) -> int:
    (entry,) = arc.index.journal_get("sync:cursor").values()
    return int(entry[1])


def test_a_job_with_an_unknown_status_is_reported_and_does_not_freeze_discovery(tmp_path):
    with Emulator(seed_jobs=20, seed=3, time_scale=600.0) as emu, \
            Archive(tmp_path / "a") as arc:
        docs = sorted(emu.job_docs(), key=lambda d: d["creationDate"])
        odd = docs[10]["id"]
        was = _set_final_status(emu, odd, "ARCHIVED_ON_TAPE")
        provider = jobarchive.connect(emu.url, emu.token)

        first = arc.sync(provider, progress=False)
        assert first.discovered == 19 and odd not in arc
        assert "ARCHIVED_ON_TAPE" in first.failed[odd]  # reported, with the status it has
        before = {j: arc.record(j) for j in arc.query()["job_id"]}
        # Discovery moved past it: the cursor is at the newest job, not frozen at the odd one.
        assert _cursor_us(arc) == to_utc_us(docs[-1]["creationDate"], "d")

        new = _sim(provider).run(qobj_from_circuits(bell_and_ghz(), shots=10)).job_id()
        emu.advance(3600)
        second = arc.sync(provider, progress=False)
        assert new in arc and second.discovered == 1
        assert odd in second.failed and odd not in arc  # still reported while still unknown
        assert _cursor_us(arc) == to_utc_us(emu.job_doc(new)["creationDate"], "d")

        # Once the server reports a status this version knows, the job is archived in full.
        _set_final_status(emu, odd, was)
        third = arc.sync(provider, progress=False)
        assert not third.failed and third.discovered == 1
        want = IBMQJob.from_server(emu.job_doc(odd)).to_dict()
        got = arc.record(odd)
        assert {k: v for k, v in got.items() if k not in ("result", "qobj")} == \
            {k: v for k, v in want.items() if k not in ("result", "qobj")}
        if was == "COMPLETED":
            assert got["result"] == emu.result_of(odd)
        # Nothing archived before was touched.
        assert all(arc.record(j) == r for j, r in before.items())
        assert arc.audit()["ok"].all()
        assert not arc.sync(provider, progress=False).failed


def test_full_sync_brings_a_changed_final_status_into_the_archive_and_its_events(tmp_path):
    with Emulator(seed_jobs=30, seed=5) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        assert not arc.sync(provider, progress=False).failed
        by_status: dict[str, str] = {}
        for d in emu.job_docs():
            by_status.setdefault(d["status"], d["id"])
        failed = by_status.get("ERROR_RUNNING_JOB") or by_status["COMPLETED"]
        old = arc.record(failed)["status"]
        _set_final_status(emu, failed, "CANCELLED")
        emu.update_job(failed, tags=["moved"])
        untouched = {j: arc.record(j) for j in arc.query()["job_id"] if j != failed}

        report = arc.sync(provider, progress=False, full=True)
        assert not report.failed and report.changed == 1
        got = arc.record(failed)
        assert got["status"] == "CANCELLED" and got["tags"] == ["moved"]
        events = arc.history(failed)
        status_events = events[events["kind"] == "status"]
        assert [(o, n) for o, n in zip(status_events["old"], status_events["new"], strict=True)] \
            == [(old, "CANCELLED")]
        assert all(arc.record(j) == r for j, r in untouched.items())
        assert arc.audit()["ok"].all()
        again = arc.sync(provider, progress=False, full=True)
        assert again.changed == 0 and not again.failed


def test_follow_does_not_report_jobs_a_later_pass_archived_as_failed(tmp_path, monkeypatch):
    """``sync(follow=True)`` (``jobarchive sync --follow``) kept every failure of its first
    pass in ``report.failed`` although a later pass fetched the job: the CLI then said "N
    jobs failed" and exited 3 for an archive that was complete."""
    import jobarchive.sync as sync_module

    with Emulator(seed_jobs=6, seed=1, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        running = _sim(provider).run(qobj_from_circuits(bell_and_ghz(), shots=10)).job_id()
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_result"]})

        def between_passes(seconds: float) -> None:  # the server recovers, the job ends
            emu.set_faults(None)
            emu.advance(3600)

        monkeypatch.setattr(sync_module.time, "sleep", between_passes)
        report = arc.sync(provider, progress=False, follow=True, poll_interval=1.0,
                          max_passes=5, give_up_after=100)
        assert report.passes == 2 and report.pending == 0
        assert not report.failed, report.failed
        done = [d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED"]
        assert running in done
        assert all(arc.record(j)["result"] == emu.result_of(j) for j in done)


def test_full_sync_of_changed_tags_does_not_rewrite_every_result(tmp_path):
    """A name/tag change seen by ``sync(full=True)`` (a retag made on the server) rewrote the
    job's result and qobj into a new Parquet file: the archive's payload storage doubled
    after a server-side retag of every job."""
    with Emulator(seed_jobs=40, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        files = sorted(p.relative_to(arc.path) for p in arc.path.rglob("*.parquet"))
        before = {d["id"]: arc.record(d["id"]) for d in emu.job_docs()}
        for doc in emu.job_docs():
            emu.update_job(doc["id"], tags=["renamed"], name="again")

        report = arc.sync(provider, progress=False, full=True)
        assert report.changed == 40 and not report.failed
        assert sorted(p.relative_to(arc.path) for p in arc.path.rglob("*.parquet")) == files
        for job_id, old in before.items():
            assert arc.record(job_id) == {**old, "tags": ["renamed"], "name": "again"}
        assert arc.audit()["ok"].all()


def test_full_sync_shows_progress_while_it_compares_every_job(tmp_path, capsys):
    """``sync --full`` lists and compares every job of the account (60,000 full documents
    for a big one, minutes): with nothing new to fetch, no progress bar ever appeared."""
    with Emulator(seed_jobs=30, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        capsys.readouterr()
        report = arc.sync(provider, progress=True, full=True)
        assert report.changed == 0
        assert "sync" in capsys.readouterr().err


def test_a_listed_entry_without_an_id_is_skipped_and_reported_not_blocking_discovery(tmp_path):
    """The server's list holding an entry that is no job document (here: no id) made every
    sync raise before writing its page, so no job of the account was ever archived again.
    qiskit discards such entries with a warning (reference §6); so does sync now."""
    with Emulator(seed_jobs=20, seed=3) as emu, Archive(tmp_path / "a") as arc:
        docs = sorted(emu.job_docs(), key=lambda d: d["creationDate"])
        broken = docs[10]["id"]
        emu._state.jobs[broken].id = None  # a server bug: the entry comes without an id
        provider = jobarchive.connect(emu.url, emu.token)
        report = arc.sync(provider, progress=False, page_size=5)
        assert len(arc) == 19 and report.discovered == 19
        (why,) = report.failed.values()
        assert "not a job document" in why
        assert _cursor_us(arc) == to_utc_us(docs[-1]["creationDate"], "d")
        assert arc.audit()["ok"].all()


def test_a_failed_job_completed_after_all_never_keeps_its_partial_result_as_the_result(
        tmp_path):
    """A job archived as ERROR_RUNNING_JOB with its partial result, that the server now
    reports COMPLETED: while the full result cannot be fetched, the archive must not call
    the partial result the job's result (a later pass took it as fetched and stopped
    reporting anything)."""
    with Emulator(seed_jobs=120, seed=5) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        job_id = next(d["id"] for d in emu.job_docs() if d["status"] == "ERROR_RUNNING_JOB"
                      and arc.record(d["id"])["result"] is not None)
        partial = arc.record(job_id)["result"]
        _set_final_status(emu, job_id, "COMPLETED")  # the emulator serves no result for it

        for full in (True, False, False):
            report = arc.sync(provider, progress=False, full=full)
            assert job_id in report.failed, full  # still reported, pass after pass
            record = arc.record(job_id)
            assert not (record["status"] == "COMPLETED" and record["result"] == partial)
        assert record == {**record, "status": "ERROR_RUNNING_JOB", "result": partial}


def test_a_new_job_that_keeps_failing_does_not_hold_discovery_back(tmp_path):
    """A new job that cannot be fetched (here the server fails on its document, every
    time) held the discovery cursor at its date: every later sync listed again every job
    created since, for as long as the job kept failing. It is remembered and asked for by
    id instead; the cursor moves on."""
    with Emulator(seed_jobs=20, seed=3, lean_lists=True, lean_full_lists=True) as emu, \
            Archive(tmp_path / "a") as arc:
        docs = sorted(emu.job_docs(), key=lambda d: d["creationDate"])
        broken = docs[10]["id"]
        info = emu._state.jobs[broken].client_info
        emu._state.jobs[broken].client_info = {"name": {1, 2}}  # its GET J/v/1 always fails
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)

        first = arc.sync(provider, progress=False)
        assert first.discovered == 19 and broken in first.failed and broken not in arc
        assert _cursor_us(arc) == to_utc_us(docs[-1]["creationDate"], "d")
        second = arc.sync(provider, progress=False)
        assert broken in second.failed and broken not in arc  # still reported

        emu._state.jobs[broken].client_info = info  # the server mends it
        third = arc.sync(provider, progress=False)
        assert not third.failed and third.discovered == 1
        assert arc.record(broken)["result"] == emu.result_of(broken)
        assert not arc.sync(provider, progress=False).failed


def test_follow_ends_when_a_running_job_turns_to_a_status_this_version_cannot_read(
        tmp_path, monkeypatch):
    """A job archived while running whose server status became one this version does not
    know kept ``sync --follow`` polling forever (it never looks final); it is reported in
    ``failed`` and no longer waited for."""
    import jobarchive.sync as sync_module

    with Emulator(seed_jobs=10, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        job_id = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        running = {**IBMQJob.from_server(emu.job_doc(job_id)).to_dict(), "status": "RUNNING"}
        arc.add(running)  # archived while it ran
        _set_final_status(emu, job_id, "PAUSED_FOR_MAINTENANCE")
        monkeypatch.setattr(sync_module.time, "sleep", lambda seconds: None)

        report = arc.sync(provider, progress=False, follow=True, max_passes=5)
        assert report.passes == 1 and report.pending == 0
        assert "PAUSED_FOR_MAINTENANCE" in report.failed[job_id]
        assert arc.record(job_id)["status"] == "RUNNING"  # kept as archived
