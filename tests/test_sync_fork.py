"""A provider carried across ``os.fork()`` (multiprocessing's default start method on Linux):
parent and children use it at once, against the emulator over real sockets."""

from __future__ import annotations

import os
import threading

import pytest

import jobarchive
from jobarchive.emulator import Emulator

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

ROUNDS = 40


def _check_jobs(client, job_ids: list[str]) -> int:
    """Read each job's document; the number whose answer was another job's, or an error."""
    wrong = 0
    for i in range(ROUNDS):
        job_id = job_ids[i % len(job_ids)]
        try:
            if client.job_get(job_id).get("id") != job_id:
                wrong += 1
        except Exception:  # noqa: BLE001 - a garbled or stolen answer counts as wrong
            wrong += 1
    return wrong


def test_a_provider_used_by_forked_children_and_the_parent_at_once():
    with Emulator(seed_jobs=30, seed=1, latency=0.002) as emu:
        provider = jobarchive.connect(emu.url, emu.token, timeout=5, max_retries=0)
        client = provider.api_client
        ids = [d["id"] for d in emu.job_docs()]
        client.job_get(ids[0])  # a keep-alive connection now sits in the pool
        pids = []
        for n in range(3):
            pid = os.fork()
            if pid == 0:  # the child: its own jobs, the same provider object
                code = 1
                try:
                    code = 0 if _check_jobs(client, ids[n::3]) == 0 else 1
                finally:
                    os._exit(code)
            pids.append(pid)
        wrong = _check_jobs(client, ids[1::2])
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        assert wrong == 0 and codes == [0, 0, 0], (wrong, codes)


def test_a_provider_forked_while_another_thread_holds_its_lock_works_in_the_child():
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, timeout=5)
        client = provider.api_client
        job_id = emu.job_docs()[0]["id"]
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            # A worker thread inside a request's bookkeeping at the moment of the fork.
            with client.transport._lock:
                held.set()
                release.wait(10)

        worker = threading.Thread(target=hold)
        worker.start()
        held.wait(10)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            ok = b"0"
            try:
                ok = b"1" if client.job_get(job_id)["id"] == job_id else b"0"
            finally:
                os.write(w, ok)
                os._exit(0)
        os.close(w)
        release.set()
        worker.join()
        # The child answers, or it hangs on a lock no thread of its own will release.
        ready = []
        waiter = threading.Thread(target=lambda: ready.append(os.read(r, 1)))
        waiter.daemon = True
        waiter.start()
        waiter.join(20)
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(r)
        assert ready == [b"1"]


def test_a_child_forked_during_a_sync_does_not_keep_the_archive_locked(tmp_path):
    from jobarchive import Archive

    with Emulator(seed_jobs=5, seed=1) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        held, release = threading.Event(), threading.Event()

        def sync_under_way() -> None:  # what arc.sync() holds from start to end
            with arc.lock():
                held.set()
                release.wait(10)

        worker = threading.Thread(target=sync_under_way)
        worker.start()
        held.wait(10)
        r, w = os.pipe()
        ready_r, ready_w = os.pipe()
        pid = os.fork()  # e.g. a multiprocessing pool started for an analysis meanwhile
        if pid == 0:
            try:
                os.close(w)
                os.write(ready_w, b"1")  # started (its at-fork handlers have run)
                os.read(r, 1)  # a long-lived worker: lives until the parent says so
            finally:
                os._exit(0)  # never back into pytest, whatever happened
        os.close(r)
        os.close(ready_w)
        try:
            assert os.read(ready_r, 1) == b"1"
            os.close(ready_r)
            release.set()
            worker.join()
            report = arc.sync(provider, progress=False)  # the earlier sync has ended
            assert report.discovered == 5
        finally:
            os.close(w)
            os.waitpid(pid, 0)
