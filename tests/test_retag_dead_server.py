"""Retag defects found in review: each test failed on the code before its fix.

Real emulator on 127.0.0.1 (port 0), real archives in tmp_path.
"""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator
from jobarchive.exceptions import RequestsApiError


def test_remote_retag_stops_early_when_the_server_is_down_and_a_rerun_finishes(tmp_path):
    """A server that fails every PUT (down, 5xx after retries) must not be asked once per
    job, each climbing the retry ladder: with 60,000 jobs that is hours of waiting for
    nothing. The run stops after a few failures in a row, says so, and a re-run resumes."""
    with Emulator(seed_jobs=60, seed=4) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        arc.sync(provider, progress=False)
        ids = [d["id"] for d in emu.job_docs()]
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["job_update"]})
        emu.reset_stats()
        with pytest.raises(RequestsApiError, match="stopped early") as info:
            arc.retag(ids, additional_tags=["h1"], provider=provider, progress=False,
                      workers=4, batch_size=20)
        assert info.value.status_code == 503
        assert emu.stats().get("job_update", 0) <= 12, emu.stats()  # not one per job
        assert not any("h1" in arc.record(j)["tags"] for j in ids)
        tried = emu.stats()["job_update"]

        emu.set_faults(None)
        emu.reset_stats()
        frame = arc.retag(ids, additional_tags=["h1"], provider=provider, progress=False,
                          workers=4, batch_size=20)
        assert set(frame["outcome"]) == {"updated"}
        # Only the PUTs whose outcome is unknown are checked first; jobs never sent are not.
        assert emu.stats().get("job_get", 0) == tried, (tried, emu.stats())
        assert all("h1" in emu.job_doc(j)["tags"] and "h1" in arc.record(j)["tags"]
                   for j in ids)


@pytest.mark.parametrize("dry_run", [False, True])
def test_reading_server_tags_from_a_dead_server_stops_early(tmp_path, dry_run):
    """``read_server_tags`` (what ``retag --remote`` does) lists 100 jobs a request: with the
    server down, every later request failed after its own retry ladder and the run ended
    "successfully" with every job refused. (A dry run reads 100 jobs a request.)"""
    with Emulator(seed_jobs=320, seed=4) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        arc.sync(provider, progress=False)
        ids = [d["id"] for d in emu.job_docs()]
        emu.set_faults({"rate": 1.0, "kinds": ["503"]})
        emu.reset_stats()
        with pytest.raises(RequestsApiError, match="stopped early"):
            arc.retag(ids, additional_tags=["h1"], provider=provider, progress=False,
                      workers=1, batch_size=5, read_server_tags=True, dry_run=dry_run)
        assert emu.stats()["total"] <= 3, emu.stats()
        assert not any("h1" in arc.record(j)["tags"] for j in ids)
