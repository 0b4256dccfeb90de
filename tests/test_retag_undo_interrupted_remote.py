"""A remote undo of a --replace (an inverse per tag set) stopped with Ctrl-C while its PUTs
were on the server, then run again: it finishes, server and archive hold every job's tags
from before the replace, and undoing once more redoes the whole replace."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.retag import undo

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

_CLI = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


def test_ctrl_c_during_a_remote_undo_of_a_replace_then_resume(tmp_path, interrupt_after):
    with Emulator(seed_jobs=60, seed=8, latency=0.01) as emu:
        path = tmp_path / "u"
        provider = jobarchive.connect(emu.url, emu.token)
        with Archive(path) as arc:
            arc.sync(provider, progress=False)
            ids = list(arc.query(descending=False)["job_id"])
            for i, job_id in enumerate(ids):  # a tag set each
                emu.update_job(job_id, tags=[f"t{i}", "shared"] if i % 4 else [])
            arc.sync(provider, full=True, progress=False)
            before = {j: set(emu.job_doc(j).get("tags") or []) for j in ids}
            arc.retag(ids, replacement_tags=["new"], provider=provider, progress=False)
        emu.reset_stats()
        proc = subprocess.Popen([*_CLI, "--archive", str(path), "retag", "--undo", "--remote",
                                 "--url", emu.url, "--token", emu.token, "--workers", "1",
                                 "--no-progress"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, (_, err) = interrupt_after(proc, emu, job_update=10)
        assert "interrupted" in err.lower(), err
        reverted = [j for j in ids if set(emu.job_doc(j).get("tags") or []) == before[j]]
        assert 10 <= len(reverted) < len(ids)
        with Archive(path) as arc:
            back = undo(arc, provider=provider, progress=False, read_server_tags=True)
            assert (back["outcome"] != "refused").all()
            for job_id in ids:
                assert set(emu.job_doc(job_id).get("tags") or []) == before[job_id], job_id
                assert set(arc.get(job_id).tags()) == before[job_id], job_id
            again = undo(arc, provider=provider, progress=False, read_server_tags=True)
            assert again.attrs["summary"]["jobs"] == len(ids)
            for job_id in ids:
                assert set(emu.job_doc(job_id).get("tags") or []) == {"new"}, job_id
                assert set(arc.get(job_id).tags()) == {"new"}, job_id
            assert arc.index.tag_count_mismatches() == []
