"""Big payloads: results holding every shot's outcome (``memory=True``) are written in
batches bounded by their size, so a sync's memory does not grow with 200 of them."""

from __future__ import annotations

import json
import tracemalloc

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


def test_big_results_are_written_in_batches_bounded_by_their_bytes(tmp_path):
    with Emulator(seed_jobs=80, seed=2, memory_results=True) as emu, \
            Archive(tmp_path / "a") as arc:
        results = {d["id"]: emu.result_of(d["id"]) for d in emu.job_docs()}
        total = sum(len(json.dumps(r)) for r in results.values() if r is not None)
        assert total > 4_000_000  # ~70 results of ~80 KB JSON, ~10x that decoded
        provider = jobarchive.connect(emu.url, emu.token)
        tracemalloc.start()
        try:
            report = arc.sync(provider, progress=False, workers=4, batch_bytes=256 * 1024)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert report.discovered == 80 and not report.failed
        assert all(arc.record(j)["result"] == r for j, r in results.items())
        # Holding every result of the 80-job batch at once peaked near 60 MB.
        assert peak < 30_000_000, peak


def test_a_job_marked_gone_that_the_server_lists_again_gets_its_result(tmp_path):
    with Emulator(seed_jobs=30, seed=3) as emu, Archive(tmp_path / "a") as arc:
        done = [d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED"][-1]
        # The first sync cannot download any result; then the server answers "not found"
        # for the job for a while (a failover), and a sync records it gone.
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_result"]})
        arc.sync(jobarchive.connect(emu.url, emu.token, max_retries=0), progress=False,
                 give_up_after=1000)
        emu.set_faults(None)
        emu.delete_job(done)
        provider = jobarchive.connect(emu.url, emu.token)
        assert done in arc.sync(provider, progress=False).gone
        assert arc.record(done)["result"] is None
        emu.restore_job(done)  # the server lists and serves it again
        report = arc.sync(provider, progress=False, full=True)
        assert not report.failed and not report.gone
        assert arc.record(done)["result"] == emu.result_of(done)
        assert all(arc.record(d["id"])["result"] == emu.result_of(d["id"])
                   for d in emu.job_docs())


def test_a_full_sync_archives_a_job_listed_after_discovery_passed_its_date(tmp_path):
    with Emulator(seed_jobs=30, seed=4) as emu, Archive(tmp_path / "a") as arc:
        hidden = emu.job_docs()[3]["id"]
        emu.delete_job(hidden)  # not found while the first sync ran (a failover, say)
        provider = jobarchive.connect(emu.url, emu.token)
        assert arc.sync(provider, progress=False).discovered == 29
        emu.restore_job(hidden)  # listed again, three years before discovery's cursor
        assert arc.sync(provider, progress=False).discovered == 0
        report = arc.sync(provider, progress=False, full=True)
        assert report.discovered == 1 and not report.failed
        assert arc.record(hidden)["result"] == emu.result_of(hidden)


_KILLED_CHILD = """
import sys
import jobarchive
from jobarchive import Archive
path, url, token = sys.argv[1:4]
provider = jobarchive.connect(url, token)
with Archive(path) as arc:
    print("READY", flush=True)
    arc.sync(provider, progress=False, workers=4)
"""


def test_a_result_read_once_is_not_lost_to_a_kill_before_its_batch_is_written(tmp_path):
    # Some results can be read only once (reference §4.5): acknowledging a download before
    # the result is archived, then dying, loses it for good.
    import signal
    import subprocess
    import sys
    import time

    with Emulator(seed_jobs=30, seed=3, consume_results=True) as emu:
        # Results download at once; each job's qobj then waits 30 s: the batch is not
        # written yet when the sync is killed.
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 30, "seed": 1,
                        "endpoints": ["storage_qobj"]})
        path = tmp_path / "a"
        child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(path), emu.url,
                                  emu.token], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "READY"
            while emu.stats().get("storage_qobj", 0) < 4:  # four results downloaded
                time.sleep(0.02)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        emu.set_faults(None)
        with Archive(path) as arc:
            report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            assert not report.failed, report.failed
            for d in emu.job_docs():
                assert arc.record(d["id"])["result"] == emu.result_of(d["id"]), d["id"]
            # Acknowledged now that they are archived: the server let them go.
            done = [d["id"] for d in emu.job_docs() if emu.result_of(d["id"]) is not None]
            assert emu.stats()["job_result_downloaded"] >= len(done)
