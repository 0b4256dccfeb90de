"""Bulk retag as a user runs it: progress moves with the work, semantics as upstream."""

from __future__ import annotations

import pytest
import tqdm

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


@pytest.fixture
def synced(tmp_path):
    with Emulator(seed_jobs=30, seed=6) as emu:
        with Archive(tmp_path / "p") as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            yield emu, arc


def test_remote_progress_moves_per_job_not_per_batch(synced, monkeypatch):
    """A remote batch is hundreds of PUTs (a minute on a slow server): the bar must move
    as each answer arrives, not jump once at the end of the batch."""
    emu, arc = synced
    steps: list[int] = []
    real_update = tqdm.tqdm.update

    def update(self, n=1):
        if getattr(self, "desc", "") == "retag":
            steps.append(n)
        return real_update(self, n)

    monkeypatch.setattr(tqdm.tqdm, "update", update)
    ids = list(arc.query()["job_id"])
    frame = arc.retag(ids, additional_tags=["p"], provider=jobarchive.connect(emu.url, emu.token),
                      progress=True, workers=2, batch_size=len(ids))
    assert (frame["outcome"] == "updated").all()
    assert sum(steps) == len(ids)
    assert max(steps) == 1, steps
