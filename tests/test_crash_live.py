"""Crash consistency of sync and remote retag: many SIGKILL points, cheaply.

Workers are forked from one fork server (``fork_child.py``) that imported jobarchive once,
so a kill point costs a fork and a login, not an interpreter start. After every kill: the
archive opens, ``audit()`` is clean, every final job it holds equals the server's, and a
re-run finishes the work (sync: the archive equals the server; retag: each change reached
the server exactly once and archive and server agree). ``JOBARCHIVE_SYNC_CAMPAIGN_KILLS``
(default 60) and ``JOBARCHIVE_RETAG_CAMPAIGN_KILLS`` (default 60) size the campaigns; the
kill counts are printed in the terminal summary.
"""

from __future__ import annotations

import json
import math
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jobarchive
from jobarchive import Archive, IBMQJob
from jobarchive.job import apply_tag_update
from jobarchive.retag import campaign_name
from jobarchive.status import API_FINAL_STATUSES

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

FORK_CHILD = Path(__file__).with_name("fork_child.py")
SYNC_KILLS = int(os.environ.get("JOBARCHIVE_SYNC_CAMPAIGN_KILLS", "60"))
RETAG_KILLS = int(os.environ.get("JOBARCHIVE_RETAG_CAMPAIGN_KILLS", "60"))


class ForkServer:
    """Talks to fork_child.py: start a worker, kill it, learn how it ended."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(FORK_CHILD)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self._line() == "SERVING"

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        assert line, "the fork server died"
        return line.strip()

    def start(self, op: str, path: Path, emu, **kwargs) -> int:
        self.proc.stdin.write(json.dumps({"op": op, "path": str(path), "url": emu.url,
                                          "token": emu.token, "kwargs": kwargs}) + "\n")
        self.proc.stdin.flush()
        first = self._line()
        assert first.startswith("PID "), first
        pid = int(first.split()[1])
        ready = self._line()
        assert ready == f"READY {pid}", ready
        return pid

    def finished(self) -> bool:
        """True once the worker's EXIT line is waiting (it ended on its own)."""
        return bool(select.select([self.proc.stdout], [], [], 0)[0])

    def end(self, pid: int, kill: bool) -> int:
        """Kill the worker (if asked and still running); its exit code, -9 when killed."""
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended and was reaped already
        line = self._line()
        assert line.startswith(f"EXIT {pid} "), line  # an ERROR line fails here, with its trace
        return int(line.split()[2])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def forks():
    server = ForkServer()
    try:
        yield server
    finally:
        server.close()


def _count(stats: dict, what: str, kills: int) -> None:
    key = f"SIGKILL points, {what}"
    stats[key] = stats.get(key, 0) + kills


def _server_view(emu, job_id: str) -> dict:
    view = IBMQJob.from_server(emu.job_doc(job_id)).to_dict()
    view.pop("result"), view.pop("qobj")
    return view


def _check_final_jobs(arc: Archive, emu, rng: random.Random, sample: int | None) -> None:
    """Archived final jobs equal the server's (they cannot change there); DONE payloads too."""
    rows = [(j, s) for j, s in zip(*(arc.query(descending=False)[c] for c in ("job_id", "api_status")),
                                   strict=True) if s in API_FINAL_STATUSES]
    if sample is not None:
        rows = rng.sample(rows, min(sample, len(rows)))
    for job_id, status in rows:
        got = arc.record(job_id)
        result, qobj = got.pop("result"), got.pop("qobj")
        assert got == _server_view(emu, job_id), job_id
        if status == "COMPLETED" and result is not None:
            assert result == emu.result_of(job_id), job_id
        if qobj is not None:
            assert qobj == emu.qobj_of(job_id), job_id


