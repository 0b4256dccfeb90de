"""What exactly ran, for a job that failed while running: sync archives its qobj beside its
partial result, so that audit(reproduce=True) can check the partial result."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


def test_sync_archives_the_qobj_of_a_job_that_failed_while_running(tmp_path):
    with Emulator(seed_jobs=200, seed=3) as emu:
        failed = {d["id"] for d in emu.job_docs() if d["status"] == "ERROR_RUNNING_JOB"
                  and emu.result_of(d["id"]) is not None and emu.qobj_of(d["id"]) is not None}
        with Archive(tmp_path / "a.jobarchive") as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            audit = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert failed, "the emulator's history has such a job"
    rows = audit.loc[sorted(failed)]
    assert rows["has_result"].all()
    assert rows["has_qobj"].all(), rows[["has_result", "has_qobj"]]
    assert rows["fidelity"].notna().all() and rows["ok"].all()
