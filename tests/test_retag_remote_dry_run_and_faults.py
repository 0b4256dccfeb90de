"""retag --remote against the emulator: a dry run changes nothing anywhere and plans exactly
what the real run then does; a run that partly fails on the server (dropped answers, 5xx,
429) and its undo, and the undo of that undo, leave server and archive as a set model says."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.exceptions import RequestsApiError
from jobarchive.retag import undo

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

OP = (None, ["campaign, 7", "Ünïcode tag"], ["exp1", "campaign, 7 "])


def _snapshot(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def _server(emu, ids) -> dict[str, set[str]]:
    return {j: set(emu.job_doc(j).get("tags") or []) for j in ids}


def _model(tags: set[str]) -> set[str]:
    return (tags | set(OP[1])) - set(OP[2])


def test_dry_run_changes_nothing_and_plans_what_the_run_does(tmp_path):
    with Emulator(seed_jobs=30, seed=12) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        for i, job_id in enumerate(ids[:10]):  # changed on the server since the last sync
            emu.update_job(job_id, tags=[f"colleague-{i}", "exp1"] if i % 2 else [])
        emu.update_job(ids[10], tags=list(_model(_server(emu, ids[10:11])[ids[10]])))
        server_before = _server(emu, ids)
        files, events = _snapshot(arc.path), arc.index.events()
        emu.reset_stats()
        plan = arc.retag(ids, *OP, provider=provider, dry_run=True, read_server_tags=True,
                         progress=False)
        assert emu.stats().get("job_update", 0) == 0
        assert _server(emu, ids) == server_before
        assert _snapshot(arc.path) == files and arc.index.events() == events
        planned = {r.job_id: set(r.new_tags) for r in plan.itertuples()}
        assert planned == {j: _model(server_before[j]) for j in ids}
        would = {r.job_id for r in plan.itertuples()
                 if set(r.new_tags) != set(r.server_tags) or set(r.new_tags) != set(r.old_tags)}
        assert plan.attrs["summary"]["would_change"] == len(would)

        emu.reset_stats()
        done = arc.retag(ids, *OP, provider=provider, read_server_tags=True, progress=False)
        assert {r.job_id for r in done.itertuples() if r.outcome == "updated"} == would
        assert {r.job_id: set(r.new_tags) for r in done.itertuples()} == planned
        assert emu.stats().get("job_update", 0) == done.attrs["summary"]["sent"]
        assert _server(emu, ids) == planned
        assert {j: set(arc.get(j).tags()) for j in ids} == planned


def test_partly_failed_run_then_undo_then_redo(tmp_path):
    with Emulator(seed_jobs=40, seed=13) as emu, Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        arc.sync(provider, progress=False)
        ids = list(arc.query(descending=False)["job_id"])
        before = _server(emu, ids)
        emu.set_faults({"rate": 0.3, "kinds": ["drop", "500", "429"], "retry_after": 0,
                        "seed": 4})
        try:
            first = arc.retag(ids, *OP, provider=provider,
                              progress=False, workers=2)
            assert first.attrs["summary"]["refused"] > 0  # the faults hit some jobs
        except RequestsApiError:  # taken for a dead server: stopped early, also partial
            pass
        emu.set_faults(None)
        # What each job holds now: the change, or not, whatever the archive heard.
        assert all(_server(emu, [j])[j] in (before[j], _model(before[j])) for j in ids)

        back = undo(arc, provider=provider, read_server_tags=True, progress=False)
        assert back.attrs["summary"]["refused"] == 0
        assert _server(emu, ids) == before
        assert {j: set(arc.get(j).tags()) for j in ids} == before

        again = undo(arc, provider=provider, read_server_tags=True, progress=False)
        redone = {j for j, tags in _server(emu, ids).items() if tags != before[j]}
        assert again.attrs["summary"]["refused"] == 0
        # The redo brings back what the undo reverted, on server and archive alike.
        assert redone and all(_server(emu, [j])[j] == _model(before[j]) for j in redone)
        assert {j: set(arc.get(j).tags()) for j in ids} == _server(emu, ids)
        assert arc.index.tag_count_mismatches() == []
