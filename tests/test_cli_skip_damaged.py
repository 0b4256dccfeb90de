"""`jobarchive counts` and `export` when a blob file is missing: the library can read the
others (counts(missing="skip")), and the command line must offer it and name it."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import EXIT_PROBLEMS, cli


def _result(n: int) -> dict:
    return {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
            "success": True, "results": [{"shots": n, "success": True, "header": {},
                                          "data": {"counts": {"0x0": n}}}]}


def _archive(tmp_path):
    path = tmp_path / "s.jobarchive"
    with Archive(path) as arc:
        for job_id in ("lost", "kept"):  # one blob file each
            arc.add({"job_id": job_id, "creation_date": "2021-05-04T11:35:02Z",
                     "status": "COMPLETED", "result": _result(10)})
        (lost,) = [p for p, in arc.index.conn.execute(
            "SELECT b.path FROM jobs j JOIN blobs b ON b.id = j.blob_id WHERE job_id = 'lost'")]
    (path / lost).unlink()
    return path


def _run(path, *args):
    return CliRunner().invoke(cli, ["--archive", str(path), *args])


def test_counts_names_its_own_option_and_skips_with_it(tmp_path):
    """The error said "pass missing='skip'", a Python argument no command takes."""
    path = _archive(tmp_path)
    res = _run(path, "counts", "lost", "kept")
    assert res.exit_code == 1
    assert "--skip-damaged" in res.stderr and "missing='skip'" not in res.stderr, res.stderr
    res = _run(path, "counts", "lost", "kept", "--skip-damaged", "--format", "csv")
    assert res.exit_code == EXIT_PROBLEMS, res.output
    assert "kept" in res.stdout and "lost" not in res.stdout
    assert "lost" in res.stderr, res.stderr


def test_export_skips_damaged_counts_when_asked(tmp_path):
    """export wrote jobs.parquet and then failed on the counts: no way to export the rest."""
    path = _archive(tmp_path)
    out = tmp_path / "out"
    res = _run(path, "export", str(out))
    assert res.exit_code == 1 and "--skip-damaged" in res.stderr, res.output
    res = _run(path, "export", str(out), "--skip-damaged")
    assert res.exit_code == EXIT_PROBLEMS, res.output
    assert list(pd.read_parquet(out / "counts.parquet")["job_id"]) == ["kept"]
    assert "lost" in res.stderr
