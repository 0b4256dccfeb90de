"""``retag --remote`` plans from the tags the server holds now. A job whose answers carry
no tags list and no ``timePerStep`` (a lean document: the older server's, or one trimmed
by a front end) says nothing about its tags: planning from "no tags" would send a tag list
that wipes the job's tags on the server."""

from __future__ import annotations

import pytest
from test_syncsem_lean_refresh import LeanJobProxy

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def test_a_lean_answer_does_not_plan_from_no_tags(tmp_path):
    with Emulator(seed_jobs=6, seed=2, time_scale=1e-6, lean_lists=True,
                  lean_full_lists=True) as emu, \
            LeanJobProxy(emu.url) as proxy, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(proxy.url, emu.token)
        ids = [d["id"] for d in emu.job_docs()]
        for job_id in ids:
            emu.update_job(job_id, tags=["kept", f"t{job_id[-2:]}"])
        arc.sync(provider, progress=False)
        assert all("kept" in arc.get(j).tags() for j in ids)
        proxy.lean.update(ids)
        frame = arc.retag(ids, additional_tags=["paper"], provider=provider, progress=False,
                          read_server_tags=True)
        assert proxy.served_lean
        assert set(frame["outcome"]) == {"updated"}
        for job_id in ids:
            expected = sorted(["kept", f"t{job_id[-2:]}", "paper"])
            assert sorted(emu.job_doc(job_id).get("tags") or []) == expected, job_id
            assert sorted(arc.get(job_id).tags()) == expected, job_id
