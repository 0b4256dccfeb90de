"""Retag against the real server's list shape (emulator over real sockets)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_retag_reading_server_tags_keeps_a_colleagues_tag_with_the_real_list_shape(tmp_path):
    with Emulator(seed_jobs=12, seed=2, lean_lists=True) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        job_id = emu.job_docs()[0]["id"]
        before = list(emu.job_doc(job_id).get("tags") or [])
        emu.update_job(job_id, tags=[*before, "colleague"])  # changed on the server since
        frame = arc.retag([job_id], additional_tags=["mine"], provider=provider,
                          progress=False, read_server_tags=True)
        assert frame["outcome"].tolist() == ["updated"]
        assert set(emu.job_doc(job_id).get("tags") or []) == {*before, "colleague", "mine"}
