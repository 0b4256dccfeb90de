"""`jobarchive export lab.jobarchive/blobs` (or `ls -o lab.jobarchive/blobs/jobs.parquet`):
the files went into the archive's blob directory, where `audit` counts them as orphan blobs
and says "harmless; `jobarchive audit --repair` removes them", and the repair deleted the
researcher's export. `backup` refuses a destination inside the archive; `export` and
`--output` now do too, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import run  # the CLI runner of the CLI tests

from jobarchive import Archive


@pytest.fixture
def arc_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": "2021-03-01T00:00:00Z",
                       "status": "COMPLETED", "backend_name": "ibmq_athens",
                       "result": {"results": [{"shots": 10, "header": {"memory_slots": 1},
                                               "data": {"counts": {"0x0": 4, "0x1": 6}}}]}}
                      for i in range(3)])
    return path


def _files(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.mark.parametrize("args", [["export", "{a}/blobs"], ["export", "{a}"],
                                  ["export", "{a}/blobs/out"],
                                  ["ls", "--format", "parquet", "-o", "{a}/blobs/jobs.parquet"],
                                  ["counts", "j1", "--format", "csv", "-o", "{a}/counts.csv"]],
                         ids=lambda a: " ".join(a))
def test_output_inside_the_archive_is_refused(arc_path, args):
    before = _files(arc_path)
    res = run(*[a.format(a=arc_path) for a in args], archive=arc_path)
    assert res.exit_code == 1, (res.stdout, res.stderr)
    assert "inside the archive" in res.stderr or "is the archive" in res.stderr, res.stderr
    assert _files(arc_path) == before


def test_export_beside_the_archive_works_and_the_audit_stays_clean(arc_path, tmp_path):
    res = run("export", str(tmp_path / "out"), archive=arc_path)
    assert res.exit_code == 0, res.stderr
    with Archive(arc_path) as arc:
        assert not arc.audit().attrs["orphans"]
