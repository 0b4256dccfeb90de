"""A retag while `sync --follow` waits for queued jobs (hours, polling every minute): the
follow should hold the archive's write lock only while it syncs, so that a retag between
its passes runs instead of failing as busy."""

from __future__ import annotations

import time
import types

import pytest

import jobarchive
import jobarchive.sync
from jobarchive import Archive
from jobarchive.exceptions import ArchiveLockedError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


# The retag's warning that a sync takes back tags of running jobs is true here; not the point.
@pytest.mark.filterwarnings("ignore:.*retagged locally are still running:UserWarning")
def test_a_retag_between_follow_passes_is_not_refused_as_busy(tmp_path, monkeypatch):
    with Emulator(seed_jobs=4, seed_active=2, seed=3, time_scale=0.0001) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        outcomes = []

        def between_passes(seconds):  # the follow's wait: the user retags meanwhile
            try:
                frame = arc.retag(ids, additional_tags=["meanwhile"], progress=False)
                outcomes.append(frame.attrs["summary"]["updated"])
            except ArchiveLockedError as err:
                outcomes.append(err)

        monkeypatch.setattr(jobarchive.sync, "time", types.SimpleNamespace(
            sleep=between_passes, monotonic=time.monotonic, time=time.time))
        report = arc.sync(provider, follow=True, poll_interval=60, max_passes=2,
                          progress=False)
        assert report.passes == 2
        assert outcomes == [len(ids)]
