"""A remote retag the server refuses outright for every job (jobs purged from the server:
404 'Job not found') changes nothing, so `undo` still means the run before it, and a
re-run of it sends again without first reading jobs it knows were refused."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.retag import undo

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

PURGED = [{"job_id": f"purged{i:018d}", "creation_date": "2019-02-01T10:00:00Z",
           "status": "COMPLETED", "backend_name": "ibmq_16_melbourne", "tags": ["old"]}
          for i in range(3)]


def test_undo_after_a_wholly_refused_run_reverts_the_run_before(tmp_path):
    with Emulator(seed_jobs=8, seed=17) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        before = {j: set(emu.job_doc(j).get("tags") or []) for j in ids}
        arc.retag(ids, additional_tags=["campaign"], provider=provider, progress=False)
        arc.add_many(PURGED)  # archived years ago; the server has since purged them
        purged = [j["job_id"] for j in PURGED]
        refused = arc.retag(purged, additional_tags=["reviewed"], provider=provider,
                            progress=False)
        assert set(refused["outcome"]) == {"refused"}
        assert all("Job not found" in e or "404" in e for e in refused["error"])

        emu.reset_stats()
        again = arc.retag(purged, additional_tags=["reviewed"], provider=provider,
                          progress=False)
        assert again.attrs["summary"]["verified"] == 0  # no GET first: nothing was applied
        assert emu.stats().get("job_update", 0) == len(purged)

        back = undo(arc, provider=provider, progress=False)
        assert back.attrs["summary"]["updated"] == len(ids)
        for job_id in ids:
            assert set(emu.job_doc(job_id).get("tags") or []) == before[job_id], job_id
            assert set(arc.get(job_id).tags()) == before[job_id], job_id
        assert all(arc.get(j).tags() == ["old"] for j in purged)
