"""Undoing a bulk retag: `jobarchive retag --undo` (and ``jobarchive.retag.undo``) reverts the
archive's last retag run exactly, keeps tags jobs had before it, and works on the server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import jobarchive
from jobarchive import Archive
from jobarchive.cli import cli
from jobarchive.emulator import Emulator
from jobarchive.retag import undo


def _job(i: int, tags: list[str]) -> dict:
    return {"job_id": f"undo{i:020d}", "creation_date": f"2021-03-{1 + i % 28:02d}T10:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": tags}


TAGS = [["camp"], [], ["exp1"], ["exp1", "camp", "ibmq_jobset_s1"], ["other"]] * 40  # 200 jobs


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "undo.jobarchive"
    with Archive(p) as arc:
        arc.add_many([_job(i, t) for i, t in enumerate(TAGS)])
    return p


def _tags(path) -> dict[str, list[str]]:
    with Archive(path) as arc:
        df = arc.query()
    return {j: list(t) for j, t in zip(df["job_id"], df["tags"], strict=True)}


def _run(path, *args: str):
    res = CliRunner().invoke(cli, ["--archive", str(path), "retag", *args, "--no-progress"])
    assert res.exit_code == 0, res.output
    return res


def test_undo_reverts_the_last_run_and_keeps_tags_jobs_had_before(path):
    """A mistaken `--add camp` on every job: `--remove camp` would also strip the 80 jobs
    that carried it before; `--undo` takes it off only the 120 it was added to. It reverts
    the last run only (the `--remove exp1` before it stays), and a second undo redoes."""
    before = _tags(path)
    _run(path, "--all", "--remove", "other")
    after_first = _tags(path)
    _run(path, "--all", "--add", "camp")
    mistaken = _tags(path)
    res = _run(path, "--undo", "--dry-run", "--format", "json")
    plan = json.loads(res.stdout)
    assert len(plan) == 120 and all(row["removed"] == ["camp"] for row in plan)
    assert _tags(path) == mistaken  # a dry run writes nothing
    res = _run(path, "--undo")
    assert "120 selected, 120 updated" in res.stderr
    assert _tags(path) == after_first
    assert sum("camp" in t for t in _tags(path).values()) == 80  # those it had before
    assert _tags(path) != before  # the run before the last is not undone
    _run(path, "--undo")  # undoing the undo redoes
    assert _tags(path) == mistaken


def test_undo_of_a_selection_and_of_jobs_changed_since(path):
    with Archive(path) as arc:
        arc.retag(arc.query(), additional_tags=["x"], progress=False)
        ids = sorted(arc.query()["job_id"])
        moved = dict(_job(int(ids[0][4:]), TAGS[int(ids[0][4:])]))
        moved["tags"] = ["elsewhere"]  # a newer snapshot with other tags (a sync, an add)
        arc.add(moved)
        plan = undo(arc, ids[:10], dry_run=True, progress=False)
        assert sorted(plan["job_id"]) == ids[1:10]
        assert plan.attrs["summary"]["changed_since"] == 1
        done = undo(arc, None, progress=False)
        assert done.attrs["summary"]["updated"] == len(ids) - 1
        tags = {j: list(t) for j, t in zip(arc.query()["job_id"], arc.query()["tags"], strict=True)}
    assert tags[ids[0]] == ["elsewhere"]
    assert not any("x" in t for t in tags.values())


def test_undo_with_nothing_to_undo_says_so(path):
    res = CliRunner().invoke(cli, ["--archive", str(path), "retag", "--undo"])
    assert res.exit_code == 0 and "nothing to undo" in res.stderr
    res = CliRunner().invoke(cli, ["--archive", str(path), "retag", "--undo", "--add", "a"])
    assert res.exit_code == 2 and "--undo" in res.stderr


def test_remote_undo_restores_the_server_tags(tmp_path):
    with Emulator(seed_jobs=30, seed=4) as emu:
        arc_path = tmp_path / "remote.jobarchive"
        with Archive(arc_path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            ids = list(arc.query(status="DONE")["job_id"])
        before = {j: sorted(emu.job_doc(j).get("tags") or []) for j in ids}
        common = ["--url", emu.url, "--token", emu.token, "--remote"]
        _run(arc_path, "--status", "DONE", "--add", "campaign", "--remove", "exp1", *common)
        assert all("campaign" in (emu.job_doc(j).get("tags") or []) for j in ids)
        local = CliRunner().invoke(cli, ["--archive", str(arc_path), "retag", "--undo",
                                         "--dry-run"])
        assert local.exit_code == 0 and "Add --remote to undo it there too" in local.stderr
        res = _run(arc_path, "--undo", *common)
        assert "server and archive" in res.stderr and "Add --remote" not in res.stderr
        assert {j: sorted(emu.job_doc(j).get("tags") or []) for j in ids} == before
        assert {j: sorted(t) for j, t in _tags(arc_path).items() if j in before} == before


def test_an_undo_that_could_not_finish_resumes_and_a_newer_run_supersedes_it(path):
    """An undo refused because the archive is busy (refused before it plans: 376c577)
    changes nothing and the next `--undo` does it; once a new retag run changed tags,
    `--undo` means that run. (An undo stopped after it planned: the selective-resume test.)"""
    from jobarchive.exceptions import ArchiveLockedError

    _run(path, "--all", "--add", "camp")
    mistaken = _tags(path)
    with Archive(path) as arc, Archive(path) as other, other.lock():
        with pytest.raises(ArchiveLockedError):
            undo(arc, None, progress=False)
    assert _tags(path) == mistaken
    _run(path, "--undo")
    assert sum("camp" in t for t in _tags(path).values()) == 80
    _run(path, "--undo")  # redo
    assert _tags(path) == mistaken
    with Archive(path) as arc, Archive(path) as other, other.lock():
        with pytest.raises(ArchiveLockedError):
            undo(arc, None, progress=False)  # refused again: nothing planned, nothing changed
    _run(path, "--all", "--add", "later")
    _run(path, "--undo")  # reverts `--add later`, not the stale plan
    tags = _tags(path)
    assert not any("later" in t for t in tags.values())
    assert tags == mistaken


def test_remote_dry_run_shows_progress_while_it_reads_the_server_tags(tmp_path):
    """A --remote dry run reads the server's tags, 100 jobs a request: silent for minutes
    on thousands of jobs. It shows a bar when asked (on a terminal by default)."""
    with Emulator(seed_jobs=30, seed=4) as emu:
        arc_path = tmp_path / "p.jobarchive"
        with Archive(arc_path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        args = ["--archive", str(arc_path), "retag", "--all", "--add", "x", "--dry-run",
                "--remote", "--url", emu.url, "--token", emu.token]
        shown = CliRunner().invoke(cli, [*args, "--progress"])
        assert shown.exit_code == 0 and "read server tags" in shown.stderr, shown.output
        quiet = CliRunner().invoke(cli, [*args, "--no-progress"])
        assert quiet.exit_code == 0 and "read server tags" not in quiet.stderr


def test_a_selective_resume_of_an_interrupted_undo_keeps_the_rest_of_its_plan(path, monkeypatch):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    _run(path, "--all", "--add", "camp")
    with Archive(path) as arc:
        monkeypatch.setattr(arc, "add_many", ctrl_c)  # Ctrl-C once it planned, at its write
        with pytest.raises(KeyboardInterrupt):
            undo(arc, None, progress=False)
    first = _job(1, TAGS[1])["job_id"]  # no tags before: camp was added
    assert "camp" in _tags(path)[first]
    _run(path, first, "--undo")  # only that job of the stopped undo
    assert "camp" not in _tags(path)[first]
    _run(path, "--undo")  # the rest of the plan, not a redo of that one job
    assert sum("camp" in t for t in _tags(path).values()) == 80
