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


def test_remote_retag_keeps_tags_added_on_the_server_since_the_last_sync(synced):
    """A colleague tagged jobs on the server after our last sync. With read_server_tags
    (the CLI's --remote) X is added to the tags the server holds (as
    retrieve_job().update_tags() does), not the archive's stale list pushed over them:
    their tag was silently deleted."""
    emu, arc = synced
    provider = jobarchive.connect(emu.url, emu.token)
    ids = list(arc.query(descending=False)["job_id"])
    added, removed = ids[:3], ids[3:6]
    for job_id in added:
        emu.update_job(job_id, tags=[*(emu.job_doc(job_id).get("tags") or []), "colleague"])
    for job_id in removed:  # they also cleared these jobs' tags
        emu.update_job(job_id, tags=[])
    frame = arc.retag(ids, additional_tags=["mine"], provider=provider, progress=False,
                      read_server_tags=True)
    assert (frame["outcome"] != "refused").all()
    for job_id in ids:
        server = (emu.job_doc(job_id).get("tags") or [])
        assert "mine" in server
        assert sorted(server) == sorted(arc.get(job_id).tags())
    for job_id in added:
        assert "colleague" in (emu.job_doc(job_id).get("tags") or [])
    for job_id in removed:
        assert (emu.job_doc(job_id).get("tags") or []) == ["mine"]


def test_remote_retag_where_the_server_already_has_the_tags_sends_nothing(synced):
    """Someone already applied the campaign on the server: nothing is sent, the archive
    takes the server's tags."""
    emu, arc = synced
    provider = jobarchive.connect(emu.url, emu.token)
    ids = list(arc.query(descending=False)["job_id"])[:5]
    for job_id in ids:
        emu.update_job(job_id, tags=[*(emu.job_doc(job_id).get("tags") or []), "done-there"])
    emu.reset_stats()
    frame = arc.retag(ids, additional_tags=["done-there"], provider=provider, progress=False,
                      read_server_tags=True)
    assert emu.stats().get("job_update", 0) == 0
    assert (frame["outcome"] == "updated").all()
    for job_id in ids:
        assert "done-there" in arc.get(job_id).tags()


def test_remote_dry_run_plans_from_the_server_tags_and_changes_nothing(synced):
    emu, arc = synced
    provider = jobarchive.connect(emu.url, emu.token)
    job_id = arc.query(descending=False)["job_id"][0]
    emu.update_job(job_id, tags=["colleague"])
    before = arc.get(job_id).tags()
    emu.reset_stats()
    plan = arc.retag([job_id], additional_tags=["mine"], provider=provider, dry_run=True,
                     read_server_tags=True)
    assert sorted(plan["new_tags"][0]) == ["colleague", "mine"]
    assert emu.stats().get("job_update", 0) == 0
    assert (emu.job_doc(job_id).get("tags") or []) == ["colleague"] and arc.get(job_id).tags() == before


def test_cli_remote_retag_killed_then_rerun_applies_each_change_once(tmp_path, count_tag_updates):
    """SIGKILL `jobarchive retag --remote` (which reads the server's tags first) mid-run,
    a few times; the re-run ends with server and archive equal, each change applied once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from jobarchive.job import apply_tag_update

    with Emulator(seed_jobs=80, seed=12, latency=0.002) as emu:
        path = tmp_path / "k"
        with Archive(path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            ids = list(arc.query()["job_id"])
            expected = {j: apply_tag_update(arc.get(j).tags(), None, ["k"], ["exp1"]) for j in ids}
            changing = {j for j in ids if set(expected[j]) != set(arc.get(j).tags())}
        applied = count_tag_updates(emu)
        argv = [sys.executable, "-m", "jobarchive.cli", "--archive", str(path), "retag",
                "--all", "--add", "k", "--remove", "exp1", "--remote", "--url", emu.url,
                "--token", emu.token, "--workers", "2", "--no-progress"]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        for target in (5, 20, 40):
            emu.reset_stats()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=env)
            while proc.poll() is None and emu.stats().get("job_update", 0) < target:
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.2)  # let the server finish requests the dead client left in flight
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        with Archive(path) as arc:
            assert arc.audit()["ok"].all()
            for job_id in ids:
                assert set(arc.get(job_id).tags()) == set(expected[job_id])
                assert set(emu.job_doc(job_id).get("tags") or []) == set(expected[job_id])
        assert applied == dict.fromkeys(changing, 1)


@pytest.mark.parametrize("lean", ["lean_lists", "lean_full_lists"])
def test_read_server_tags_with_listings_that_carry_no_tags(tmp_path, lean):
    """Neither the real Jobs/status/v/1 items nor (perhaps) Jobs/v/1 listings carry tags:
    a job whose listed document has none is read alone (GET J/v/1), never taken for
    'no tags' and never planned from the archive's stale list."""
    with Emulator(seed_jobs=12, seed=2, **{lean: True}) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        job_id = emu.job_docs()[0]["id"]
        before = list(emu.job_doc(job_id).get("tags") or [])
        emu.update_job(job_id, tags=[*before, "colleague"])
        frame = arc.retag([job_id], additional_tags=["mine"], provider=provider,
                          progress=False, read_server_tags=True)
        assert frame["outcome"].tolist() == ["updated"]
        assert set(emu.job_doc(job_id).get("tags") or []) == {*before, "colleague", "mine"}
        assert set(arc.get(job_id).tags()) == {*before, "colleague", "mine"}
