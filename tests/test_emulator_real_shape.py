"""The emulator's job documents have the real server's shape where fields were never given:
no ``tags`` and no ``shareLevel`` (realdata: no recorded document carries shareLevel, and the
2021 ones no tags). Sync, query and the job API read them as upstream does."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.demo import bell_and_ghz
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


def test_documents_leave_out_a_share_level_never_given_and_the_archive_reads_none(tmp_path):
    with Emulator(seed_jobs=60, seed=2, time_scale=600.0) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        sim = next(b for b in provider.backends() if b.configuration().get("simulator"))
        shared = sim.run(qobj_from_circuits(bell_and_ghz(), shots=10),
                         job_share_level="project").job_id()
        emu.advance(3600)
        assert emu.job_doc(shared)["shareLevel"] == "project"
        without = [d["id"] for d in emu.job_docs() if "shareLevel" not in d]
        assert len(without) > 10  # the history's jobs of 2021 on, as their clients sent none
        assert not arc.sync(provider, progress=False).failed
        assert all(arc.get(j).share_level() == "none" for j in without)
        assert arc.get(shared).share_level() == "project"
        listed = set(arc.query(share_level="none")["job_id"])
        assert set(without) <= listed and shared not in listed
        live = provider.retrieve_job(next(j for j in without
                                          if "tags" not in emu.job_doc(j)))
        assert live.share_level() == "none" and live.tags() == []
        assert not arc.sync(provider, progress=False, full=True).changed