def test_sync_kill_campaign(tmp_path, forks, campaign_stats):
    rng = random.Random(int(os.environ.get("JOBARCHIVE_SYNC_CAMPAIGN_SEED", "5")))
    kills = rounds = finished = 0
    path = tmp_path / "r0"
    with Emulator(seed_jobs=120, seed=4, seed_active=8, latency=0.002, time_scale=600.0) as emu:
        while kills < SYNC_KILLS:
            pid = forks.start("sync", path, emu, batch_size=rng.choice([10, 25, 60]),
                              workers=rng.choice([2, 4]))
            deadline = time.monotonic() + rng.uniform(0.0, 0.5)
            while time.monotonic() < deadline and not forks.finished():
                time.sleep(0.002)
            code = forks.end(pid, kill=True)
            assert code in (0, -signal.SIGKILL), code
            kills += code == -signal.SIGKILL
            if not (path / "index.db").exists():
                continue  # killed before the archive was created
            with Archive(path, create=False) as arc:
                frame = arc.audit(verify=kills % 5 == 0)
                assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")
                _check_final_jobs(arc, emu, rng, sample=40 if code == 0 else 8)
                if code == 0:  # the re-run finished: every server job is there
                    finished += 1
                    assert len(arc) == len(emu.job_docs())
                    arc.audit(repair=True)
                    assert arc.audit().attrs["orphans"] == []
                    rounds += 1
                    path = tmp_path / f"r{rounds}"
        with Archive(path) as arc:  # and a last sync in-process completes the last one
            report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            assert not report.failed
            assert len(arc) == len(emu.job_docs())
            _check_final_jobs(arc, emu, rng, sample=None)
            assert arc.audit(repair=True)["ok"].all()
    assert kills == SYNC_KILLS
    assert finished >= 1, "no worker ever finished a sync: kill later"
    _count(campaign_stats, "sync (forked campaign)", kills)


def test_remote_retag_kill_campaign(tmp_path, forks, campaign_stats):
    """Kill retag workers after a random number of PUTs; each campaign is re-run until done,
    and every change reaches the server exactly once."""
    rng = random.Random(int(os.environ.get("JOBARCHIVE_RETAG_CAMPAIGN_SEED", "3")))
    per_campaign = 6
    path = tmp_path / "kill.jobarchive"
    done = 0
    with Emulator(seed_jobs=100, seed=9, latency=0.002) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with Archive(path) as arc:
            arc.sync(provider, progress=False)
            ids = list(arc.query(descending=False)["job_id"])
        applied: dict[str, int] = {}
        real_update = emu._state.update

        def counting_update(job, name=..., tags=...):  # changes the server really applied
            if tags is not ...:
                applied[job.id] = applied.get(job.id, 0) + 1
            return real_update(job, name=name, tags=tags)

        emu._state.update = counting_update
        for n in range(math.ceil(RETAG_KILLS / per_campaign)):
            op = {"additional_tags": [f"k{n}"], "removal_tags": [f"k{n - 1}", "exp1"]}
            if n % 3 == 2:
                op = {"replacement_tags": [f"r{n}"], "additional_tags": None, "removal_tags": None}
            with Archive(path) as arc:
                expected = {j: apply_tag_update(arc.get(j).tags(), op.get("replacement_tags"),
                                                op["additional_tags"], op["removal_tags"]) for j in ids}
                before = {j: set(arc.get(j).tags()) for j in ids}
                changing = {j for j in ids if set(expected[j]) != before[j]}
            emu.reset_stats()
            applied.clear()
            targets = sorted(rng.sample(range(1, len(changing)), min(per_campaign, RETAG_KILLS - done)))
            for target in targets:
                pid = forks.start("retag", path, emu, batch_size=rng.choice([5, 12, 30]),
                                  workers=rng.choice([2, 4, 8]), **op)
                while not forks.finished() and emu.stats().get("job_update", 0) < target:
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.02))  # land in journal and archive writes too
                code = forks.end(pid, kill=True)
                assert code in (0, -signal.SIGKILL), code
                done += code == -signal.SIGKILL
                time.sleep(0.05)  # PUTs the dead worker left in flight land first
                with Archive(path) as arc:
                    assert arc.audit(verify=False)["ok"].all()
                    for job_id in rng.sample(ids, 15):
                        # The archive may lag the server (applied, not yet recorded), never lead.
                        mine, theirs = set(arc.get(job_id).tags()), set(emu.job_doc(job_id).get("tags") or [])
                        assert mine == theirs or (mine == before[job_id] and theirs == set(expected[job_id]))
            with Archive(path) as arc:
                frame = arc.retag(ids, provider=provider, progress=False, **op)
                assert (frame["outcome"] != "refused").all()
                assert arc.index.journal_get(campaign_name(op.get("replacement_tags"),
                                                           op["additional_tags"],
                                                           op["removal_tags"])) == {}
                for job_id in ids:
                    assert set(arc.get(job_id).tags()) == set(expected[job_id])
                    assert set(emu.job_doc(job_id).get("tags") or []) == set(expected[job_id])
                assert arc.audit()["ok"].all()
            assert applied == dict.fromkeys(changing, 1), (op, targets)
    assert done >= RETAG_KILLS - 2  # a worker may finish before its target, rarely
    _count(campaign_stats, "retag (forked campaign)", done)
