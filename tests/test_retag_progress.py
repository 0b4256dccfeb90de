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


def _varied(tmp_path):
    arc = Archive(tmp_path / "v.jobarchive")
    arc.add_many([{"job_id": f"v{i}", "creation_date": "2021-05-04T11:35:02Z",
                   "status": "COMPLETED", "tags": [f"t{i % 5}", f"u{i % 3}"] + (["ibmq_jobset_x"]
                                                                                 if i % 4 == 0 else [])}
                  for i in range(30)])
    return arc


def test_undo_of_a_replace_restores_every_tag_set_reading_the_log_once(tmp_path, capsys,
                                                                       monkeypatch):
    """A --replace leaves one inverse per distinct tag set: undo runs one operation each,
    sharing the log it read (each read it whole: quadratic in the jobs), one bar for all."""
    from jobarchive.retag import UNDO_LOG

    with _varied(tmp_path) as arc:
        ids = [f"v{i}" for i in range(30)]
        before = {j: sorted(arc.record(j)["tags"]) for j in ids}
        arc.retag(ids, replacement_tags=["x"], progress=False)
        assert {tuple(sorted(arc.record(j)["tags"])) for j in ids} == {("x",), (
            "ibmq_jobset_x", "x")}
        reads = []
        real = arc.index.journal_get
        monkeypatch.setattr(arc.index, "journal_get",
                            lambda campaign: reads.append(campaign) or real(campaign))
        back = undo(arc, progress=True)
        assert back.attrs["summary"]["operations"] == 15
        assert back.attrs["summary"]["updated"] == 30
        assert {j: sorted(arc.record(j)["tags"]) for j in ids} == before
        assert reads.count(UNDO_LOG) <= 2, reads  # undo's own read, and its operations' one
        err = capsys.readouterr().err
        assert "undo:" in err and "retag:" not in err, err
        monkeypatch.undo()
        again = undo(arc, progress=False)  # undoing the undo redoes the replace
        assert again.attrs["summary"]["updated"] == 30
        assert {tuple(sorted(arc.record(j)["tags"])) for j in ids} == {("x",), (
            "ibmq_jobset_x", "x")}
        assert set(arc.index.journal_get(UNDO_LOG)) == set(ids)
