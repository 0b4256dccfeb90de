"""Undoing a --replace of thousands of jobs, which leaves about one inverse per distinct
tag set: the undo writes a transaction per batch of jobs, not one (or more) per tag set,
and on the server its PUTs are not limited to the few jobs that share one inverse."""

from __future__ import annotations

import random

import pytest
from retag_child import make_jobs

import jobarchive
from jobarchive import Archive
from jobarchive.retag import undo

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def _count_transactions(arc: Archive) -> list[str]:
    """Every write transaction the index begins on this thread (where retag writes)."""
    begun: list[str] = []
    arc.index.conn.set_trace_callback(
        lambda sql: begun.append(sql) if sql.startswith("BEGIN") else None)
    return begun


def test_undo_of_a_replace_of_5000_jobs_commits_a_few_transactions(tmp_path):
    rng = random.Random(4)
    jobs = make_jobs(5000, seed=8, payloads=False)
    pool = [f"t{i}" for i in range(12)]
    for job in jobs:
        job["tags"] = rng.sample(pool, rng.randint(0, 5))
    before = {j["job_id"]: set(j["tags"]) for j in jobs}
    with Archive(tmp_path / "a") as arc:
        arc.add_many(jobs)
        ids = list(before)
        arc.retag(ids, replacement_tags=["new"], progress=False)
        begun = _count_transactions(arc)
        back = undo(arc, progress=False)
        arc.index.conn.set_trace_callback(None)
        assert back.attrs["summary"]["operations"] > 1000  # distinct inverses
        assert back.attrs["summary"]["updated"] == 5000
        # 3 transactions: the undo's plan, its tags (with the undo log), the plan dropped
        assert len(begun) <= 5, len(begun)
        assert {j: set(arc.get(j).tags()) for j in ids} == before
        assert arc.index.tag_count_mismatches() == []


def test_remote_undo_of_a_replace_reverts_every_tag_set_on_server_and_archive(tmp_path):
    with Emulator(seed_jobs=40, seed=9) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        for i, job_id in enumerate(ids):  # a tag set each
            emu.update_job(job_id, tags=[f"run-{i}", "shared"] if i % 3 else [])
        arc.sync(provider, full=True, progress=False)
        before = {j: set(emu.job_doc(j).get("tags") or []) for j in ids}
        assert {j: set(arc.get(j).tags()) for j in ids} == before
        arc.retag(ids, replacement_tags=["new"], provider=provider, progress=False)
        assert all(set(emu.job_doc(j).get("tags") or []) == {"new"} for j in ids)
        begun = _count_transactions(arc)
        back = undo(arc, provider=provider, progress=False, batch_size=500)
        arc.index.conn.set_trace_callback(None)
        assert back.attrs["summary"]["updated"] == len(ids)
        assert back.attrs["summary"]["sent"] == len(ids)
        assert len(begun) <= 8, len(begun)
        for job_id in ids:
            assert set(emu.job_doc(job_id).get("tags") or []) == before[job_id], job_id
            assert set(arc.get(job_id).tags()) == before[job_id], job_id
        assert arc.audit()["ok"].all()
