"""Undoing a remote retag that planned from the server's tags (`retag --remote`, the CLI's
default) reverts that run's change only: a tag a colleague put on the server before it is
not the run's to take away."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.retag import undo

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_undo_keeps_tags_the_server_held_before_the_run(tmp_path):
    with Emulator(seed_jobs=20, seed=6) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        before = {j: list(emu.job_doc(j).get("tags") or []) for j in ids}
        colleague = ids[:5]  # tagged on the server since the last sync
        for job_id in colleague:
            emu.update_job(job_id, tags=[*before[job_id], "colleague"])
        arc.retag(ids, additional_tags=["mine"], provider=provider, progress=False,
                  read_server_tags=True)
        assert all("colleague" in arc.get(j).tags() for j in colleague)
        undo(arc, provider=provider, progress=False, read_server_tags=True)
        for job_id in ids:
            server = sorted(emu.job_doc(job_id).get("tags") or [])
            expected = sorted(before[job_id] + ["colleague"] * (job_id in colleague))
            assert server == expected, job_id
            assert sorted(arc.get(job_id).tags()) == expected, job_id
