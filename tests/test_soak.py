"""Concurrency soak: reader processes query while a writer updates, for a fixed time.

Two writers: one re-adds local jobs (``add_many``); the other syncs against the emulator
(whose clock moves jobs on) and retags, remote and local, in one process, while another
adds local jobs.

No reader may error (``database is locked`` included) or see a job that fails the round
trip. ``JOBARCHIVE_SOAK_SECONDS`` sets the duration (default 6 s; CI-sized).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive import Archive

CHILD = Path(__file__).with_name("soak_child.py")
SECONDS = float(os.environ.get("JOBARCHIVE_SOAK_SECONDS", "6"))


def test_readers_never_fail_while_a_writer_writes(tmp_path):
    path = tmp_path / "soak"
    Archive(path).close()
    procs = [subprocess.Popen([sys.executable, str(CHILD), role, str(path), str(SECONDS), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, role in enumerate(["writer", "reader", "reader", "reader"])]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=SECONDS + 120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["ops"] > 0 for r in results), results
    with Archive(path) as arc:
        assert arc.audit()["ok"].all()


def test_readers_never_fail_while_a_writer_syncs_and_retags(tmp_path, campaign_stats):
    emulator = pytest.importorskip("jobarchive.emulator")
    path = tmp_path / "soak"
    Archive(path).close()
    with emulator.Emulator(seed_jobs=300, seed=12, seed_active=30, time_scale=600.0) as emu:
        roles = [("syncer", emu.url, emu.token), ("writer",), ("reader",), ("reader",), ("reader",)]
        procs = [subprocess.Popen([sys.executable, str(CHILD), role[0], str(path), str(SECONDS),
                                   str(i), *role[1:]],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i, role in enumerate(roles)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=SECONDS + 120)
            assert proc.returncode == 0, err[-2000:]
            assert "database is locked" not in err
            results.append(json.loads(out.strip().splitlines()[-1]))
        assert all(r["ops"] > 0 for r in results), results
        with Archive(path) as arc:
            assert arc.audit()["ok"].all()
            synced = [d["id"] for d in emu.job_docs() if d["id"] in arc]
            assert len(synced) == 330  # the syncer got through at least one full pass
            for job_id in synced[::10]:  # stored results are the server's
                record = arc.get(job_id).to_dict()
                if record["result"] is not None:
                    assert record["result"] == emu.result_of(job_id)
    key = "soak seconds (readers x seconds, sync+retag writer)"
    campaign_stats[key] = campaign_stats.get(key, 0) + 3 * SECONDS
