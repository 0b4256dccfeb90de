"""Retag of many jobs first reads every selected record (a third of a local run): with
``progress`` that step has a bar too, in runs, dry runs and undo; the outcome is the same."""

from __future__ import annotations

from jobarchive import Archive
from jobarchive.retag import undo


def _archive(tmp_path):
    arc = Archive(tmp_path / "r.jobarchive")
    arc.add_many([{"job_id": f"j{i}", "creation_date": "2021-05-04T11:35:02Z",
                   "status": "COMPLETED", "tags": ["a"] if i % 2 else []} for i in range(7)])
    return arc


def test_retag_reading_step_shows_a_bar(tmp_path, capsys):
    with _archive(tmp_path) as arc:
        ids = [f"j{i}" for i in range(7)]
        plan = arc.retag(ids, additional_tags=["b"], dry_run=True, progress=True)
        assert "retag: read tags" in capsys.readouterr().err
        assert plan.attrs["summary"] == {"jobs": 7, "would_change": 7}
        done = arc.retag(ids, additional_tags=["b"], progress=True)
        assert "retag: read tags" in capsys.readouterr().err
        assert done.attrs["summary"]["updated"] == 7
        assert all("b" in arc.record(j)["tags"] for j in ids)
        back = undo(arc, progress=True)
        assert "undo: read tags" in capsys.readouterr().err
        assert back.attrs["summary"]["updated"] == 7
        assert [arc.record(j)["tags"] for j in ids] == [["a"] if i % 2 else [] for i in range(7)]


def test_retag_without_progress_is_silent(tmp_path, capsys):
    with _archive(tmp_path) as arc:
        arc.retag(["j1", "j2"], removal_tags=["a"], progress=False)
        undo(arc, progress=False)
        assert capsys.readouterr().err == ""
        assert arc.record("j1")["tags"] == ["a"]
