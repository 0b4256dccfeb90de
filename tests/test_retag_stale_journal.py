"""A remote retag killed between the server's confirmation and the archive write leaves a
"confirmed" journal entry. If that campaign is not re-run at once, the entry goes stale: the
job's tags change again (another retag, a sync). Re-running the same operation later must
make server and archive agree, not record "confirmed" tags the server no longer holds."""

from __future__ import annotations

import json

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.retag import campaign_name

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


@pytest.mark.parametrize("read_server_tags", [False, True])
def test_a_stale_confirmed_entry_is_not_taken_for_the_servers_state(tmp_path, read_server_tags):
    with Emulator(seed_jobs=10, seed=2) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        job_id = arc.query(descending=False)["job_id"][0]
        tags = list(arc.get(job_id).tags())
        assert "x" not in tags
        # What `retag --add x` killed right after the server confirmed leaves behind: the
        # server holds x, the archive does not, the journal says "confirmed".
        emu.update_job(job_id, tags=[*tags, "x"])
        arc.index.journal_put(campaign_name(None, ["x"], None),
                              [(job_id, "confirmed", json.dumps([*tags, "x"]))])
        # Instead of re-running it, the user syncs and then removes x everywhere.
        arc.sync(provider, progress=False, full=True)
        assert "x" in arc.get(job_id).tags()
        arc.retag([job_id], removal_tags=["x"], provider=provider, progress=False,
                  read_server_tags=read_server_tags)
        assert "x" not in (emu.job_doc(job_id).get("tags") or [])
        # Later, the same `--add x` once more.
        arc.retag([job_id], additional_tags=["x"], provider=provider, progress=False,
                  read_server_tags=read_server_tags)
        assert "x" in arc.get(job_id).tags()
        assert sorted(emu.job_doc(job_id).get("tags") or []) == sorted(arc.get(job_id).tags())
