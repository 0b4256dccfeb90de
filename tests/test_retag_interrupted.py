"""A remote retag interrupted (Ctrl-C) and resumed: real subprocesses, signals, the emulator."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

_RETAG_CHILD = """
import sys
import jobarchive
from jobarchive import Archive
provider = jobarchive.connect(sys.argv[2], sys.argv[3])
with Archive(sys.argv[1]) as arc:
    ids = list(arc.query(descending=False)["job_id"])
    print("READY", flush=True)
    try:
        arc.retag(ids, additional_tags=["ctrl-c"], provider=provider, progress=False,
                  workers=4, batch_size=20)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
"""


def test_ctrl_c_stops_the_puts_under_way_without_sitting_out_their_retries(
        tmp_path, count_tag_updates, interrupt_after):
    # Every tag PUT answers 429 "retry in 30 s": the four workers wait. Ctrl-C must end the
    # retag now (no further PUT), not after each worker's 5 x 30 s retry ladder; a re-run
    # then sends each change once.
    with Emulator(seed_jobs=40, seed=3) as emu:
        path = tmp_path / "a"
        with Archive(path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        applied = count_tag_updates(emu)
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 30, "seed": 1,
                        "endpoints": ["job_update"]})
        child = subprocess.Popen([sys.executable, "-c", _RETAG_CHILD, str(path), emu.url,
                                  emu.token], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "READY"
            # all four workers are waiting (the old code took 150 s after Ctrl-C)
            stats, (out, _) = interrupt_after(child, emu, job_update=4)
            asked = stats["job_update"]
        finally:
            child.kill()
        assert "INTERRUPTED" in out
        assert emu.stats()["job_update"] == asked  # no PUT, and no retry, after Ctrl-C
        assert applied == {}
        emu.set_faults(None)
        with Archive(path) as arc:
            frame = arc.retag(list(arc.query()["job_id"]), additional_tags=["ctrl-c"],
                              provider=jobarchive.connect(emu.url, emu.token), progress=False)
            assert (frame["outcome"] == "updated").all()
            for doc in emu.job_docs():
                assert "ctrl-c" in arc.get(doc["id"]).tags() and "ctrl-c" in doc["tags"]
        assert set(applied.values()) == {1} and len(applied) == 40


_CLI_RETAG = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


def test_undo_after_ctrl_c_reverts_the_interrupted_run_on_the_server_not_the_run_before(
        tmp_path, interrupt_after):
    # `--add good` ran to its end; a colleague tagged every job on the server; then `--add
    # oops` was stopped with Ctrl-C while its first batch was on the server (its PUTs landed,
    # none recorded in the archive yet). The user's `retag --undo --remote` must take `oops`
    # off the server, and keep `good` and the colleague's tag.
    with Emulator(seed_jobs=60, seed=5, latency=0.01) as emu:
        path = tmp_path / "u"
        provider = jobarchive.connect(emu.url, emu.token)
        with Archive(path) as arc:
            arc.sync(provider, progress=False)
            ids = list(arc.query(descending=False)["job_id"])
            arc.retag(ids, additional_tags=["good"], provider=provider, progress=False)
        for job_id in ids:
            emu.update_job(job_id, tags=[*emu.job_doc(job_id)["tags"], "colleague"])
        emu.reset_stats()
        argv = [*_CLI_RETAG, "--archive", str(path), "retag", "--all", "--add", "oops",
                "--remote", "--url", emu.url, "--token", emu.token, "--workers", "1",
                "--no-progress"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        _, (_, err) = interrupt_after(proc, emu, job_update=10)
        assert "interrupted" in err.lower(), err
        on_server = [j for j in ids if "oops" in (emu.job_doc(j).get("tags") or [])]
        assert 10 <= len(on_server) < len(ids)
        with Archive(path) as arc:
            frame = jobarchive.retag.undo(arc, provider=provider, progress=False,
                                          read_server_tags=True)
            assert (frame["outcome"] != "refused").all()
            for job_id in ids:
                server = emu.job_doc(job_id).get("tags") or []
                assert "oops" not in server and {"good", "colleague"} <= set(server), job_id
                assert sorted(arc.get(job_id).tags()) == sorted(server), job_id
