"""A server without ``GET {P}/Jobs/v/1`` (clients used it only from 0.20 on, reference §7;
the 2021 recordings list through ``Jobs/status/v/1``) answers LoopBack's 404 "There is no
method to handle". Sync listed only through it, so every sync failed there. Real emulator
on 127.0.0.1, real files in tmp_path."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive, IBMQJob
from jobarchive.emulator import Emulator


def test_sync_and_retag_work_against_a_server_without_the_full_job_list(tmp_path):
    with Emulator(seed_jobs=25, seed_active=3, seed=4, time_scale=1e-6, lean_lists=True,
                  no_full_lists=True) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        first = arc.sync(provider, progress=False)
        assert not first.failed and first.discovered == 28
        for doc in emu.job_docs():
            want = IBMQJob.from_server(doc).to_dict()
            got = arc.record(doc["id"])
            for key in ("name", "tags", "time_per_step", "status", "client_info"):
                assert got[key] == want[key], (doc["id"], key)
        emu.advance(3600)
        emu.reset_stats()
        again = arc.sync(provider, progress=False, full=True)
        assert not again.failed and again.refreshed == 3
        assert emu.stats().get("jobs_list_v1", 0) <= 1  # asked once, then not again
        job_id = emu.job_docs()[0]["id"]
        emu.update_job(job_id, tags=["colleague"])
        frame = arc.retag([job_id], additional_tags=["mine"], provider=provider,
                          progress=False, read_server_tags=True)
        assert frame["outcome"].tolist() == ["updated"]
        assert set(emu.job_doc(job_id)["tags"]) == {"colleague", "mine"}
