"""Crash consistency: SIGKILL a writer at random moments and at exact points, then check.

After every kill: the archive opens, ``audit()`` finds no problem (an orphan blob at most,
which ``audit(repair=True)`` removes), every acknowledged job is there intact, and a re-run
finishes the work.

Two harnesses: ``test_add_many_survives_sigkill_at_random_points`` starts a fresh interpreter
per kill (slow, so few kills); the campaign forks writers from one process that imported
jobarchive once, so it affords many kill points, half of them at exact places in the write
path (see ``crash_child.campaign``). CI runs ``JOBARCHIVE_KILLS`` kill points (default 80);
``pytest --runslow`` adds the long campaign (``JOBARCHIVE_LONG_KILLS``, default 600).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_child import KILL_MODES, make_records

from jobarchive import Archive, IBMQJob

CHILD = Path(__file__).with_name("crash_child.py")
EXEC_KILLS = int(os.environ.get("JOBARCHIVE_EXEC_KILLS", "4"))
KILLS = int(os.environ.get("JOBARCHIVE_KILLS", "80"))
LONG_KILLS = int(os.environ.get("JOBARCHIVE_LONG_KILLS", "600"))


def _start(path: Path, seed: int, batches: int, size: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), str(seed), str(batches), str(size)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    return proc


def _check(path: Path, expected: dict[str, dict], acked: set[str], verified: set[str],
           rng: random.Random) -> None:
    arc = Archive(path, create=False)
    try:
        frame = arc.audit()
        assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")
        committed = set(frame["job_id"])
        assert acked <= committed, f"acknowledged jobs lost: {sorted(acked - committed)[:5]}"
        # Newly acknowledged jobs in full, plus a sample of whatever else was committed:
        # a job in the index always has its payloads.
        others = sorted(committed - acked)
        for job_id in sorted(acked - verified) + rng.sample(others, min(40, len(others))):
            assert arc.get(job_id).to_dict() == IBMQJob.from_dict(expected[job_id]).to_dict()
        verified |= acked
    finally:
        arc.close()


def test_add_many_survives_sigkill_at_random_points(tmp_path, campaign_stats):
    rng = random.Random(1234)
    batches, size = 40, 50
    data = make_records(7, batches, size)
    expected = {r["job_id"]: r for batch in data for r in batch}
    path = tmp_path / "crash.jobarchive"
    acked: set[str] = set()
    verified: set[str] = set()
    kills = 0
    for _ in range(EXEC_KILLS):
        proc = _start(path, 7, batches, size)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.splitlines():
            if line.startswith("ACK "):
                acked.update(line.split()[1:])
        kills += proc.returncode == -signal.SIGKILL
        _check(path, expected, acked, verified, rng)
    assert kills >= EXEC_KILLS // 2, "the writer finished before most kills; make the work longer"
    record_kills(campaign_stats, "exec", kills)

    proc = _start(path, 7, batches, size)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and out.strip().endswith("DONE")
    _check(path, expected, set(expected), verified, rng)
    with Archive(path) as arc:
        assert len(arc) == batches * size
        repaired = arc.audit(repair=True)
        assert repaired.attrs["summary"]["problems"] == 0
        assert arc.audit().attrs["orphans"] == []
        assert len(arc.counts()) == sum(
            len(e["data"]["counts"]) for r in expected.values() for e in r["result"]["results"])


@pytest.mark.parametrize("where", ["blob-before-row"])
def test_orphan_blob_is_listed_and_repaired(tmp_path, where):
    """A blob written without its rows (the crash window) is an orphan, nothing worse."""
    with Archive(tmp_path / "a") as arc:
        arc.add_many(make_records(3, 1, 5)[0])
        stray = arc.blobs.write([("ghost", {"q": 1}, None)])
        frame = arc.audit()
        assert frame["ok"].all()
        assert frame.attrs["orphans"] == [stray.path]
        arc.audit(repair=True)
        assert arc.audit().attrs["orphans"] == []
        assert len(arc) == 5


def record_kills(stats: dict, what: str, kills: int) -> None:
    key = f"SIGKILL points, add_many ({what})"
    stats[key] = stats.get(key, 0) + kills


def _campaign(tmp_path: Path, kills: int, seed: int) -> dict:
    proc = subprocess.run([sys.executable, str(CHILD), "campaign", str(tmp_path), str(kills), str(seed)],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_add_many_kill_campaign(tmp_path, campaign_stats):
    summary = _campaign(tmp_path, KILLS, seed=21)
    assert summary["problems"] == []
    assert summary["kills"] == KILLS
    if KILLS >= 2 * len(KILL_MODES):
        assert set(summary["points"]) == set(KILL_MODES)  # every kind of kill point was hit
    assert summary["finished_runs"] >= 1  # and a re-run finished the work at least once
    record_kills(campaign_stats, "campaign", summary["kills"])


@pytest.mark.slow
def test_add_many_long_kill_campaign(tmp_path, campaign_stats):
    summary = _campaign(tmp_path, LONG_KILLS, seed=99)
    assert summary["problems"] == [] and summary["kills"] == LONG_KILLS
    record_kills(campaign_stats, "long campaign", summary["kills"])
