"""A plain audit (and a report) of a large archive reads every record and hashes every blob (about a minute
for 10^6 jobs): with ``progress`` it shows bars for both, and finds the same as without."""

from __future__ import annotations

from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.audit import audit
from jobarchive.cli import cli

RESULT = {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
          "success": True, "results": [{"shots": 10, "success": True,
                                        "header": {"memory_slots": 2},
                                        "data": {"counts": {"0x3": 4, "0x1": 6}}}]}


def _archive(tmp_path):
    path = tmp_path / "p.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": "2021-05-04T11:35:02Z",
                       "status": "COMPLETED", "backend_name": "ibmq_lima",
                       **({"result": {**RESULT, "job_id": f"j{i}"}} if i % 2 else {})}
                      for i in range(6)])
    return path


def test_audit_shows_records_and_blob_bars_and_finds_the_same(tmp_path, capsys):
    with Archive(_archive(tmp_path)) as arc:
        quiet = audit(arc, progress=False)
        assert capsys.readouterr().err == ""
        shown = audit(arc, progress=True)
        err = capsys.readouterr().err
    assert "audit: records" in err and "/6 " in err, err  # over the jobs
    assert "audit: blobs" in err, err
    assert shown.drop(columns=["fidelity"]).equals(quiet.drop(columns=["fidelity"]))
    assert shown.attrs["summary"] == quiet.attrs["summary"]


def test_cli_audit_progress_without_reproduce(tmp_path):
    path = _archive(tmp_path)
    res = CliRunner().invoke(cli, ["--archive", str(path), "audit", "--progress"])
    assert res.exit_code == 0, res.output
    assert "audit: records" in res.stderr, res.stderr
    res = CliRunner().invoke(cli, ["--archive", str(path), "audit", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "audit: records" not in res.stderr


def test_report_progress_covers_the_run_time_pass(tmp_path, capsys):
    with Archive(_archive(tmp_path)) as arc:
        quiet = arc.report(tmp_path / "quiet.html", progress=False)
        assert capsys.readouterr().err == ""
        shown = arc.report(tmp_path / "shown.html", progress=True)
        err = capsys.readouterr().err
    assert "audit: records" in err and "report: run times" in err, err
    assert quiet.stat().st_size > 0 and shown.stat().st_size > 0
