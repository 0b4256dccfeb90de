"""A sync interrupted (Ctrl-C) and resumed: real subprocesses, signals, the emulator."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

_SYNC_CHILD = """
import sys
import jobarchive
from jobarchive import Archive
provider = jobarchive.connect(sys.argv[2], sys.argv[3])
with Archive(sys.argv[1]) as arc:
    print("READY", flush=True)
    try:
        arc.sync(provider, progress=False, workers=4, batch_size=10, page_size=10)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
"""


def test_ctrl_c_while_listing_does_not_wait_for_acknowledgements_under_way(tmp_path, interrupt_after):
    # Results are acknowledged on the worker pool after each batch is archived, while the
    # sync lists the next page. The server rate limits the acknowledgements ("retry in
    # 30 s"): Ctrl-C while the next page is listed must end the sync now, not after each
    # acknowledgement's retry ladder. A re-run finishes the work.
    with Emulator(seed_jobs=40, seed=3, latency=0.5) as emu:
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 30, "seed": 1,
                        "endpoints": ["job_result_downloaded"]})
        path = tmp_path / "a"
        child = subprocess.Popen([sys.executable, "-c", _SYNC_CHILD, str(path), emu.url,
                                  emu.token], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "READY"
            # The first page's four acknowledgements and the second page's listing have
            # reached the server (requests are counted before the latency).
            stats, (out, _) = interrupt_after(child, emu, job_result_downloaded=4, jobs_list_v1=2)
            acks = stats["job_result_downloaded"]
        finally:
            child.kill()
        assert "INTERRUPTED" in out
        # No acknowledgement sent, nor retried, after Ctrl-C (the old code retried each
        # after its 30 s wait, and sent those not started yet).
        assert emu.stats()["job_result_downloaded"] == acks
        emu.set_faults(None)
        emu.set_latency(0)
        with Archive(path) as arc:
            report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            assert not report.failed and len(arc) == 40
            assert all(arc.record(d["id"])["result"] == emu.result_of(d["id"])
                       for d in emu.job_docs())
