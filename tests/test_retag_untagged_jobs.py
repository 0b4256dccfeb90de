"""Jobs given no tags: the real server leaves ``tags`` out of their documents (realdata,
2021), and the emulator does the same. Sync and retag must read that as "no tags"."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_emulator_documents_leave_out_tags_never_given(tmp_path):
    with Emulator(seed_jobs=40, seed=2) as emu:
        docs = emu.job_docs()
        assert any("tags" not in d for d in docs) and any(d.get("tags") for d in docs)
        provider = jobarchive.connect(emu.url, emu.token)
        sim = next(b for b in provider.backends() if b.configuration().get("simulator"))
        from jobarchive.demo import bell_and_ghz
        from jobarchive.qobj import qobj_from_circuits

        job = sim.run(qobj_from_circuits(bell_and_ghz(), shots=10))
        assert "tags" not in emu.job_doc(job.job_id())
        assert job.tags() == []


def test_sync_archives_untagged_jobs_with_empty_tags_and_full_sync_keeps_them(tmp_path):
    with Emulator(seed_jobs=40, seed=2) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        assert not arc.sync(provider, progress=False).failed
        untagged = [d["id"] for d in emu.job_docs() if "tags" not in d]
        assert untagged and all(arc.record(j)["tags"] == [] for j in untagged)
        report = arc.sync(provider, progress=False, full=True)
        assert not report.failed and report.changed == 0
        frame = arc.query(job_tags=["exp1"])
        assert set(frame["job_id"]) == {d["id"] for d in emu.job_docs()
                                        if "exp1" in (d.get("tags") or [])}


def test_remote_retag_reading_server_tags_asks_no_job_alone_for_untagged_jobs(tmp_path):
    # A full listed document without `tags` is a job without tags: reading each such job
    # again with GET J/v/1 doubled the requests of a bulk retag of untagged jobs.
    with Emulator(seed_jobs=60, seed=2) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        untagged = [d["id"] for d in emu.job_docs() if "tags" not in d]
        assert len(untagged) >= 5
        emu.reset_stats()
        plan = arc.retag(untagged, additional_tags=["x"], provider=provider, dry_run=True,
                         progress=False, read_server_tags=True)
        assert plan["server_tags"].tolist() == [[]] * len(untagged)
        assert emu.stats().get("job_get", 0) == 0
        frame = arc.retag(untagged, additional_tags=["x"], provider=provider, progress=False,
                          read_server_tags=True)
        assert (frame["outcome"] == "updated").all()
        assert emu.stats().get("job_get", 0) == 0
        assert all(emu.job_doc(j)["tags"] == ["x"] for j in untagged)


def test_full_sync_reads_a_full_document_without_tags_as_no_tags(tmp_path):
    # A full sync makes the archive's names and tags the server's. A job given no tags has
    # a full document without `tags`, which was read as "not sent": a tag the archive held
    # (a local-only retag, an archive kept from another server) stayed, while the same tag
    # on a tagged job was replaced by the server's tags.
    with Emulator(seed_jobs=40, seed=2) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        untagged = next(d["id"] for d in emu.job_docs() if "tags" not in d)
        tagged = next(d["id"] for d in emu.job_docs() if d.get("tags"))
        arc.retag([untagged, tagged], additional_tags=["local-only"], progress=False)
        report = arc.sync(provider, progress=False, full=True)
        assert not report.failed and report.changed == 2
        assert arc.record(tagged)["tags"] == emu.job_doc(tagged)["tags"]
        assert arc.record(untagged)["tags"] == []


def test_a_resumed_removal_that_left_no_tags_is_verified_not_sent_again(tmp_path):
    # A run killed after its PUT of [] landed: the re-run reads the job (its full document
    # now has no `tags`) and must see the change is there, not send it again.
    from jobarchive.retag import campaign_name

    with Emulator(seed_jobs=20, seed=2) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        job_id = next(d["id"] for d in emu.job_docs() if len(d.get("tags") or []) == 1)
        (tag,) = emu.job_doc(job_id)["tags"]
        emu._state.jobs[job_id].tags = None  # the PUT landed; the server holds no tags
        arc.index.journal_put(campaign_name(None, None, [tag]), [(job_id, "sending", "[]")])
        emu.reset_stats()
        frame = arc.retag([job_id], removal_tags=[tag], provider=provider, progress=False)
        assert frame["outcome"].tolist() == ["updated"]
        assert frame.attrs["summary"]["verified"] == 1 and frame.attrs["summary"]["sent"] == 0
        assert emu.stats().get("job_update", 0) == 0
        assert arc.record(job_id)["tags"] == []
