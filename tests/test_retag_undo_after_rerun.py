"""Re-running the same tag operation adds to its undo log (that is how an interrupted run
resumes). When a job's tags changed elsewhere between the two runs (a colleague on the
server, a sync), the second run's "before" is what undo must restore, not the first's: a
colleague's tag is not the retag's to take away."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.retag import undo

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def _tags(emu, arc, job_id):
    return sorted(emu.job_doc(job_id).get("tags") or []), sorted(arc.get(job_id).tags())


def test_undo_of_a_rerun_keeps_a_tag_put_on_the_server_between_the_runs(tmp_path):
    with Emulator(seed_jobs=6, seed=21) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        for job_id in ids:
            emu.update_job(job_id, tags=["e"])
        arc.sync(provider, full=True, progress=False)
        arc.retag(ids, additional_tags=["x"], provider=provider, read_server_tags=True,
                  progress=False)
        colleague = ids[0]  # takes x away and puts c on the job, on the server
        emu.update_job(colleague, tags=["e", "c"])
        arc.retag(ids, additional_tags=["x"], provider=provider, read_server_tags=True,
                  progress=False)
        assert _tags(emu, arc, colleague) == (["c", "e", "x"], ["c", "e", "x"])
        undo(arc, provider=provider, read_server_tags=True, progress=False)
        assert _tags(emu, arc, colleague) == (["c", "e"], ["c", "e"])
        for job_id in ids[1:]:
            assert _tags(emu, arc, job_id) == (["e"], ["e"])


def test_local_undo_of_a_rerun_keeps_a_tag_a_sync_brought_between_the_runs(tmp_path):
    with Emulator(seed_jobs=3, seed=22) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        job_id = arc.query()["job_id"][0]
        emu.update_job(job_id, tags=["e"])
        arc.sync(provider, full=True, progress=False)
        arc.retag([job_id], additional_tags=["x"], progress=False)
        emu.update_job(job_id, tags=["e", "c"])
        arc.sync(provider, full=True, progress=False)  # the server's tags win: x goes
        assert sorted(arc.get(job_id).tags()) == ["c", "e"]
        arc.retag([job_id], additional_tags=["x"], progress=False)
        undo(arc, progress=False)
        assert sorted(arc.get(job_id).tags()) == ["c", "e"]
