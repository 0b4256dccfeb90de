"""Until a local retag of a running job survives the next sync (strict xfail in
test_syncsem_local_retag.py), the retag says so when it is made, instead of the change
vanishing at the next cron sync without a word."""

from __future__ import annotations

import warnings

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_a_local_retag_of_running_jobs_warns_that_sync_undoes_it(tmp_path):
    with Emulator(seed_jobs=4, seed=1, seed_active=3, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        jobs = arc.query()
        final = jobs["status"].isin(["DONE", "ERROR", "CANCELLED"])
        running, done = list(jobs.loc[~final, "job_id"]), list(jobs.loc[final, "job_id"])
        assert running and done
        with pytest.warns(UserWarning, match=rf"^{len(running)} of the jobs retagged locally "
                          r"are still running .* the next sync takes their tags from the "
                          r"server.*--remote") as caught:
            arc.retag(running + done, additional_tags=["mine"], progress=False)
        assert caught[0].filename == __file__  # points at the caller
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            arc.retag(done, additional_tags=["other"], progress=False)  # final: nothing to say
            arc.retag(running, additional_tags=["mine"], progress=False)  # nothing changed
